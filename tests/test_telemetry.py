"""Telemetry: spans, links, evaluation events and metrics, against the SDK's in-memory exporters.

Providers are passed explicitly; the only tests that touch the global providers run in a
subprocess.
"""

import json
import subprocess
import sys
import textwrap

import pytest
from guard_helpers import ARENA, B_WINS, metric_points
from loopback import Reply
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

import judgeguard as jg
import judgeguard.telemetry as telemetry_module
from judgeguard import semconv as sc
from judgeguard.metajudge.client import CallFailed, CallResult, RetryPolicy, acall
from judgeguard.schema import Check, RationaleMatch
from judgeguard.telemetry import Telemetry, configure_telemetry, get_telemetry
from judgeguard.verdicts import Verdict

SECRET = "the MetaJudge's private explanation"


# -- fixtures and helpers ----------------------------------------------------------------
@pytest.fixture
def configured(otel, monkeypatch):
    """The process default replaced by one on the in-memory providers, restored after."""
    monkeypatch.setattr(telemetry_module, "_default", None)  # restored at teardown
    otel.telemetry = configure_telemetry(otel.tracer_provider, otel.meter_provider)
    return otel


def spans(otel, name=None):
    found = otel.exporter.get_finished_spans()
    return [s for s in found if name is None or s.name == name]


def one_span(otel, name):
    (span,) = spans(otel, name)
    return span


def points(otel, name):
    return metric_points(otel.reader, name)


def evaluation_events(span):
    return {
        e.attributes[sc.GEN_AI_EVALUATION_NAME]: dict(e.attributes)
        for e in span.events
        if e.name == sc.GEN_AI_EVALUATION_RESULT
    }


def judgment(**update):
    return jg.parse(ARENA).model_copy(update=update)


def good_check(**update):
    values = {
        "status": "consistent",
        "verdict": Verdict.parse("B>>A"),
        "supported": Verdict.parse("B>A"),
        "r_rationale": 0.8,
        "r_outcome": 1.0,
        "reward": 0.8,
        "needs_review": False,
        "explanation": SECRET,
        "metajudge_model": "openai/gpt-4o-mini",
        "latency_s": 1.5,
        "judgment": judgment(response_id="chatcmpl-judge-1", judge_model="gpt-4o"),
    }
    values.update(update)
    return Check(**values)


class ExplodingSpan:
    """A non-recording span on which any attribute work is a bug."""

    def is_recording(self):
        return False

    def __getattr__(self, name):
        raise AssertionError(f"touched a non-recording span: {name}")


# -- judge span ------------------------------------------------------------------------
def test_judge_span_name_kind_scope_and_current(otel):
    with otel.telemetry.judge_span("my_judge") as span:
        assert trace.get_current_span() is span
        assert span.is_recording()
    s = one_span(otel, "judge my_judge")
    assert s.kind is SpanKind.INTERNAL
    assert s.attributes[sc.OPENINFERENCE_SPAN_KIND] == sc.OPENINFERENCE_SPAN_KIND_CHAIN
    assert s.instrumentation_scope.name == "judgeguard"
    assert s.instrumentation_scope.version == jg.__version__
    assert s.instrumentation_scope.schema_url == sc.SCHEMA_URL
    assert s.status.status_code is StatusCode.UNSET


def test_record_judgment_attributes_without_content(otel):
    tel = otel.telemetry
    assert tel.capture_content is False
    j = judgment(response_id="chatcmpl-judge-1", judge_model="gpt-4o")
    with tel.evaluator_span(None) as span:  # the judgment goes on the check's span
        tel.record_judgment(span, j, None, 0.0)
    attrs = dict(one_span(otel, sc.SPAN_EVALUATOR).attributes)
    assert attrs.pop(sc.OPENINFERENCE_SPAN_KIND) == sc.OPENINFERENCE_SPAN_KIND_EVALUATOR
    assert attrs == {
        "judgeguard.parse.status": "parsed",
        "judgeguard.verdict": "B>>A",
        "judgeguard.verdict.kind": "pairwise",
        "judgeguard.format": j.format,
        "judgeguard.r_outcome": 0.0,
        "gen_ai.response.id": "chatcmpl-judge-1",
        "gen_ai.response.model": "gpt-4o",
    }


