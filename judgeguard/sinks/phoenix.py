"""The Phoenix sink: each finished check as span annotations on its judge span in Arize Phoenix.

``Phoenix(endpoint=...)`` is an ``on_result`` callable. Each check becomes two span
annotations on the judge call's span (``check.span_id``), annotator kind ``LLM``:

* ``rationale_consistency``: label = the check's status, score = R_rationale, explanation =
  the MetaJudge's explanation (the error, redacted, when the check failed);
* ``gated_reward``: score = the gated reward, label ``ok`` / ``needs_review`` (the status
  when the check gave no reward);

both with ``metadata`` ``{metajudge_model, cached, reason, verdict, supported, ...}``. One
``POST {endpoint}/v1/span_annotations`` per batch, through Phoenix's REST API. By default
Phoenix takes the batch into its own queue (``sync=False``, Phoenix's default): an
annotation that arrives before its span is kept and attached when the span is ingested
(Phoenix retries it every 10 s for 10 minutes), so a check never waits for the span
exporter. ``sync=True`` asks Phoenix to write at once and to answer 404 for spans it does not
have yet; the sink then retries the batch.

Checks without a ``span_id`` (no tracing configured) cannot be annotated: they are counted
(``judgeguard.sink.items`` outcome ``skipped``, and ``sink.counts``), logged once,
and not posted. Audit lines get a small trace of their own, exported over OTLP/HTTP to
``{endpoint}/v1/traces`` into ``project_name``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from judgeguard.errors import safe_str
from judgeguard.schema import Check
from judgeguard.scrub import clean_text, redact_secrets
from judgeguard.sinks.base import (
    Sink,
    SinkError,
    SinkItem,
    TransientSinkError,
    retry_after_seconds,
    text_for_tool,
)

if TYPE_CHECKING:
    import requests
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["Phoenix"]

log = logging.getLogger("judgeguard")

#: The annotation names (the issue's contract; Phoenix shows them as columns and filters).
RATIONALE_CONSISTENCY = "rationale_consistency"
GATED_REWARD = "gated_reward"
#: The OTLP resource attribute Phoenix files spans under (OpenInference).
PROJECT_NAME_ATTRIBUTE = "openinference.project.name"
#: Statuses worth a retry: rate limited, and the server's transient failures.
_TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class Phoenix(Sink):
    """Posts each finished check as span annotations on its judge span in Phoenix.

    ``endpoint`` is the Phoenix server's base URL (``http://127.0.0.1:6006``; a collector
    URL ending in ``/v1/traces`` is accepted too). ``project_name`` (default:
    ``$PHOENIX_PROJECT_NAME``, else ``default``) is the project audit lines' traces go to
    (live judge spans go wherever your own OTel provider sends them).
    ``api_key`` (default: ``$PHOENIX_API_KEY``) is sent as ``Authorization: Bearer``;
    ``headers`` are added to every request. ``explanations=False`` leaves the MetaJudge's
    explanation out of the annotations (it may quote the judged content). ``sync=True``
    makes Phoenix write each batch before answering (404 for spans not ingested yet: retried).
    Other keyword arguments are the base's (``batch_size``, ``flush_interval``,
    ``max_queue``, ``max_attempts``, ``timeout``).
    """

    name: ClassVar[str] = "phoenix"
    needs_span_ids: ClassVar[bool] = True

    def __init__(
        self,
        endpoint: str = "http://127.0.0.1:6006",
        project_name: str | None = None,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        explanations: bool = True,
        sync: bool = False,
        **sink_options: Any,
    ) -> None:
        try:
            import requests  # imported here, in the caller's thread: the poster never imports
        except ImportError as exc:  # pragma: no cover - requests comes with the sinks extra
            raise SinkError(
                "judgeguard.sinks.Phoenix needs requests: pip install 'judgeguard[sinks]'"
            ) from exc
        self.endpoint = _base_url(endpoint)
        if project_name is None:
            project_name = os.environ.get("PHOENIX_PROJECT_NAME") or "default"
        if not project_name or not isinstance(project_name, str):
            raise SinkError(
                f"Phoenix project_name must be a non-empty string, not {project_name!r}"
            )
        self.project_name = project_name
        self.explanations = explanations
        self.sync = sync
        api_key = api_key if api_key is not None else os.environ.get("PHOENIX_API_KEY")
        self._secrets = tuple(v for v in (api_key, *(headers or {}).values()) if v)
        self._headers: dict[str, str] = dict(headers or {})
        if api_key and not any(k.lower() == "authorization" for k in self._headers):
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._requests = requests
        self._session: requests.Session = requests.Session()
        self._session.headers.update(self._headers)
        super().__init__(**sink_options)

    def __repr__(self) -> str:
        return f"Phoenix(endpoint={self.endpoint!r}, project_name={self.project_name!r})"

    # -- the caller's side ----------------------------------------------------------------
    def close(self, timeout: float | None = None) -> int:
        """Post what is queued, stop, and release the HTTP connections."""
        left = super().close(timeout)
        self._session.close()
        return left

    # -- the poster thread ----------------------------------------------------------------
    def post(self, items: Sequence[SinkItem]) -> None:
        """Post one batch as one ``POST /v1/span_annotations`` request.

        429, 408, 5xx, timeouts and connection errors raise :class:`TransientSinkError`
        (``Retry-After`` honoured), as does 404 with ``sync=True`` (the spans may still be
        on their way); any other refusal raises :class:`SinkError` (the batch is counted
        as failed). Re-posting a batch is harmless: Phoenix upserts an annotation on
        (span, name, identifier).
        """
        data = [a for item in items for a in self.annotations(item.check)]
        if not data:
            return
        url = f"{self.endpoint}/v1/span_annotations"
        try:
            response = self._session.post(
                url,
                json={"data": data},
                params={"sync": "true"} if self.sync else None,
                timeout=self.timeout,
            )
        except self._requests.RequestException as exc:  # connection refused, timeout, reset
            why = self._redact(f"{type(exc).__name__}: {safe_str(exc)}")
            raise TransientSinkError(f"Phoenix at {self.endpoint}: {why}") from None
        status = response.status_code
        if status < 300:
            return
        text = self._redact(_body_text(response))
        if status in _TRANSIENT_STATUSES or (status == 404 and self.sync):
            raise TransientSinkError(
                f"Phoenix answered {status} to {len(data)} annotation(s): {text}",
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        raise SinkError(f"Phoenix refused {len(data)} annotation(s) with {status}: {text}")

    def annotations(self, check: Check) -> list[dict[str, Any]]:
        """The two span annotations (``rationale_consistency``, ``gated_reward``) of one
        check, as Phoenix's REST API takes them."""
        metadata: dict[str, Any] = {
            "metajudge_model": check.metajudge_model,
            "cached": check.cached,
            "reason": check.reason,
            "verdict": check.verdict.render() if check.verdict is not None else None,
            "supported": check.supported.render() if check.supported is not None else None,
            "r_outcome": check.r_outcome,
            "needs_review": check.needs_review,
            "evaluator_span_id": check.evaluator_span_id,
        }
        if check.probabilities:
            metadata["probabilities"] = dict(check.probabilities)
        explanation = None
        if self.explanations:
            explanation = check.explanation or (
                redact_secrets(safe_str(check.error)) if check.error else None
            )
            if explanation is not None:
                explanation = text_for_tool(explanation)
        if check.reward is not None:
            reward_label = "needs_review" if check.needs_review else "ok"
        else:
            reward_label = check.status
        common = {"span_id": check.span_id, "annotator_kind": "LLM", "metadata": metadata}
        return [
            {
                **common,
                "name": RATIONALE_CONSISTENCY,
                "result": {
                    "label": check.status,
                    "score": check.r_rationale,
                    "explanation": explanation,
                },
            },
            {
                **common,
                "name": GATED_REWARD,
                "result": {"label": reward_label, "score": check.reward, "explanation": None},
            },
        ]

    # -- audit lines ----------------------------------------------------------------------
    def span_exporter(self) -> SpanExporter:
        """An OTLP/HTTP exporter to ``{endpoint}/v1/traces``, filing spans under
        ``project_name`` (the ``x-project-name`` header Phoenix reads before the resource's
        ``openinference.project.name``)."""
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise SinkError(
                "tracing audit lines to Phoenix needs the OTLP/HTTP exporter: "
                "pip install 'judgeguard[sinks]'"
            ) from exc
        return OTLPSpanExporter(
            endpoint=f"{self.endpoint}/v1/traces",
            headers={**self._headers, "x-project-name": self.project_name},
            timeout=self.timeout,
        )

    def resource_attributes(self) -> dict[str, str]:
        """The OTLP resource attributes that file spans under ``project_name`` in Phoenix:
        pass them to your own ``TracerProvider(resource=Resource.create(...))``."""
        return {PROJECT_NAME_ATTRIBUTE: self.project_name}

    # -- internals ------------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        """``text`` cut short, credentials (and this sink's own key and headers) redacted."""
        return redact_secrets(clean_text(text[:300]), self._secrets)


def _base_url(endpoint: str) -> str:
    """The server's base URL: ``http(s)://host[:port][/prefix]``, without a trailing slash
    or a collector path (``/v1/traces``)."""
    if not isinstance(endpoint, str):
        raise SinkError(f"Phoenix endpoint must be a URL string, not {type(endpoint).__name__}")
    url = endpoint.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SinkError(
            f"Phoenix endpoint {endpoint!r} is not an http(s) URL "
            "(expected e.g. http://127.0.0.1:6006)"
        )
    for suffix in ("/v1/traces", "/v1"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
            break
    return url


def _body_text(response: requests.Response) -> str:
    """The start of an error answer's body (never raises)."""
    try:
        return str(response.text[:300])
    except Exception:
        return ""
