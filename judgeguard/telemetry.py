"""OpenTelemetry spans, events and metrics of judge calls and checks (API only, no SDK).

What is recorded (names in :mod:`judgeguard.semconv`):

* ``judge {name}`` (INTERNAL): the guarded judge call, with what is known when the judge
  returns (the judge's thread never parses).
* ``evaluate rationale_consistency`` (INTERNAL, ``openinference.span.kind=EVALUATOR``):
  one check, always a child of the judge span (in the judge's trace, also when it ends
  after the judge span: UIs show spans linked from another trace as orphans). It carries
  the verdict, kind, format, R_outcome, the check result and
  ``gen_ai.evaluation.result`` span events (GenAI semconv
  1.38): ``rationale_consistency`` (R_rationale), ``gated_reward`` (R_final) and, when a
  reference check ran, ``reference_consistency`` (RC).
* ``chat {model}`` (CLIENT): one MetaJudge LLM request (one per attempt, retries
  included) with the GenAI attributes.
* Metrics: ``judgeguard.rationale_reward`` and ``judgeguard.gated_reward`` (histograms,
  unit 1), ``judgeguard.checks`` (counter by ``judgeguard.check.status``),
  ``judgeguard.check.duration`` (histogram, s), ``judgeguard.cache.lookups`` (one counter,
  ``judgeguard.cache.hit`` = true/false).

Nothing is recorded unless the application configured a tracer/meter provider (the
API's no-op and proxy providers see to that), span attributes are only built for
recording spans, and content (rationale text, MetaJudge explanations) is only recorded
when the user opts in with ``capture_content=True`` or
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``.
"""

from __future__ import annotations

import contextvars
import json
import os
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
)
from opentelemetry.util.types import AttributeValue

from judgeguard import semconv as sc
from judgeguard._version import __version__
from judgeguard.errors import JudgeguardError, ParseError, safe_str
from judgeguard.scrub import clean_text, redact_secrets

if TYPE_CHECKING:
    from judgeguard.metajudge.client import CallResult
    from judgeguard.schema import Check, Judgment

__all__ = ["RecordedPoint", "RecordedSpan", "Telemetry", "configure_telemetry", "get_telemetry"]

#: One span recorded elsewhere (a check worker process), replayed by
#: :meth:`Telemetry.replay`: ``(name, kind, span_id, parent_span_id, start_ns, end_ns,
#: attributes, events [(name, attributes, timestamp_ns)], (status_code, description))``.
RecordedSpan = tuple[
    str,
    int,
    int,
    "int | None",
    int,
    int,
    "dict[str, Any]",
    "list[tuple[str, dict[str, Any], int]]",
    "tuple[int, str | None]",
]
#: One metric measurement recorded elsewhere: ``(instrument name, value, attributes)``.
RecordedPoint = tuple[str, float, "dict[str, Any]"]

#: Bucket boundaries of the reward histograms (values lie in [0, 1]).
_REWARD_BUCKETS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
#: Bucket boundaries of the check duration, as GenAI semconv's operation duration.
_DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
_EVALUATOR_ATTRIBUTES: Mapping[str, AttributeValue] = {
    sc.OPENINFERENCE_SPAN_KIND: sc.OPENINFERENCE_SPAN_KIND_EVALUATOR
}
_JUDGE_ATTRIBUTES: Mapping[str, AttributeValue] = {
    sc.OPENINFERENCE_SPAN_KIND: sc.OPENINFERENCE_SPAN_KIND_CHAIN
}


def _content(value: Any) -> tuple[str, str]:
    """``(text, mime type)`` of a judge input or output for a span: strings as they are,
    anything else as JSON when it serialises, else its ``str``; cut to the content limit,
    lone surrogates replaced. Never raises."""
    if isinstance(value, str):
        text, mime = value, "text/plain"
    else:
        try:
            text, mime = json.dumps(value, default=safe_str, ensure_ascii=False), "application/json"
        except Exception:  # deep nesting, huge ints, a __str__ that raises …
            text, mime = safe_str(value), "text/plain"
    if len(text) > sc.CONTENT_LIMIT:
        text = text[: sc.CONTENT_LIMIT] + "…"
    return clean_text(text), mime