def test_record_judgment_parse_error_has_reason_code_and_no_error_status(otel):
    tel = otel.telemetry
    error = jg.VerdictNotFound("no verdict", excerpt="private judge text")
    with tel.evaluator_span(None) as span:
        tel.record_judgment(span, None, error, None)
    s = one_span(otel, sc.SPAN_EVALUATOR)
    assert {k: v for k, v in s.attributes.items() if k != sc.OPENINFERENCE_SPAN_KIND} == {
        "judgeguard.parse.status": "unparsed",
        "error.type": "verdict_not_found",
    }
    assert s.status.status_code is StatusCode.UNSET  # the judge call itself succeeded


class JudgeDown(RuntimeError):
    """A user's judge failing."""


def test_judge_span_records_exception_and_reraises_it_unchanged(otel):
    boom = JudgeDown("provider is down")
    with pytest.raises(JudgeDown) as caught, otel.telemetry.judge_span("arena"):
        raise boom
    assert caught.value is boom
    s = one_span(otel, "judge arena")
    assert s.status.status_code is StatusCode.ERROR
    assert s.attributes["error.type"] == "JudgeDown"
    (event,) = s.events
    assert event.name == "exception"
    assert event.attributes["exception.message"] == "provider is down"
    assert trace.get_current_span() is trace.INVALID_SPAN  # context restored


def test_parse_error_message_in_exception_event_has_no_excerpt_by_default(otel):
    error = jg.VerdictNotFound("no verdict found", excerpt="private judge text")
    with pytest.raises(jg.VerdictNotFound), otel.telemetry.judge_span("arena"):
        raise error
    s = one_span(otel, "judge arena")
    assert s.attributes["error.type"] == "verdict_not_found"
    assert "private judge text" not in json.dumps([dict(e.attributes) for e in s.events])
    assert "private judge text" not in (s.status.description or "")


# -- evaluator span: child or root + link -------------------------------------------------
def test_evaluator_span_is_child_of_judge_span_when_asked(otel):
    tel = otel.telemetry
    with tel.judge_span("arena") as judge:
        ctx = tel.link_context(judge)
        with tel.evaluator_span(ctx, child=True) as ev:
            assert trace.get_current_span() is ev
    judge_span = one_span(otel, "judge arena")
    ev_span = one_span(otel, "evaluate rationale_consistency")
    assert ev_span.kind is SpanKind.INTERNAL
    assert ev_span.attributes["openinference.span.kind"] == "EVALUATOR"
    assert ev_span.parent.span_id == judge_span.context.span_id
    assert ev_span.context.trace_id == judge_span.context.trace_id
    assert list(ev_span.links) == []


def test_evaluator_span_is_always_in_the_judges_trace_never_under_the_current_span(otel):
    """Background checks too (issue 15): UIs show spans linked from another trace as
    orphans. Whatever span is current when the check runs is not its parent."""
    tel = otel.telemetry
    with tel.judge_span("arena") as judge:
        ctx = tel.link_context(judge)
    with tel.judge_span("other"), tel.evaluator_span(ctx, child=False):
        pass
    judge_span = one_span(otel, "judge arena")
    ev_span = one_span(otel, "evaluate rationale_consistency")
    assert ev_span.parent.span_id == judge_span.context.span_id
    assert ev_span.context.trace_id == judge_span.context.trace_id
    assert list(ev_span.links) == []


def test_evaluator_span_after_the_judge_span_ended_and_without_a_judge(otel):
    tel = otel.telemetry
    with tel.judge_span("arena") as judge:
        ctx = tel.link_context(judge)
    with tel.evaluator_span(ctx, child=True):  # a child of an ended span is still fine
        pass
    with tel.evaluator_span(None, child=True):
        pass
    first, second = spans(otel, "evaluate rationale_consistency")
    assert first.parent.span_id == ctx.span_id
    assert second.parent is None and list(second.links) == []


