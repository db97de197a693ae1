"""The MLflow sink: each finished check as feedback assessments on the judge's trace.

Spans reach MLflow through its OTLP/HTTP endpoint (``{tracking_uri}/v1/traces``, header
``x-mlflow-experiment-id``), which stores an OTel trace ``t`` as the MLflow trace
``tr-<t in hex>``. The sink then posts two feedback assessments per check through MLflow's
REST API (``POST /api/3.0/mlflow/traces/{trace_id}/assessments``), on the judge span:

* ``rationale_consistency``: value R_rationale, rationale = the MetaJudge's explanation;
* ``gated_reward``: value = the gated reward R_rationale x R_outcome;

both with source ``LLM_JUDGE`` / the MetaJudge model. A check that did not succeed posts
them as feedback errors (MLflow shows those too), so failures are visible where people look.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

from judgeguard import semconv as sc
from judgeguard._version import __version__
from judgeguard.errors import safe_str
from judgeguard.schema import Check
from judgeguard.sinks.base import (
    Sink,
    SinkError,
    SinkItem,
    TransientSinkError,
    retry_after_seconds,
    text_for_tool,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["MLflow"]

#: The header MLflow's OTLP endpoint reads to know which experiment a trace belongs to.
EXPERIMENT_HEADER = "x-mlflow-experiment-id"
#: MLflow's OTLP/HTTP traces path, under the tracking URI.
OTLP_PATH = "/v1/traces"
#: MLflow REST API: create an assessment on a trace (``{trace_id}``: ``tr-<hex>``).
ASSESSMENTS_PATH = "/api/3.0/mlflow/traces/{trace_id}/assessments"
#: Seconds to wait before asking again when the trace is not in MLflow yet: OTel's batch
#: span processor exports every 5 s by default, so four waits cover one export and more.
NOT_INGESTED_RETRY_AFTER = 2.5


class MLflow(Sink):
    """Posts each finished check as MLflow feedback on the judge's trace and span.

    ``tracking_uri`` is the MLflow tracking server (``http://127.0.0.1:5000``),
    ``experiment_id`` the experiment the traces go to (default: ``?experiment_id=N`` in the
    URI, as ``--sink mlflow=URI`` allows, else ``$MLFLOW_EXPERIMENT_ID``, else ``"0"``, the
    Default experiment), ``headers`` extra HTTP headers for
    both the REST API and the OTLP exporter (e.g. ``{"Authorization": "Bearer ..."}``;
    default: from MLflow's ``MLFLOW_TRACKING_TOKEN`` or ``MLFLOW_TRACKING_USERNAME`` and
    ``MLFLOW_TRACKING_PASSWORD``).
    Other options (``batch_size``, ``flush_interval``, ``max_queue``, ``max_attempts``,
    ``timeout``) go to :class:`judgeguard.sinks.base.Sink`.

    The judge's spans must reach the same server: add ``sink.span_processor()`` to your
    tracer provider (or ``BatchSpanProcessor(sink.span_exporter())``, then flush the
    provider before the sink, e.g. before exit). A check whose
    trace is not there yet is retried (export is asynchronous); a check without a trace
    id (no tracing when the judge ran) is counted as ``skipped``, with one warning.
    """

    name: ClassVar[str] = "mlflow"
    needs_span_ids: ClassVar[bool] = True

    def __init__(
        self,
        tracking_uri: str = "http://127.0.0.1:5000",
        experiment_id: str | int | None = None,
        headers: Mapping[str, str] | None = None,
        **sink_options: Any,
    ) -> None:
        parts = urlsplit(safe_str(tracking_uri).strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SinkError(
                f"MLflow tracking_uri {tracking_uri!r}: expected an http(s) URL of a tracking "
                "server, such as http://127.0.0.1:5000"
            )
        query = parse_qs(parts.query)
        in_uri = query.pop("experiment_id", [None])[-1]
        if query or parts.fragment:
            raise SinkError(
                f"MLflow tracking_uri {tracking_uri!r}: the only query parameter understood "
                "is ?experiment_id=N"
            )
        if experiment_id is not None and in_uri is not None and str(experiment_id) != in_uri:
            raise SinkError(
                f"MLflow experiment {experiment_id!r} given twice, differently ({tracking_uri!r})"
            )
        if experiment_id is None:
            experiment_id = in_uri or os.environ.get("MLFLOW_EXPERIMENT_ID") or "0"
        experiment = safe_str(experiment_id).strip()
        if not experiment:
            raise SinkError("MLflow experiment_id must not be empty (the default one is '0')")
        uri = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        import requests  # the caller's thread: the poster thread never imports

        self.tracking_uri = uri
        self.experiment_id = experiment
        self.headers: dict[str, str] = dict(headers) if headers is not None else _auth_from_env()
        self._unreachable = (requests.ConnectionError, requests.Timeout)
        self._request_error = requests.RequestException
        self._session = requests.Session()
        self._session.headers.update(self.headers)
        self._session.headers["User-Agent"] = f"judgeguard/{__version__}"
        # processors handed out by span_processor(): flushed before each post, so that the
        # judge's spans are in MLflow before feedback is attached to them (also at exit)
        self._processors: list[SpanProcessor] = []
        # the batch being posted (held, so that its items' identities stay unique) and the
        # (index, name) pairs of it already posted: a retried batch posts only the rest
        self._batch: list[SinkItem] = []
        self._done: set[tuple[int, str]] = set()
        super().__init__(**sink_options)

    # -- the caller's side ----------------------------------------------------------------
    def span_exporter(self) -> SpanExporter:
        """An OTLP/HTTP span exporter to this server's ``/v1/traces`` and experiment
        (:meth:`span_processor` wraps it in a processor the sink keeps flushed)."""
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(
            endpoint=self.tracking_uri + OTLP_PATH,
            headers={**self.headers, EXPERIMENT_HEADER: self.experiment_id},
            timeout=self.timeout,
        )

    def span_processor(self, **options: Any) -> SpanProcessor:
        """A ``BatchSpanProcessor`` on :meth:`span_exporter` that the sink flushes before
        each post: add it to your tracer provider (``provider.add_span_processor(...)``),
        and the judge's spans are always in MLflow before their feedback, also when the
        process exits without flushing. ``options`` go to ``BatchSpanProcessor``."""
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        processor = BatchSpanProcessor(self.span_exporter(), **options)
        self._processors.append(processor)
        return processor

    # -- the poster thread ----------------------------------------------------------------
    def post(self, items: Sequence[SinkItem]) -> None:
        """Post the batch's feedback (two assessments per check). A retry of the same batch
        skips what already went through, so nothing is posted twice. A check whose trace is
        not in MLflow yet does not hold up the others: they are posted, then the batch is
        retried for it."""
        for processor in self._processors:
            processor.force_flush(int(self.timeout * 1000))
        if len(items) != len(self._batch) or any(
            a is not b for a, b in zip(items, self._batch, strict=True)
        ):
            self._batch, self._done = list(items), set()
        missing: list[_TraceNotIngested] = []
        for index, item in enumerate(items):
            for name, body in feedback(item.check):
                if (index, name) in self._done:
                    continue
                try:
                    self._create(item.check, body)
                except _TraceNotIngested as exc:
                    missing.append(exc)  # the other checks' traces may be there: go on
                    break
                self._done.add((index, name))
        if missing:
            first = missing[0]
            raise _TraceNotIngested(
                f"{len(missing)} of {len(items)} check(s): {first}",
                retry_after=first.retry_after,
                pending=len(missing),
            )

    def _create(self, check: Check, body: Mapping[str, Any]) -> None:
        assert check.trace_id is not None
        trace_id = mlflow_trace_id(check.trace_id)
        url = self.tracking_uri + ASSESSMENTS_PATH.format(trace_id=quote(trace_id, safe=""))
        try:
            response = self._session.post(url, json=body, timeout=self.timeout)
        except self._unreachable as exc:
            raise TransientSinkError(f"MLflow at {self.tracking_uri} unreachable: {exc}") from exc
        except self._request_error as exc:
            raise SinkError(f"MLflow request failed: {exc}") from exc
        status = response.status_code
        if status < 300:
            return
        text = _error_text(response.text)
        if status == 429 or status >= 500:
            raise TransientSinkError(
                f"MLflow answered {status}: {text}",
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status == 404 and _error_code(response.text) == "RESOURCE_DOES_NOT_EXIST":
            raise _TraceNotIngested(
                f"trace {trace_id} is not in MLflow (yet): are the judge's spans exported to "
                f"{self.tracking_uri}{OTLP_PATH} with {EXPERIMENT_HEADER}: "
                f"{self.experiment_id}? ({text})",
                retry_after=NOT_INGESTED_RETRY_AFTER,
            )
        raise SinkError(f"MLflow refused feedback for trace {trace_id} ({status}): {text}")


class _TraceNotIngested(TransientSinkError):
    """MLflow does not have the check's trace (yet): retried; the batch's other checks
    are still posted meanwhile."""


def _auth_from_env() -> dict[str, str]:
    """MLflow's own credentials variables, as its client reads them: a bearer token
    (``MLFLOW_TRACKING_TOKEN``) or basic auth (``MLFLOW_TRACKING_USERNAME``/``_PASSWORD``)."""
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {pair}"}
    return {}


def mlflow_trace_id(otel_trace_id: str) -> str:
    """MLflow's id for an OTel trace ingested through OTLP: ``tr-`` + the 32 hex digits."""
    return "tr-" + otel_trace_id.lower().rjust(32, "0")


def feedback(check: Check) -> list[tuple[str, dict[str, Any]]]:
    """The two ``CreateAssessment`` bodies for a check: ``rationale_consistency`` and
    ``gated_reward``, on the judge span, from the MetaJudge (``LLM_JUDGE``)."""
    assert check.trace_id is not None
    trace_id = mlflow_trace_id(check.trace_id)
    metadata = {
        "judgeguard.status": check.status,
        "judgeguard.version": __version__,
    }
    optional = {
        # (a check rebuilt from an audit record carries its verdicts and line in ``extra``)
        "judgeguard.verdict": check.verdict.render()
        if check.verdict
        else check.extra.get("verdict"),
        "judgeguard.supported": (
            check.supported.render() if check.supported else check.extra.get("supported")
        ),
        "judgeguard.judge": check.extra.get("judge"),
        "judgeguard.line": check.extra.get("line"),
        "judgeguard.id": check.extra.get("id"),
        "judgeguard.r_rationale": check.r_rationale,
        "judgeguard.r_outcome": check.r_outcome,
        "judgeguard.needs_review": check.needs_review if check.consistent is not None else None,
        "judgeguard.cached": check.cached,
        "judgeguard.reason": check.reason,
        "judgeguard.evaluator_span_id": check.evaluator_span_id,
    }
    metadata.update(
        {
            k: text_for_tool(v if isinstance(v, str) else json.dumps(v, default=str), 1000)
            for k, v in optional.items()
            if v is not None
        }
    )
    source = {"source_type": "LLM_JUDGE", "source_id": check.metajudge_model or "judgeguard"}
    failure = {
        "error_code": check.reason or check.status,
        "error_message": text_for_tool(check.error or f"the check ended {check.status}", 1000),
    }

    def body(name: str, value: float | None, rationale: str | None) -> dict[str, Any]:
        assessment: dict[str, Any] = {
            "assessment_name": name,
            "trace_id": trace_id,
            "span_id": check.span_id,
            "source": source,
            "feedback": {"value": value} if value is not None else {"error": failure},
            "metadata": metadata,
        }
        if rationale:
            assessment["rationale"] = rationale
        return {"assessment": assessment}

    gate = None
    if check.reward is not None and check.r_rationale is not None and check.r_outcome is not None:
        gate = f"R_rationale {check.r_rationale:.3g} x R_outcome {check.r_outcome:.3g}"
    return [
        (
            sc.EVALUATION_RATIONALE_CONSISTENCY,
            body(
                sc.EVALUATION_RATIONALE_CONSISTENCY,
                check.r_rationale,
                text_for_tool(check.explanation) if check.explanation else None,
            ),
        ),
        (sc.EVALUATION_GATED_REWARD, body(sc.EVALUATION_GATED_REWARD, check.reward, gate)),
    ]


def _error_code(text: str) -> str | None:
    try:
        code = json.loads(text).get("error_code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) else None


def _error_text(text: str) -> str:
    try:
        message = json.loads(text).get("message")
    except (ValueError, AttributeError):
        message = None
    return safe_str(message if isinstance(message, str) else text)[:300]