def _capture_from_env() -> bool:
    value = os.environ.get(sc.CAPTURE_CONTENT_ENV, "")
    return value.strip().lower() in sc.CAPTURE_CONTENT_ON


def _error_type(exc: BaseException) -> str:
    """judgeguard's own reason code when the error has one, else the exception's class."""
    reason = getattr(exc, "reason", None)
    if isinstance(exc, JudgeguardError) and isinstance(reason, str) and reason:
        return reason
    return type(exc).__qualname__


#: The metrics: name -> (unit, description, histogram buckets; ``None``: a counter).
_METRICS: dict[str, tuple[str, str, Sequence[float] | None]] = {
    sc.METRIC_RATIONALE_REWARD: (
        "1",
        "R_rationale: how well a judge's rationale supports its verdict",
        _REWARD_BUCKETS,
    ),
    sc.METRIC_GATED_REWARD: ("1", "The gated reward R_rationale × R_outcome", _REWARD_BUCKETS),
    sc.METRIC_CHECKS: ("{check}", "Checks by terminal status", None),
    sc.METRIC_CHECK_DURATION: ("s", "Duration of one check", _DURATION_BUCKETS),
    sc.METRIC_CACHE_LOOKUPS: ("{lookup}", "Check cache lookups, by judgeguard.cache.hit", None),
    sc.METRIC_CALLBACK_ERRORS: (
        "{error}",
        "on_result callbacks that raised (logged with their traceback)",
        None,
    ),
    sc.METRIC_SINK_ITEMS: (
        "{check}",
        "Checks handed to a sink, by judgeguard.sink.name and judgeguard.sink.outcome",
        None,
    ),
}


def _instrument(
    meter: metrics.Meter, name: str, unit: str, description: str, buckets: Sequence[float] | None
) -> Any:
    """The recording function of one metric: a histogram's ``record`` or a counter's ``add``."""
    if buckets is None:
        return meter.create_counter(name, unit=unit, description=description).add
    return meter.create_histogram(
        name, unit=unit, description=description, explicit_bucket_boundaries_advisory=buckets
    ).record


@lru_cache(maxsize=256)
def _chat_span(model: str) -> tuple[str, Mapping[str, AttributeValue]]:
    """Span name and start attributes of a CLIENT span for a litellm model string."""
    prefix, sep, request_model = model.partition("/")
    if sep and prefix and request_model:
        provider = sc.PROVIDER_NAMES.get(prefix, prefix)
    else:
        request_model = model
        provider = _litellm_provider(model)
    attributes: dict[str, AttributeValue] = {
        sc.GEN_AI_OPERATION_NAME: sc.GEN_AI_OPERATION_CHAT,
        sc.GEN_AI_PROVIDER_NAME: provider,
        sc.GEN_AI_REQUEST_MODEL: request_model,
    }
    return f"{sc.GEN_AI_OPERATION_CHAT} {request_model}", attributes


def _litellm_provider(model: str) -> str:
    """The provider litellm infers for an unprefixed model, if litellm is loaded already."""
    litellm = sys.modules.get("litellm")
    if litellm is None:
        return sc.GEN_AI_PROVIDER_OTHER
    from judgeguard.metajudge.quiet import quiet

    try:
        with quiet():  # litellm prints a banner for a model without a provider
            provider = litellm.get_llm_provider(model)[1]
    except Exception:
        return sc.GEN_AI_PROVIDER_OTHER
    if not isinstance(provider, str) or not provider:
        return sc.GEN_AI_PROVIDER_OTHER
    return sc.PROVIDER_NAMES.get(provider, provider)