def test_link_context_of_an_invalid_span_is_none(otel):
    assert otel.telemetry.link_context(trace.INVALID_SPAN) is None


def test_evaluator_span_records_and_reraises(otel):
    boom = ValueError("bad")
    with pytest.raises(ValueError) as caught, otel.telemetry.evaluator_span(None, child=False):
        raise boom
    assert caught.value is boom
    s = one_span(otel, "evaluate rationale_consistency")
    assert s.status.status_code is StatusCode.ERROR and s.attributes["error.type"] == "ValueError"


# -- check result: attributes, events, metrics --------------------------------------------
def test_record_check_attributes_events_and_metrics(otel):
    tel = otel.telemetry
    with tel.evaluator_span(None, child=False) as span:
        tel.record_check(span, good_check())
    s = one_span(otel, "evaluate rationale_consistency")
    attrs = dict(s.attributes)
    assert attrs["judgeguard.check.status"] == "consistent"
    assert attrs["judgeguard.r_rationale"] == 0.8
    assert attrs["judgeguard.r_outcome"] == 1.0
    assert attrs["judgeguard.reward"] == 0.8
    assert attrs["judgeguard.needs_review"] is False
    assert attrs["judgeguard.check.cached"] is False
    assert attrs["judgeguard.supported_verdict"] == "B>A"
    assert attrs["judgeguard.verdict"] == "B>>A"
    assert attrs["judgeguard.metajudge.model"] == "openai/gpt-4o-mini"
    assert "error.type" not in attrs
    assert s.status.status_code is StatusCode.UNSET
    events = evaluation_events(s)
    assert events == {
        "rationale_consistency": {
            "gen_ai.evaluation.name": "rationale_consistency",
            "gen_ai.evaluation.score.value": 0.8,
            "gen_ai.evaluation.score.label": "consistent",
            "gen_ai.response.id": "chatcmpl-judge-1",
        },
        "gated_reward": {
            "gen_ai.evaluation.name": "gated_reward",
            "gen_ai.evaluation.score.value": 0.8,
            "gen_ai.evaluation.score.label": "ok",
            "gen_ai.response.id": "chatcmpl-judge-1",
        },
    }
    assert SECRET not in json.dumps(attrs) + json.dumps(events)

    (rr,) = points(otel, "judgeguard.rationale_reward")
    assert (rr.count, rr.sum) == (1, pytest.approx(0.8))
    assert dict(rr.attributes) == {"judgeguard.metajudge.model": "openai/gpt-4o-mini"}
    (gr,) = points(otel, "judgeguard.gated_reward")
    assert (gr.count, gr.sum) == (1, pytest.approx(0.8))
    assert tuple(gr.explicit_bounds)[:3] == (0.0, 0.1, 0.2)
    (checks,) = points(otel, "judgeguard.checks")
    assert checks.value == 1
    assert dict(checks.attributes) == {
        "judgeguard.check.status": "consistent",
        "judgeguard.check.cached": False,
        "judgeguard.metajudge.model": "openai/gpt-4o-mini",
    }
    (duration,) = points(otel, "judgeguard.check.duration")
    assert (duration.count, duration.sum) == (1, pytest.approx(1.5))  # check.latency_s


def test_duration_prefers_the_measured_one_and_ignores_a_cached_latency(otel):
    tel = otel.telemetry
    tel.record_check(trace.INVALID_SPAN, good_check(), duration_s=2.0)
    tel.record_check(trace.INVALID_SPAN, good_check(cached=True))  # stale latency: skipped
    by_cached = {
        p.attributes["judgeguard.check.cached"]: p
        for p in points(otel, "judgeguard.check.duration")
    }
    assert set(by_cached) == {False}
    assert (by_cached[False].count, by_cached[False].sum) == (1, pytest.approx(2.0))
    counts = {
        p.attributes["judgeguard.check.cached"]: p.value for p in points(otel, "judgeguard.checks")
    }
    assert counts == {False: 1, True: 1}


