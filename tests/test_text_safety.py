"""Text judgeguard records or sends: lone surrogates (issue 11.4), secrets and content in
error texts (issue 11.14). Real requests against the loopback server; spans in memory."""

import io
import json

import pytest
from guard_helpers import B_WINS, mj_for, verdict_text
from loopback import Reply
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import judgeguard as jg
import judgeguard.telemetry as telemetry_module
from judgeguard import semconv as sc
from judgeguard.audit import AuditConfig, run_audit
from judgeguard.cache import DiskCache, cache_key
from judgeguard.cli import main
from judgeguard.metajudge.client import classify
from judgeguard.scrub import REDACTED, clean_text, key_bytes, redact_secrets
from judgeguard.telemetry import configure_telemetry

pytestmark = pytest.mark.usefixtures("isolated_judgeguard")

LONE = "\ud800"
SURROGATE_OUTPUT = (
    f"Assistant A's loop skips the last element {LONE} while Assistant B's loop is correct."
    "\n\nMy final verdict is: [[B>>A]]"
)


@pytest.fixture
def spans(monkeypatch):
    """The process telemetry on in-memory providers; ``spans.capture(bool)`` reconfigures."""
    monkeypatch.delenv(sc.CAPTURE_CONTENT_ENV, raising=False)
    monkeypatch.setattr(telemetry_module, "_default", None)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    meters = MeterProvider()

    class Spans:
        def capture(self, on):
            configure_telemetry(provider, meters, capture_content=on)

        def texts(self):
            """Every string recorded on any span: attributes, status, event attributes."""
            out = []
            for span in exporter.get_finished_spans():
                out.append(span.status.description or "")
                out.extend(str(v) for v in (span.attributes or {}).values())
                for event in span.events:
                    out.extend(str(v) for v in (event.attributes or {}).values())
            return "\n".join(out)

        def finished(self):
            return exporter.get_finished_spans()

    recorder = Spans()
    recorder.capture(False)
    yield recorder
    provider.shutdown()
    meters.shutdown()


def _prompt(request):
    return "\n".join(m["content"] for m in request["messages"])


# -- lone surrogates (issue 11.4) ----------------------------------------------------------
@pytest.mark.parametrize("cache", [True, False], ids=["cache on", "cache off"])
def test_a_lone_surrogate_in_the_rationale_is_checked_not_an_error(loopback_llm, tmp_path, cache):
    loopback_llm.script(B_WINS, B_WINS)
    judge = jg.guard(
        lambda: SURROGATE_OUTPUT,
        metajudge=mj_for(loopback_llm),
        cache=DiskCache(tmp_path / "c") if cache else False,
    )
    first = judge.run().check(30)
    assert (first.status, first.reason) == ("consistent", None)
    assert len(loopback_llm.requests) == 1
    prompt = _prompt(loopback_llm.requests[0])
    assert "\ufffd" in prompt and "skips the last element" in prompt
    second = judge.run().check(30)
    assert second.status == "consistent" and second.cached is cache


def test_keys_keep_a_lone_surrogate_apart_from_its_replacement():
    with_lone = cache_key("support", rationale=f"x{LONE}y")
    with_fffd = cache_key("support", rationale="x\ufffdy")
    assert with_lone != with_fffd
    assert key_bytes(LONE) == b"\xed\xa0\x80"
    assert clean_text(f"a{LONE}b\udfffc") == "a\ufffdb\ufffdc"
    plain = "plain ascii"
    assert clean_text(plain) is plain


def test_a_lone_surrogate_in_the_answer_is_stored_and_recorded(loopback_llm, tmp_path, spans):
    spans.capture(True)
    answer = json.loads(B_WINS)
    answer["explanation"] = "B is right \\ud800 here"
    loopback_llm.script(json.dumps(answer).replace("\\\\ud800", "\\ud800"))
    cache = DiskCache(tmp_path / "c")
    judge = jg.guard(lambda: SURROGATE_OUTPUT, metajudge=mj_for(loopback_llm), cache=cache)
    check = judge.run().check(30)
    assert check.status == "consistent" and check.explanation == "B is right \ufffd here"
    assert len(cache) == 1  # stored despite the surrogate
    assert judge.run().check(30).cached is True
    texts = spans.texts()
    texts.encode("utf-8")  # what an exporter must be able to do
    assert "skips the last element \ufffd" in texts  # the rationale, cleaned


def test_an_encoding_failure_on_this_side_is_not_a_server_error(loopback_llm):
    loopback_llm.script(B_WINS)
    mj = mj_for(loopback_llm, extra_body={"note": f"bad {LONE}"})
    check = mj.check(jg.parse(verdict_text()))
    assert (check.status, check.reason) == ("error", "encoding_error")
    assert loopback_llm.requests == []  # nothing was sent
    cause = UnicodeEncodeError("utf-8", LONE, 0, 1, "surrogates not allowed")
    wrapped = RuntimeError("InternalServerError: OpenAIException - boom")
    wrapped.__cause__ = cause
    assert classify(wrapped)[0] == "encoding_error"


def test_an_audit_line_with_a_lone_surrogate_keeps_its_outcome(loopback_llm, tmp_path):
    loopback_llm.responder = lambda body: B_WINS
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps({"id": 1, "judge": "J", "output": SURROGATE_OUTPUT}) + "\n")
    cache = DiskCache(tmp_path / "c")
    config = AuditConfig(metajudge=mj_for(loopback_llm), cache=cache)
    for attempt in ("fresh", "from the line cache"):
        out = io.StringIO()
        run_audit(log, config, out=out)
        (line,) = [json.loads(x) for x in out.getvalue().splitlines()]
        assert line["status"] == "consistent" and line["r_outcome"] == 0.0, attempt
    assert not cache.disabled and line["cached"] is True
    assert len(loopback_llm.requests) == 1