class Telemetry:
    """Records judge spans, MetaJudge CLIENT spans, evaluator spans, evaluation events and
    metrics.

    ``tracer_provider`` and ``meter_provider`` default to the global ones (resolved when
    used, so providers installed later are honoured). ``capture_content=None`` reads
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (``true``/``1``,
    case-insensitive) once, here; content is never recorded otherwise.
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        capture_content: bool | None = None,
    ) -> None:
        self.capture_content: bool = (
            _capture_from_env() if capture_content is None else bool(capture_content)
        )
        self._tracer_provider = tracer_provider
        self._tracer = trace.get_tracer(
            sc.SCOPE_NAME, __version__, tracer_provider, schema_url=sc.SCHEMA_URL
        )
        meter = metrics.get_meter(
            sc.SCOPE_NAME, __version__, meter_provider, schema_url=sc.SCHEMA_URL
        )
        #: each metric's recording function (``record`` or ``add``), by metric name
        self._instruments: dict[str, Any] = {
            name: _instrument(meter, name, *spec) for name, spec in _METRICS.items()
        }
        self._rationale_reward = self._instruments[sc.METRIC_RATIONALE_REWARD]
        self._gated_reward = self._instruments[sc.METRIC_GATED_REWARD]
        self._checks = self._instruments[sc.METRIC_CHECKS]
        self._check_duration = self._instruments[sc.METRIC_CHECK_DURATION]
        self._cache_lookups = self._instruments[sc.METRIC_CACHE_LOOKUPS]
        self._callback_errors = self._instruments[sc.METRIC_CALLBACK_ERRORS]
        self._sink_items = self._instruments[sc.METRIC_SINK_ITEMS]

    @contextmanager
    def activate(self) -> Iterator[Telemetry]:
        """Make this the telemetry :func:`get_telemetry` returns in the current context
        (a check's MetaJudge CLIENT spans then go where its evaluator span goes)."""
        token = _active.set(self)
        try:
            yield self
        finally:
            _active.reset(token)

    def tracing(self) -> bool:
        """Whether spans are recorded (a tracer provider is configured)."""
        return not self._tracing_off()

    def _tracing_off(self) -> bool:
        """Whether no tracer provider is configured (the API's proxy or no-op one)."""
        provider = self._tracer_provider or trace.get_tracer_provider()
        return isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))

    # -- spans -----------------------------------------------------------------------------
    @contextmanager
    def _current_span(self, name: str, kind: SpanKind, **options: Any) -> Iterator[Span]:
        """A span current inside the block; an exception escaping the block is recorded
        (:meth:`_fail`: exception event, ``error.type``, status ERROR) and re-raised."""
        with self._tracer.start_as_current_span(
            name, kind=kind, record_exception=False, set_status_on_exception=False, **options
        ) as span:
            try:
                yield span
            except Exception as exc:
                self._fail(span, exc)
                raise

    def judge_span(self, name: str) -> AbstractContextManager[Span]:
        """An INTERNAL span ``judge {name}``, current inside the block.

        An exception escaping the block is recorded (exception event, ``error.type``,
        status ERROR) and re-raised unchanged.
        """
        if self._tracing_off():  # hot path: no provider, no span, no context switch
            return nullcontext(trace.INVALID_SPAN)
        return self._current_span(
            f"{sc.SPAN_JUDGE_PREFIX} {name}", SpanKind.INTERNAL, attributes=_JUDGE_ATTRIBUTES
        )

    def record_call(self, span: Span, inputs: Any, output: Any) -> None:
        """Put the judge call's input and output on its span, as ``input.value`` and
        ``output.value`` (OpenInference, which Phoenix shows), only with content capture."""
        if not self.capture_content or not span.is_recording():
            return
        input_text, input_mime = _content(inputs)
        output_text, output_mime = _content(output)
        span.set_attributes(
            {
                sc.INPUT_VALUE: input_text,
                sc.INPUT_MIME_TYPE: input_mime,
                sc.OUTPUT_VALUE: output_text,
                sc.OUTPUT_MIME_TYPE: output_mime,
            }
        )

    def record_judgment(
        self,
        span: Span,
        judgment: Judgment | None,
        error: BaseException | None = None,
        r_outcome: float | None = None,
    ) -> None:
        """Put the parsed judgment (or the parse failure) on a check's evaluator span.

        (Not on the judge span: that would mean parsing in the judge's thread.) A
        :class:`judgeguard.ParseError` sets ``judgeguard.parse.status=unparsed`` and
        ``error.type`` to its reason code; the span status is left alone, since the
        judge call itself succeeded. The rationale is recorded only with content capture.
        """
        if not span.is_recording():
            return
        attributes: dict[str, AttributeValue] = {}
        if judgment is not None:
            verdict = judgment.verdict
            attributes[sc.JUDGEGUARD_PARSE_STATUS] = "parsed"
            attributes[sc.JUDGEGUARD_VERDICT] = verdict.render()
            attributes[sc.JUDGEGUARD_VERDICT_KIND] = verdict.kind
            attributes[sc.JUDGEGUARD_FORMAT] = judgment.format
            if judgment.response_id:
                attributes[sc.GEN_AI_RESPONSE_ID] = judgment.response_id
            if judgment.judge_model:
                attributes[sc.GEN_AI_RESPONSE_MODEL] = judgment.judge_model
            if self.capture_content:
                attributes[sc.JUDGEGUARD_RATIONALE] = clean_text(judgment.rationale)
        if r_outcome is not None:
            attributes[sc.JUDGEGUARD_R_OUTCOME] = float(r_outcome)
        if error is not None:
            if isinstance(error, ParseError):
                attributes[sc.JUDGEGUARD_PARSE_STATUS] = "unparsed"
            attributes[sc.ERROR_TYPE] = _error_type(error)
        span.set_attributes(attributes)

    def link_context(self, span: Span) -> SpanContext | None:
        """The span's context, to parent or link a later evaluator span (None if invalid)."""
        context = span.get_span_context()
        return context if context.is_valid else None

    def evaluator_span(
        self, judge: SpanContext | Span | None, child: bool = True
    ) -> AbstractContextManager[Span]:
        """The span ``evaluate rationale_consistency`` of one check, current inside the block.

        Always a child of the judge span when there is one (a valid ``judge`` context), in
        the judge's trace, also when the check finishes after the judge span ended: UIs
        such as Phoenix show a span linked from another trace as an orphan. Without a judge
        span it is the root of a new trace (never a child of whatever is current). LLM
        CLIENT spans opened inside the block are its children. Exceptions are recorded and
        re-raised. (``child`` is accepted for callers of earlier versions and ignored.)
        """
        del child
        if isinstance(judge, Span):
            judge = judge.get_span_context()
        if judge is not None and judge.is_valid:
            parent = trace.set_span_in_context(NonRecordingSpan(judge))
        elif self._tracing_off():  # hot path: the no-op span of an empty context, no switch
            return nullcontext(trace.INVALID_SPAN)
        else:
            parent = Context()
        return self._current_span(
            sc.SPAN_EVALUATOR, SpanKind.INTERNAL, context=parent, attributes=_EVALUATOR_ATTRIBUTES
        )

    def llm_span(self, model: str) -> AbstractContextManager[Span]:
        """A CLIENT span ``chat {model}`` for one MetaJudge request, current in the block.

        A child of the current span. ``model`` is the litellm model string: its provider
        prefix becomes ``gen_ai.provider.name`` (mapped to the semconv names) and the rest
        ``gen_ai.request.model``. Exceptions are recorded and re-raised.
        """
        if self._tracing_off():  # hot path: no provider, no span, no context switch
            return nullcontext(trace.INVALID_SPAN)
        name, attributes = _chat_span(model)
        return self._current_span(name, SpanKind.CLIENT, attributes=attributes)

    def record_llm_result(
        self,
        span: Span,
        result: CallResult | None = None,
        error: BaseException | None = None,
    ) -> None:
        """Put a request's outcome on its CLIENT span.

        A :class:`~judgeguard.metajudge.client.CallResult` gives the response model and
        id, token usage and cost; an ``error`` sets status ERROR, an exception event and
        ``error.type`` (the ``CallFailed`` reason code, else the exception class). Record
        an error here *or* let it escape :meth:`llm_span`, not both.
        """
        if not span.is_recording():
            return
        if result is not None:
            attributes: dict[str, AttributeValue] = {
                sc.GEN_AI_USAGE_INPUT_TOKENS: result.input_tokens,
                sc.GEN_AI_USAGE_OUTPUT_TOKENS: result.output_tokens,
            }
            if result.response_model:
                attributes[sc.GEN_AI_RESPONSE_MODEL] = result.response_model
            if result.response_id:
                attributes[sc.GEN_AI_RESPONSE_ID] = result.response_id
            if result.cost_usd is not None:
                attributes[sc.JUDGEGUARD_USAGE_COST_USD] = result.cost_usd
            span.set_attributes(attributes)
        if error is not None:
            self._fail(span, error)

    def _fail(self, span: Span, exc: BaseException) -> None:
        """Record an exception on a span: event, ``error.type``, status ERROR.

        Every recorded text goes through :func:`judgeguard.scrub.redact_secrets`. Texts
        that may hold content are recorded only with content capture: a parse error's
        excerpt of the judge output, and a provider's error body (which may echo the
        prompt); without capture a failed MetaJudge call records its reason code and
        HTTP status (its ``summary``).
        """
        if not span.is_recording():
            return
        message = str(exc)
        summary = getattr(exc, "summary", None)
        content_free = not self.capture_content and (
            isinstance(exc, ParseError)
            or (isinstance(exc, JudgeguardError) and isinstance(summary, str))
        )
        if content_free:
            # ParseError: str() adds an excerpt of the judge output; CallFailed: the
            # provider's text; both also in the chained causes of the stacktrace
            message = exc.message if isinstance(exc, ParseError) else str(summary)
            message = redact_secrets(clean_text(message))
            stacktrace = (
                "Traceback (most recent call last):\n"
                + "".join(traceback.format_tb(exc.__traceback__))
                + f"{type(exc).__module__}.{type(exc).__qualname__}: {message}\n"
            )
        else:
            message = redact_secrets(clean_text(message))
            stacktrace = redact_secrets(clean_text("".join(traceback.format_exception(exc))))
        span.record_exception(
            exc,
            attributes={"exception.message": message, "exception.stacktrace": stacktrace},
        )
        span.set_attribute(sc.ERROR_TYPE, _error_type(exc))
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))

    # -- checks ----------------------------------------------------------------------------
    def record_check(
        self,
        span: Span,
        check: Check,
        *,
        duration_s: float | None = None,
        judge: str | None = None,
    ) -> None:
        """Record one finished check: evaluator-span attributes and events, and metrics.

        Metrics are recorded whether or not the span records. The duration is
        ``duration_s`` when given (what the caller measured for this check), else the
        check's ``latency_s`` unless the result came from the cache (its latency is then
        the original call's). Any field may be ``None``. ``judge`` (the checked judge's
        name) is an attribute of every metric point, to chart reliability per judge.
        """
        status = check.status
        model = check.metajudge_model
        counted: dict[str, AttributeValue] = {
            sc.JUDGEGUARD_CHECK_STATUS: status,
            sc.JUDGEGUARD_CHECK_CACHED: check.cached,
        }
        if model:
            counted[sc.JUDGEGUARD_METAJUDGE_MODEL] = model
        if judge:
            counted[sc.JUDGEGUARD_JUDGE_NAME] = judge
        if status == "error":
            counted[sc.ERROR_TYPE] = check.reason or sc.ERROR_TYPE_OTHER
        self._checks(1, counted)
        rewards: dict[str, AttributeValue] = {sc.JUDGEGUARD_METAJUDGE_MODEL: model} if model else {}
        if judge:
            rewards[sc.JUDGEGUARD_JUDGE_NAME] = judge
        if check.r_rationale is not None:
            self._rationale_reward(check.r_rationale, rewards)
        if check.reward is not None:
            self._gated_reward(check.reward, rewards)
        duration = (
            duration_s if duration_s is not None else (None if check.cached else check.latency_s)
        )
        if duration is not None:
            self._check_duration(duration, counted)
        if span.is_recording():
            self._check_on_span(span, check)

    def _check_on_span(self, span: Span, check: Check) -> None:
        status = check.status
        failed = status == "error"
        error_type = (check.reason or sc.ERROR_TYPE_OTHER) if failed else None
        attributes: dict[str, AttributeValue] = {
            sc.JUDGEGUARD_CHECK_STATUS: status,
            sc.JUDGEGUARD_CHECK_CACHED: check.cached,
            sc.JUDGEGUARD_NEEDS_REVIEW: check.needs_review,
            sc.JUDGEGUARD_CALIBRATED: check.calibrated,
        }
        optional: dict[str, Any] = {
            sc.JUDGEGUARD_R_RATIONALE: check.r_rationale,
            sc.JUDGEGUARD_R_OUTCOME: check.r_outcome,
            sc.JUDGEGUARD_REWARD: check.reward,
            sc.JUDGEGUARD_AGREEMENT: check.agreement,
            sc.JUDGEGUARD_METAJUDGE_MODEL: check.metajudge_model,
            sc.JUDGEGUARD_CHECK_REASON: check.reason,
            sc.JUDGEGUARD_VERDICT: check.verdict.render() if check.verdict else None,
            sc.JUDGEGUARD_SUPPORTED_VERDICT: check.supported.render() if check.supported else None,
            sc.ERROR_TYPE: error_type,
        }
        attributes.update((k, v) for k, v in optional.items() if v is not None)
        judgment = getattr(check, "judgment", None)
        response_id = getattr(judgment, "response_id", None)
        match = getattr(check, "reference_match", None)
        if match is not None:
            if match.recall is not None:
                attributes[sc.JUDGEGUARD_REFERENCE_RECALL] = match.recall
            if match.ap is not None:
                attributes[sc.JUDGEGUARD_REFERENCE_AP] = match.ap
        span.set_attributes(attributes)
        if failed:
            span.set_status(Status(StatusCode.ERROR, error_type))

        explanation = check.explanation if self.capture_content else None
        self._evaluation(
            span, sc.EVALUATION_RATIONALE_CONSISTENCY, check.r_rationale, status,
            response_id, error_type, explanation,
        )  # fmt: skip
        if check.needs_review:
            gate_label = "flagged"
        elif check.reward is not None:
            gate_label = "ok"
        else:
            gate_label = status  # skipped: no reward to judge
        self._evaluation(
            span, sc.EVALUATION_GATED_REWARD, check.reward, gate_label, response_id, error_type
        )
        if match is not None:
            match_error = (match.reason or sc.ERROR_TYPE_OTHER) if match.status == "error" else None
            self._evaluation(
                span, sc.EVALUATION_REFERENCE_CONSISTENCY, match.recall, match.status,
                response_id, match_error,
            )  # fmt: skip

    def _evaluation(
        self,
        span: Span,
        name: str,
        score: float | None,
        label: str | None,
        response_id: str | None,
        error_type: str | None,
        explanation: str | None = None,
    ) -> None:
        """One ``gen_ai.evaluation.result`` event on the evaluator span."""
        attributes: dict[str, AttributeValue] = {sc.GEN_AI_EVALUATION_NAME: name}
        if score is not None:
            attributes[sc.GEN_AI_EVALUATION_SCORE_VALUE] = float(score)
        if label:
            attributes[sc.GEN_AI_EVALUATION_SCORE_LABEL] = label
        if explanation:
            attributes[sc.GEN_AI_EVALUATION_EXPLANATION] = explanation
        if response_id:
            attributes[sc.GEN_AI_RESPONSE_ID] = response_id
        if error_type:
            attributes[sc.ERROR_TYPE] = error_type
        span.add_event(sc.GEN_AI_EVALUATION_RESULT, attributes)

    def record_callback_error(self) -> None:
        """Count one ``on_result`` callback that raised."""
        self._callback_errors(1)

    def record_sink(self, sink: str, outcome: str, count: int = 1) -> None:
        """Count checks a sink ``posted``, ``dropped`` (never sent) or ``failed`` to post."""
        if count:
            self._sink_items(
                count, {sc.JUDGEGUARD_SINK_NAME: sink, sc.JUDGEGUARD_SINK_OUTCOME: outcome}
            )

    def record_cache(self, hit: bool) -> None:
        """Count one check-cache lookup: ``judgeguard.cache.lookups{judgeguard.cache.hit}``."""
        self._cache_lookups(1, {sc.JUDGEGUARD_CACHE_HIT: bool(hit)})

    # -- replay -----------------------------------------------------------------------------
    def replay(
        self,
        judge: SpanContext | None,
        child: bool,
        spans: Sequence[RecordedSpan],
        points: Sequence[RecordedPoint],
    ) -> SpanContext | None:
        """Re-emit spans and measurements a check worker process recorded for one check.

        Spans keep their names, kinds, attributes, events, status and timestamps; they
        get new ids here. A recorded root (the evaluator span) is placed as
        :meth:`evaluator_span` would place it: a child of ``judge`` when it is valid, else
        the root of a new trace (``child`` is ignored). Returns the replayed root's context.
        """
        del child
        for name, value, attributes in points:
            record = self._instruments.get(name)
            if record is not None:
                record(value, attributes)
        if not spans or self._tracing_off():
            return None
        valid = judge is not None and judge.is_valid
        made: dict[int, Span] = {}
        root: SpanContext | None = None
        for name, kind, span_id, parent_id, start, end, attrs, events, status in sorted(
            spans, key=lambda s: s[4]
        ):
            if parent_id is not None and parent_id in made:
                parent = trace.set_span_in_context(made[parent_id])
            elif valid:
                assert judge is not None
                parent = trace.set_span_in_context(NonRecordingSpan(judge))
            else:
                parent = Context()
            span = self._tracer.start_span(name, parent, SpanKind(kind), attrs, start_time=start)
            if root is None and (parent_id is None or parent_id not in made):
                root = span.get_span_context()
            for event_name, event_attrs, timestamp in events:
                span.add_event(event_name, event_attrs, timestamp)
            if status[0] != StatusCode.UNSET.value:
                code = StatusCode(status[0])
                span.set_status(Status(code, status[1] if code is StatusCode.ERROR else None))
            span.end(end)
            made[span_id] = span
        return root