def test_failed_check_sets_error_type_on_span_events_and_counter(otel):
    tel = otel.telemetry
    failed = Check(
        status="error",
        reason="timeout",
        error="timeout: Request timed out",
        needs_review=True,
        metajudge_model="openai/gpt-4o-mini",
        latency_s=60.0,
    )
    with tel.evaluator_span(None, child=False) as span:
        tel.record_check(span, failed)
    s = one_span(otel, "evaluate rationale_consistency")
    assert s.status.status_code is StatusCode.ERROR
    assert s.attributes["error.type"] == "timeout"
    assert s.attributes["judgeguard.check.reason"] == "timeout"
    assert "judgeguard.r_rationale" not in s.attributes
    events = evaluation_events(s)
    assert events["rationale_consistency"]["error.type"] == "timeout"
    assert events["rationale_consistency"]["gen_ai.evaluation.score.label"] == "error"
    assert "gen_ai.evaluation.score.value" not in events["rationale_consistency"]
    assert events["gated_reward"]["gen_ai.evaluation.score.label"] == "flagged"
    assert events["gated_reward"]["error.type"] == "timeout"
    assert points(otel, "judgeguard.rationale_reward") == []
    assert points(otel, "judgeguard.gated_reward") == []
    (checks,) = points(otel, "judgeguard.checks")
    assert checks.attributes["judgeguard.check.status"] == "error"
    assert checks.attributes["error.type"] == "timeout"


def test_flagged_inconsistent_check_and_reference_match(otel):
    tel = otel.telemetry
    check = good_check(
        status="inconsistent",
        r_rationale=0.1,
        reward=0.1,
        needs_review=True,
        reference_match=RationaleMatch(recall=0.5, precision=1.0, f1=0.667, ap=0.5),
    )
    with tel.evaluator_span(None, child=False) as span:
        tel.record_check(span, check)
    s = one_span(otel, "evaluate rationale_consistency")
    events = evaluation_events(s)
    assert events["gated_reward"]["gen_ai.evaluation.score.label"] == "flagged"
    assert events["reference_consistency"]["gen_ai.evaluation.score.value"] == 0.5
    assert events["reference_consistency"]["gen_ai.evaluation.score.label"] == "ok"
    assert s.attributes["judgeguard.reference.recall"] == 0.5
    assert s.attributes["judgeguard.reference.ap"] == 0.5


def test_record_check_with_every_optional_field_none(otel):
    tel = otel.telemetry
    with tel.evaluator_span(None, child=False) as span:
        tel.record_check(span, Check(status="skipped"))
        tel.record_check(span, Check(status="unparsed", needs_review=True))
    s = one_span(otel, "evaluate rationale_consistency")
    events = [dict(e.attributes) for e in s.events]
    assert [e["gen_ai.evaluation.score.label"] for e in events] == [
        "skipped",
        "skipped",
        "unparsed",
        "flagged",
    ]
    assert all("gen_ai.response.id" not in e and "error.type" not in e for e in events)
    assert points(otel, "judgeguard.check.duration") == []
    assert sorted(
        p.attributes["judgeguard.check.status"] for p in points(otel, "judgeguard.checks")
    ) == [
        "skipped",
        "unparsed",
    ]


def test_record_cache_counts_hits_and_misses(otel):
    tel = otel.telemetry
    for hit in (True, False, True):
        tel.record_cache(hit)
    lookups = {
        p.attributes["judgeguard.cache.hit"]: p.value
        for p in points(otel, "judgeguard.cache.lookups")
    }
    assert lookups == {True: 2, False: 1}