def test_a_record_with_a_lone_surrogate_is_stored_cleaned_without_disabling(tmp_path):
    cache = DiskCache(tmp_path / "c")
    assert cache.put_record("k", f"a{LONE}b") is True
    assert cache.get_record("k") == "a\ufffdb" and not cache.disabled


# -- secrets and content in error texts (issue 11.14) --------------------------------------
LEAKED_KEY = "sk-live-4f9a8b7c6d5e4f3a2b1c"
ECHOED_PROMPT_MARK = "skips the last element"


def _gateway_echo(body):
    """A gateway that echoes the caller's API key and the prompt in a 400 error."""
    return Reply(
        status=400,
        content=f"invalid request for key {LEAKED_KEY}: {_prompt(body)[:400]}",
    )


def test_check_error_has_no_credential(loopback_llm):
    loopback_llm.responder = _gateway_echo
    mj = jg.MetaJudge(
        "openai/judge-test", api_base=loopback_llm.base_url, api_key=LEAKED_KEY, retries=0
    )
    check = mj.check(jg.parse(verdict_text()))
    assert (check.status, check.reason) == ("error", "bad_request")
    assert LEAKED_KEY not in (check.error or "") and REDACTED in (check.error or "")


def test_a_key_of_any_shape_that_was_configured_is_redacted(loopback_llm):
    odd_key = "acme.7f3c1e2b9d"
    loopback_llm.script(Reply(status=401, content=f"unknown credential {odd_key}"))
    mj = jg.MetaJudge(
        "openai/judge-test", api_base=loopback_llm.base_url, api_key=odd_key, retries=0
    )
    check = mj.check(jg.parse(verdict_text()))
    assert check.reason == "auth_error" and odd_key not in (check.error or "")


def test_spans_carry_reason_and_status_but_no_provider_text_without_capture(loopback_llm, spans):
    loopback_llm.responder = _gateway_echo
    judge = jg.guard(
        lambda: verdict_text(),
        metajudge=jg.MetaJudge(
            "openai/judge-test", api_base=loopback_llm.base_url, api_key=LEAKED_KEY, retries=0
        ),
        cache=False,
    )
    check = judge.run().check(30)
    assert check.reason == "bad_request"
    texts = spans.texts()
    assert LEAKED_KEY not in texts
    assert ECHOED_PROMPT_MARK not in texts and "invalid request for key" not in texts
    (client,) = [s for s in spans.finished() if s.name.startswith("chat ")]
    assert client.attributes["error.type"] == "bad_request"
    assert client.status.description == "CallFailed: bad_request (HTTP 400)"


def test_with_capture_the_provider_text_is_recorded_redacted(loopback_llm, spans):
    spans.capture(True)
    loopback_llm.responder = _gateway_echo
    judge = jg.guard(
        lambda: verdict_text(),
        metajudge=jg.MetaJudge(
            "openai/judge-test", api_base=loopback_llm.base_url, api_key=LEAKED_KEY, retries=0
        ),
        cache=False,
    )
    judge.run().check(30)
    texts = spans.texts()
    assert "invalid request for key" in texts and LEAKED_KEY not in texts


def test_audit_out_lines_have_no_credential(loopback_llm, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_BASE", loopback_llm.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", LEAKED_KEY)
    loopback_llm.responder = _gateway_echo
    log = tmp_path / "log.jsonl"
    rows = [{"id": i, "judge": "J", "output": verdict_text(i)} for i in range(3)]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    main(
        ["audit", str(log), "--metajudge", "openai/judge-test", "--out", str(out),
         "--json", "--no-progress", "--no-cache"]
    )  # fmt: skip
    captured = capsys.readouterr()
    text = out.read_text(encoding="utf-8")
    assert text.count("bad_request") >= 3
    assert LEAKED_KEY not in text and LEAKED_KEY not in captured.out + captured.err


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        (
            "Incorrect API key provided: sk-proj-abcdefghijklmnop1234.",
            "Incorrect API key",
            "sk-proj",
        ),
        ("Authorization: Bearer abcdef123456789 rejected", "rejected", "abcdef123456789"),
        ("failed https://bob:hunter22@gw.example.com/v1", "bob:", "hunter22"),
        ("GET /v1?key=AIzaSyA1234567890123456789012345678901&alt=json", "alt=json", "AIzaSy"),
        ("env OPENAI_API_KEY=abc123def456 is wrong", "is wrong", "abc123def456"),
        ('{"api_key": "zz-9988776655"}', '"api_key"', "9988776655"),
        ("x-api-key: qwerty-12345678", "x-api-key", "qwerty-12345678"),
        ("token eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0NTY3.abcdefghijklmnop", "token", "eyJhbGci"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization", "dXNlcjpw"),
    ],
)
def test_redact_secrets_removes_credentials(text, kept, gone):
    out = redact_secrets(text)
    assert gone not in out and kept in out and REDACTED in out


@pytest.mark.parametrize(
    "text",
    [
        "This model's maximum context length is 8192 tokens (max_tokens=1000).",
        "{'type': 'invalid_request_error', 'code': 'invalid_api_key'}",
        "Basic information is missing; prompt_tokens: 1234",
        "Rate limit reached for requests; see https://platform.example.com/docs/limits",
    ],
)
def test_redact_secrets_leaves_ordinary_error_text_alone(text):
    assert redact_secrets(text) == text