def stamp_span_ids(check: Check, judge: Any, evaluator: Any = None) -> None:
    """Put the judge span's trace and span ids (hex), and the evaluator span's id, on
    ``check``; each is a span or a span context (left ``None`` when not valid: no tracing)."""
    if isinstance(judge, Span):
        judge = judge.get_span_context()
    if judge is not None and judge.is_valid:
        check.trace_id = trace.format_trace_id(judge.trace_id)
        check.span_id = trace.format_span_id(judge.span_id)
    if isinstance(evaluator, Span):
        evaluator = evaluator.get_span_context()
    if evaluator is not None and evaluator.is_valid:
        check.evaluator_span_id = trace.format_span_id(evaluator.span_id)


_default: Telemetry | None = None
_default_lock = threading.Lock()
_active: contextvars.ContextVar[Telemetry | None] = contextvars.ContextVar(
    "judgeguard_telemetry", default=None
)


def get_telemetry() -> Telemetry:
    """The :class:`Telemetry` in use: the one a running check activated, else the
    process-wide one (global providers unless configured).

    Built on first use from the global tracer and meter providers through the API's
    proxies, so a provider the application installs later is still used.
    """
    global _default
    telemetry = _active.get() or _default
    if telemetry is None:
        with _default_lock:
            if _default is None:
                _default = Telemetry()
            telemetry = _default
    return telemetry


def configure_telemetry(
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    capture_content: bool | None = None,
) -> Telemetry:
    """Replace the process-wide :class:`Telemetry` and return the new one.

    Use it to send judgeguard's spans and metrics to providers other than the global
    ones, or to switch content capture on or off for the whole process.
    """
    global _default
    telemetry = Telemetry(tracer_provider, meter_provider, capture_content)
    with _default_lock:
        _default = telemetry
    return telemetry