# -- content capture ------------------------------------------------------------------------
def test_content_is_recorded_when_opted_in_by_flag(otel):
    tel = Telemetry(otel.tracer_provider, otel.meter_provider, capture_content=True)
    j = judgment()
    with tel.judge_span("arena") as judge:
        tel.record_judgment(judge, j, None, 1.0)
        with tel.evaluator_span(tel.link_context(judge), child=True) as ev:
            tel.record_check(ev, good_check())
    assert one_span(otel, "judge arena").attributes["judgeguard.rationale"] == j.rationale
    events = evaluation_events(one_span(otel, "evaluate rationale_consistency"))
    assert events["rationale_consistency"]["gen_ai.evaluation.explanation"] == SECRET
    assert "gen_ai.evaluation.explanation" not in events["gated_reward"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("TRUE", True), ("1", True), ("true", True), ("false", False), ("0", False), ("", False)],
)
def test_content_capture_from_the_environment(otel, monkeypatch, value, expected):
    monkeypatch.setenv(sc.CAPTURE_CONTENT_ENV, value)
    tel = Telemetry(otel.tracer_provider, otel.meter_provider)
    assert tel.capture_content is expected
    monkeypatch.delenv(sc.CAPTURE_CONTENT_ENV)
    assert tel.capture_content is expected  # read once, at construction
    with tel.judge_span("arena") as span:
        tel.record_judgment(span, judgment(), None, None)
    assert ("judgeguard.rationale" in one_span(otel, "judge arena").attributes) is expected


def test_explicit_flag_overrides_the_environment(otel, monkeypatch):
    monkeypatch.setenv(sc.CAPTURE_CONTENT_ENV, "true")
    assert (
        Telemetry(otel.tracer_provider, otel.meter_provider, capture_content=False).capture_content
        is False
    )


# -- CLIENT spans -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "provider", "request_model"),
    [
        ("openai/gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("anthropic/claude-3-5-haiku", "anthropic", "claude-3-5-haiku"),
        ("azure/my-deployment", "azure.ai.openai", "my-deployment"),
        ("bedrock/anthropic.claude-3-haiku", "aws.bedrock", "anthropic.claude-3-haiku"),
        ("vertex_ai/gemini-1.5-pro", "gcp.vertex_ai", "gemini-1.5-pro"),
        ("gemini/gemini-2.0-flash", "gcp.gemini", "gemini-2.0-flash"),
        ("groq/llama-3.1-8b", "groq", "llama-3.1-8b"),
        ("mistral/mistral-large", "mistral_ai", "mistral-large"),
        ("cohere/command-r", "cohere", "command-r"),
        ("deepseek/deepseek-chat", "deepseek", "deepseek-chat"),
        ("ollama/llama3", "ollama", "llama3"),
        ("hosted_vllm/meta-llama/Llama-3-8B", "hosted_vllm", "meta-llama/Llama-3-8B"),
    ],
)
def test_llm_span_name_kind_and_genai_attributes(otel, model, provider, request_model):
    tel = otel.telemetry
    with tel.evaluator_span(None, child=False), tel.llm_span(model) as span:
        assert trace.get_current_span() is span
    s = one_span(otel, f"chat {request_model}")
    assert s.kind is SpanKind.CLIENT
    assert s.parent.span_id == one_span(otel, "evaluate rationale_consistency").context.span_id
    assert dict(s.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": request_model,
    }


def test_record_llm_result_usage_and_error(otel):
    tel = otel.telemetry
    result = CallResult(
        text="{}",
        input_tokens=120,
        output_tokens=30,
        cost_usd=0.001,
        response_model="gpt-4o-mini-2024-07-18",
        response_id="chatcmpl-1",
    )
    with tel.llm_span("openai/gpt-4o-mini") as span:
        tel.record_llm_result(span, result=result)
    with tel.llm_span("openai/gpt-4o-mini") as span:
        tel.record_llm_result(span, error=CallFailed("rate_limited", "429", True, 429))
    with tel.llm_span("openai/gpt-4o-mini") as span:
        tel.record_llm_result(span, error=ConnectionResetError("reset"))
    ok, limited, reset = spans(otel, "chat gpt-4o-mini")
    assert ok.attributes["gen_ai.usage.input_tokens"] == 120
    assert ok.attributes["gen_ai.usage.output_tokens"] == 30
    assert ok.attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert ok.attributes["gen_ai.response.id"] == "chatcmpl-1"
    assert ok.attributes["judgeguard.usage.cost_usd"] == 0.001
    assert ok.status.status_code is StatusCode.UNSET
    assert limited.status.status_code is StatusCode.ERROR
    assert limited.attributes["error.type"] == "rate_limited"
    assert [e.name for e in limited.events] == ["exception"]
    assert reset.attributes["error.type"] == "ConnectionResetError"


# -- a real MetaJudge check through litellm -------------------------------------------------
def test_metajudge_check_in_an_evaluator_span_makes_a_client_child_span(configured):
    tel = get_telemetry()
    assert tel is configured.telemetry
    j = jg.parse(ARENA)
    with tel.judge_span("arena") as judge:
        tel.record_judgment(judge, j, None, 0.0)
        with tel.evaluator_span(tel.link_context(judge), child=True) as ev:
            check = jg.MetaJudge("openai/gpt-4o-mini", mock_response=B_WINS).check(j)
            tel.record_check(ev, check)
    assert check.status == "consistent"
    judge_span = one_span(configured, "judge arena")
    ev_span = one_span(configured, "evaluate rationale_consistency")
    client = one_span(configured, "chat gpt-4o-mini")
    assert client.kind is SpanKind.CLIENT
    assert client.parent.span_id == ev_span.context.span_id
    assert ev_span.parent.span_id == judge_span.context.span_id
    assert client.context.trace_id == judge_span.context.trace_id
    attrs = dict(client.attributes)
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.usage.input_tokens"] == check.usage.input_tokens > 0
    assert attrs["gen_ai.usage.output_tokens"] == check.usage.output_tokens > 0
    assert attrs["gen_ai.response.id"]
    assert attrs["gen_ai.response.model"]
    assert client.status.status_code is StatusCode.UNSET
    assert evaluation_events(ev_span)["rationale_consistency"][
        "gen_ai.evaluation.score.value"
    ] == pytest.approx(0.9)
    everything = json.dumps([dict(s.attributes) for s in spans(configured)])
    assert j.rationale not in everything and "B's loop is correct." not in everything


def test_each_attempt_gets_its_own_client_span(configured, loopback_llm):
    loopback_llm.script(Reply(status=503), B_WINS)
    mj = jg.MetaJudge(
        "openai/judge-test",
        api_base=loopback_llm.base_url,
        api_key="sk-test",
        retries=1,
        backoff=0.01,
        timeout=5,
        structured_output=False,
    )
    with get_telemetry().evaluator_span(None, child=False):
        check = mj.check(jg.parse(ARENA))
    assert check.status == "consistent"
    first, second = spans(configured, "chat judge-test")
    ev_span = one_span(configured, "evaluate rationale_consistency")
    assert first.parent.span_id == second.parent.span_id == ev_span.context.span_id
    assert first.status.status_code is StatusCode.ERROR
    assert first.attributes["error.type"] == "server_error"
    assert second.status.status_code is StatusCode.UNSET
    assert second.attributes["gen_ai.usage.input_tokens"] > 0


def test_a_failed_call_marks_client_and_evaluator_spans(configured, loopback_llm):
    loopback_llm.script(Reply(status=401))
    mj = jg.MetaJudge(
        "openai/judge-test",
        api_base=loopback_llm.base_url,
        api_key="sk-test",
        retries=0,
        timeout=5,
        structured_output=False,
    )
    tel = get_telemetry()
    with tel.evaluator_span(None, child=False) as ev:
        check = mj.check(jg.parse(ARENA))
        tel.record_check(ev, check)
    assert (check.status, check.reason) == ("error", "auth_error")
    client = one_span(configured, "chat judge-test")
    assert client.status.status_code is StatusCode.ERROR
    assert client.attributes["error.type"] == "auth_error"
    assert [e.name for e in client.events] == ["exception"]  # recorded once
    ev_span = one_span(configured, "evaluate rationale_consistency")
    assert ev_span.attributes["error.type"] == "auth_error"


async def test_acall_client_span_is_a_child_of_the_current_span(configured):
    tracer = configured.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("app request") as parent:
        result = await acall(
            "openai/gpt-4o-mini",
            [{"role": "user", "content": "hi"}],
            {"mock_response": "hello"},
            policy=RetryPolicy(retries=0),
            timeout=5,
        )
    assert result.text == "hello"
    client = one_span(configured, "chat gpt-4o-mini")
    assert client.parent.span_id == parent.get_span_context().span_id
    assert trace.get_current_span() is trace.INVALID_SPAN


# -- nothing configured / not recording ----------------------------------------------------------
def test_noop_providers_record_nothing_and_fail_nothing():
    tel = Telemetry(trace.NoOpTracerProvider(), metrics.NoOpMeterProvider())
    with tel.judge_span("arena") as judge:
        assert judge.is_recording() is False
        tel.record_judgment(judge, judgment(), None, 1.0)
        assert tel.link_context(judge) is None
        with tel.evaluator_span(tel.link_context(judge), child=True) as ev:
            assert ev.is_recording() is False
            with tel.llm_span("openai/gpt-4o-mini") as llm:
                assert llm.is_recording() is False
                tel.record_llm_result(llm, error=ValueError("x"))
            tel.record_check(ev, good_check())
            tel.record_check(ev, Check(status="error"))
    tel.record_cache(True)


def test_attributes_are_not_built_for_a_non_recording_span(otel):
    tel = Telemetry(otel.tracer_provider, otel.meter_provider, capture_content=True)
    span = ExplodingSpan()
    tel.record_judgment(span, judgment(), jg.VerdictNotFound("x"), 1.0)
    tel.record_check(span, good_check(reference_match=RationaleMatch(recall=1.0)))
    tel.record_llm_result(span, CallResult(text="x"), ValueError("x"))
    assert spans(otel) == []
    assert len(points(otel, "judgeguard.checks")) == 1  # metrics are recorded regardless


def test_sampled_out_spans_still_give_metrics(monkeypatch):
    monkeypatch.delenv(sc.CAPTURE_CONTENT_ENV, raising=False)
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(sampler=ALWAYS_OFF)
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    tel = Telemetry(tracer_provider, MeterProvider(metric_readers=[reader]))
    with (
        tel.judge_span("arena") as judge,
        tel.evaluator_span(tel.link_context(judge), child=True) as ev,
    ):
        assert ev.is_recording() is False
        tel.record_check(ev, good_check())
    assert exporter.get_finished_spans() == ()
    names = {
        m.name
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert {"judgeguard.checks", "judgeguard.rationale_reward", "judgeguard.gated_reward"} <= names


def _run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=True,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    ).stdout


def test_without_any_provider_a_whole_check_runs_and_nothing_records():
    out = _run(
        f"""
        import json, sys
        import judgeguard as jg
        from judgeguard.telemetry import get_telemetry
        from judgeguard.schema import Check

        tel = get_telemetry()
        j = jg.parse({ARENA!r})
        with tel.judge_span("arena") as judge:
            assert not judge.is_recording()
            tel.record_judgment(judge, j, None, 0.0)
            with tel.evaluator_span(tel.link_context(judge), child=True) as ev:
                assert not ev.is_recording()
                c = jg.MetaJudge("openai/gpt-4o-mini", mock_response={B_WINS!r}).check(j)
                tel.record_check(ev, c)
                tel.record_check(ev, Check(status="error"))
        tel.record_cache(False)
        print(c.status)
        print(any(m.startswith("opentelemetry.sdk") for m in sys.modules))
        """
    )
    assert out.split() == ["consistent", "False"]


def test_a_global_provider_installed_later_is_honoured():
    out = _run(
        """
        from judgeguard.telemetry import get_telemetry

        tel = get_telemetry()  # built before the application configures OpenTelemetry
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        with tel.judge_span("late") as span:
            assert span.is_recording()
        tel.record_cache(True)
        print([s.name for s in exporter.get_finished_spans()])
        data = reader.get_metrics_data()
        rms = data.resource_metrics
        print([m.name for rm in rms for sm in rm.scope_metrics for m in sm.metrics])
        """
    )
    assert "judge late" in out and "judgeguard.cache.lookups" in out


def test_importing_judgeguard_does_not_load_telemetry_or_the_sdk():
    out = _run(
        """
        import sys
        import judgeguard
        def loaded(*prefixes):
            return sorted(m for m in sys.modules if m.startswith(prefixes))
        print(loaded("judgeguard.telemetry", "opentelemetry"))
        import judgeguard.telemetry
        print(loaded("opentelemetry.sdk", "pydantic", "litellm"))
        """
    )
    assert out.split("\n")[:2] == ["[]", "[]"]


@pytest.mark.usefixtures("isolated_judgeguard")
@pytest.mark.parametrize("wait", [False, True])
def test_checks_carry_the_ids_of_their_judge_span_and_evaluator_span(loopback_llm, otel, wait):
    loopback_llm.responder = lambda body: B_WINS
    mj = jg.MetaJudge("openai/judge-test", api_base=loopback_llm.base_url, api_key="k")
    judge = jg.guard(lambda: ARENA, metajudge=mj, telemetry=otel.telemetry, wait=wait, name="a")
    check = judge.run().check(10)
    judge_span = one_span(otel, "judge a")
    evaluator = one_span(otel, "evaluate rationale_consistency")
    assert evaluator.parent.span_id == judge_span.context.span_id
    assert check.trace_id == f"{judge_span.context.trace_id:032x}"
    assert check.span_id == f"{judge_span.context.span_id:016x}"
    assert check.evaluator_span_id == f"{evaluator.context.span_id:016x}"
    untraced = jg.guard(lambda: ARENA, metajudge=mj).run().check(10)
    assert (untraced.trace_id, untraced.span_id, untraced.evaluator_span_id) == (None,) * 3


@pytest.mark.usefixtures("isolated_judgeguard")
def test_the_judge_span_shows_input_and_output_only_with_content_capture(otel):
    captured = Telemetry(otel.tracer_provider, otel.meter_provider, capture_content=True)

    def judge(question, answer_a, answer_b="b"):
        return ARENA

    jg.guard(judge, telemetry=captured, name="shown")("Which is right?", "a")
    jg.guard(judge, telemetry=otel.telemetry, name="hidden")("Which is right?", "a")
    deep = {"score": 5}
    for _ in range(3000):
        deep = {"inner": deep}
    assert jg.guard(lambda: deep, telemetry=captured, name="deep")() is deep
    shown, hidden = one_span(otel, "judge shown"), one_span(otel, "judge hidden")
    for span in (shown, hidden, one_span(otel, "judge deep")):
        assert span.attributes[sc.OPENINFERENCE_SPAN_KIND] == sc.OPENINFERENCE_SPAN_KIND_CHAIN
    assert json.loads(shown.attributes[sc.INPUT_VALUE]) == {
        "question": "Which is right?",
        "answer_a": "a",
        "answer_b": "b",
    }
    assert shown.attributes[sc.INPUT_MIME_TYPE] == "application/json"
    assert shown.attributes[sc.OUTPUT_VALUE] == ARENA
    assert sc.INPUT_VALUE not in hidden.attributes and sc.OUTPUT_VALUE not in hidden.attributes
    assert len(one_span(otel, "judge deep").attributes[sc.OUTPUT_VALUE]) <= sc.CONTENT_LIMIT + 1


def test_metrics_carry_the_checked_judges_name_to_chart_reliability_per_judge(otel):
    from guard_helpers import metric_points

    def arena_judge(i):
        return "A is right.\n\nMy final verdict is: [[A>B]]"

    judge = jg.guard(arena_judge, telemetry=otel.telemetry)
    judge(1)
    assert jg.flush(10) == 0
    (point,) = metric_points(otel.reader, sc.METRIC_CHECKS)
    assert point.attributes[sc.JUDGEGUARD_JUDGE_NAME] == arena_judge.__qualname__  # as the span
