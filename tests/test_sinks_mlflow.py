"""The MLflow sink against a loopback fake of MLflow's REST API: what it posts, retries,
drops and counts. (The real tracking server: tests/test_sinks_mlflow_server.py, -m mlflow.)"""

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_sinks import sink_counts

import judgeguard as jg
from judgeguard.sinks import from_spec
from judgeguard.sinks import mlflow as mlflow_sink
from judgeguard.sinks.base import SinkError
from judgeguard.sinks.mlflow import MLflow

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"


class FakeMLflow:
    """A loopback HTTP server recording every request; ``script`` queues replies
    ``(status, body, headers)``; once they run out it answers 200."""

    def __init__(self):
        self.requests = []
        self.replies = []
        self.respond = lambda path: None  # path -> a reply, or None for 200 (after replies)
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with owner.lock:
                    owner.requests.append(
                        (self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                    )
                    status, body, headers = (
                        owner.replies.pop(0)
                        if owner.replies
                        else owner.respond(self.path) or (200, {"assessment": {}}, {})
                    )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def script(self, *replies):
        with self.lock:
            self.replies.extend(replies)

    def assessments(self):
        """The assessment bodies posted, in order (the path's trace id checked)."""
        out = []
        for path, _, raw in self.requests:
            if "/assessments" in path:
                body = json.loads(raw)["assessment"]
                assert path == f"/api/3.0/mlflow/traces/{body['trace_id']}/assessments"
                out.append(body)
        return out

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    server = FakeMLflow()
    yield server
    server.close()


@pytest.fixture
def fast_not_ingested(monkeypatch):
    monkeypatch.setattr(mlflow_sink, "NOT_INGESTED_RETRY_AFTER", 0.01)


def a_check(i=0, **fields):
    values = {
        "status": "consistent",
        "verdict": jg.Verdict.pairwise("B", 2),
        "supported": jg.Verdict.pairwise("B", 2),
        "r_rationale": 0.6,
        "r_outcome": 0.0,
        "reward": 0.0,
        "explanation": f"B's loop is correct ({i}).",
        "metajudge_model": "openai/meta-test",
        "trace_id": f"{i:032x}" if i else TRACE,
        "span_id": SPAN,
        "evaluator_span_id": "00f067aa0ba902b7",
    }
    values.update(fields)
    return jg.Check(**values)


def a_sink(fake, otel, **options):
    options.setdefault("flush_interval", 0.01)
    return MLflow(fake.url, experiment_id="7", telemetry=otel.telemetry, **options)


def test_each_check_becomes_two_feedback_assessments_on_the_judge_span(fake, otel):
    sink = a_sink(fake, otel, headers={"Authorization": "Bearer t0ken"})
    sink(a_check())
    assert sink.flush(10) == 0
    consistency, reward = fake.assessments()
    assert consistency["assessment_name"] == "rationale_consistency"
    assert consistency["trace_id"] == f"tr-{TRACE}"  # how MLflow names an OTLP-ingested trace
    assert consistency["span_id"] == SPAN
    assert consistency["feedback"] == {"value": 0.6}
    assert consistency["rationale"] == "B's loop is correct (0)."
    assert consistency["source"] == {"source_type": "LLM_JUDGE", "source_id": "openai/meta-test"}
    assert consistency["metadata"]["judgeguard.status"] == "consistent"
    assert consistency["metadata"]["judgeguard.supported"] == "B>>A"
    assert consistency["metadata"]["judgeguard.evaluator_span_id"] == "00f067aa0ba902b7"
    assert all(isinstance(v, str) for v in consistency["metadata"].values())  # map<string,string>
    assert reward["assessment_name"] == "gated_reward"
    assert reward["feedback"] == {"value": 0.0}
    assert reward["span_id"] == SPAN
    assert reward["rationale"] == "R_rationale 0.6 x R_outcome 0"
    _, headers, _ = fake.requests[0]
    assert headers["authorization"] == "Bearer t0ken"
    assert sink_counts(otel.reader) == {"posted": 1}
    sink.close()


def test_a_check_that_failed_posts_feedback_errors_not_made_up_values(fake, otel):
    sink = a_sink(fake, otel)
    sink(
        a_check(
            status="error",
            r_rationale=None,
            reward=None,
            explanation=None,
            reason="metajudge_timeout",
            error="TimeoutError: no answer in 5 s",
        )
    )
    assert sink.flush(10) == 0
    consistency, reward = fake.assessments()
    for body in (consistency, reward):
        assert "value" not in body["feedback"]
        assert body["feedback"]["error"] == {
            "error_code": "metajudge_timeout",
            "error_message": "TimeoutError: no answer in 5 s",
        }
        assert "rationale" not in body
    sink.close()


def test_a_503_is_retried_and_nothing_is_posted_twice(fake, otel):
    fake.script((200, {"assessment": {}}, {}), (503, {"message": "busy"}, {"Retry-After": "0"}))
    sink = a_sink(fake, otel)
    sink(a_check())
    assert sink.flush(10) == 0
    names = [a["assessment_name"] for a in fake.assessments()]
    # the 503 hit gated_reward: the retry re-posts only that one
    assert names == ["rationale_consistency", "gated_reward", "gated_reward"]
    assert sink_counts(otel.reader) == {"posted": 1}
    sink.close()


def test_a_429_waits_what_retry_after_says(fake, otel):
    fake.script((429, {"message": "slow down"}, {"Retry-After": "0.3"}))
    sink = a_sink(fake, otel)
    sink(a_check())
    started = time.perf_counter()
    assert sink.flush(10) == 0
    assert time.perf_counter() - started >= 0.3
    assert len(fake.assessments()) == 3
    sink.close()


def test_a_trace_not_ingested_yet_is_retried(fake, otel, fast_not_ingested):
    missing = {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Trace not found."}
    fake.script((404, missing, {}), (404, missing, {}))
    sink = a_sink(fake, otel)
    sink(a_check())
    assert sink.flush(10) == 0
    assert [a["assessment_name"] for a in fake.assessments()] == [
        "rationale_consistency",
        "rationale_consistency",
        "rationale_consistency",
        "gated_reward",
    ]
    assert sink_counts(otel.reader) == {"posted": 1}
    sink.close()


def test_a_trace_that_never_arrives_ends_failed_with_a_warning_saying_why(
    fake, otel, fast_not_ingested, caplog
):
    missing = {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Trace not found."}
    fake.script(*[(404, missing, {})] * 3)
    sink = a_sink(fake, otel, max_attempts=3)
    with caplog.at_level(logging.WARNING, logger="judgeguard"):
        sink(a_check())
        assert sink.flush(10) == 0
    assert sink_counts(otel.reader) == {"failed": 1}
    assert "x-mlflow-experiment-id: 7" in caplog.text
    assert "/v1/traces" in caplog.text
    sink.close()


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "bad assessment"}),
        (403, {"error_code": "PERMISSION_DENIED", "message": "no"}),
        (404, "<html>Not Found</html>"),  # not an MLflow server (or a wrong prefix)
    ],
)
def test_a_refused_post_is_dropped_counted_and_logged_and_the_next_checks_go_through(
    fake, otel, caplog, status, body
):
    fake.script((status, body, {}))
    sink = a_sink(fake, otel)
    with caplog.at_level(logging.WARNING, logger="judgeguard"):
        sink(a_check(1))
        assert sink.flush(10) == 0
    sink(a_check(2))
    assert sink.flush(10) == 0
    assert sink_counts(otel.reader) == {"failed": 1, "posted": 1}
    assert len(fake.requests) == 3  # the refused one was not retried
    assert f"({status})" in caplog.text
    sink.close()


def test_a_down_server_never_blocks_the_caller_and_ends_counted(otel, caplog):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = MLflow(
        f"http://127.0.0.1:{port}",
        flush_interval=0.01,
        max_attempts=2,
        timeout=1,
        telemetry=otel.telemetry,
    )
    started = time.perf_counter()
    for i in range(1, 6):
        sink(a_check(i))
    assert time.perf_counter() - started < 0.1
    with caplog.at_level(logging.WARNING, logger="judgeguard"):
        assert sink.flush(30) == 0
    assert sink_counts(otel.reader) == {"failed": 5}
    assert "unreachable" in caplog.text
    sink.close()


def test_a_check_without_trace_ids_is_skipped_counted_and_warned_once(fake, otel, caplog):
    sink = a_sink(fake, otel)
    with caplog.at_level(logging.WARNING, logger="judgeguard"):
        for _ in range(3):
            sink(a_check(trace_id=None, span_id=None))
    assert sink.flush(10) == 0
    assert fake.requests == []
    assert sink_counts(otel.reader) == {"skipped": 3}
    assert sink.counts["skipped"] == 3
    assert caplog.text.count("without a judge span id") == 1
    sink.close()


def test_span_exporter_sends_otlp_to_the_experiment(fake):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    sink = MLflow(fake.url + "/", experiment_id=12, headers={"Authorization": "Basic eA=="})
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(sink.span_exporter()))
    provider.get_tracer("t").start_span("judge x").end()
    provider.shutdown()
    ((path, headers, raw),) = fake.requests
    assert path == "/v1/traces"
    assert headers["x-mlflow-experiment-id"] == "12"
    assert headers["authorization"] == "Basic eA=="
    assert headers["content-type"] == "application/x-protobuf"
    assert b"judge x" in raw
    sink.close()


@pytest.mark.parametrize("uri", ["databricks", "file:///tmp/mlruns", "127.0.0.1:5000", ""])
def test_a_tracking_uri_that_is_not_a_server_url_is_a_typed_error(uri):
    with pytest.raises(SinkError, match="http"):
        MLflow(uri)


def test_the_cli_spec_builds_an_mlflow_sink(fake):
    sink = from_spec(f"mlflow={fake.url}/")
    assert isinstance(sink, MLflow)
    assert sink.tracking_uri == fake.url
    assert sink.experiment_id == "0"
    assert jg.sinks.MLflow is MLflow
    sink.close()


def test_the_experiment_comes_from_the_argument_the_uri_or_mlflows_variable(fake, monkeypatch):
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "5")
    made = [
        MLflow(fake.url, experiment_id=3),
        from_spec(f"mlflow={fake.url}/?experiment_id=4"),
        MLflow(fake.url),
    ]
    assert [(s.tracking_uri, s.experiment_id) for s in made] == [
        (fake.url, "3"),
        (fake.url, "4"),
        (fake.url, "5"),
    ]
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID")
    made.append(MLflow(fake.url))
    assert made[-1].experiment_id == "0"
    for sink in made:
        sink.close()


@pytest.mark.parametrize(
    ("uri", "options"),
    [
        ("http://h:5000?experiment_id=4", {"experiment_id": "5"}),
        ("http://h:5000?experiment=4", {}),
        ("http://h:5000#4", {}),
        ("http://h:5000", {"experiment_id": " "}),
    ],
)
def test_an_unclear_experiment_is_a_typed_error(uri, options):
    with pytest.raises(SinkError, match="experiment"):
        MLflow(uri, **options)


def test_a_check_rebuilt_from_an_audit_record_carries_its_line_in_the_metadata(fake, otel):
    from judgeguard.sinks.base import check_from_record

    record = {"status": "inconsistent", "r_rationale": 0.1, "reward": 0.0, "verdict": "A>B"}
    check = check_from_record({**record, "line": 7, "id": "q-7", "judge": "J1"}, "openai/m")
    sink = a_sink(fake, otel)
    sink(check.model_copy(update={"trace_id": TRACE, "span_id": SPAN}))
    assert sink.flush(10) == 0
    consistency, _ = fake.assessments()
    metadata = consistency["metadata"]
    assert (metadata["judgeguard.line"], metadata["judgeguard.id"]) == ("7", "q-7")
    assert (metadata["judgeguard.verdict"], metadata["judgeguard.judge"]) == ("A>B", "J1")
    sink.close()


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"MLFLOW_TRACKING_TOKEN": "tok"}, "Bearer tok"),
        ({"MLFLOW_TRACKING_USERNAME": "u", "MLFLOW_TRACKING_PASSWORD": "p"}, "Basic dTpw"),
    ],
)
def test_mlflows_credential_variables_reach_both_requests(
    fake, otel, monkeypatch, variables, expected
):
    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    sink = a_sink(fake, otel)
    sink(a_check())
    assert sink.flush(10) == 0
    exporter = sink.span_exporter()
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.get_tracer("t").start_span("judge x").end()
    provider.shutdown()
    assert [h["authorization"] for _, h, _ in fake.requests] == [expected] * 3
    sink.close()


def test_the_sinks_span_processor_is_flushed_before_feedback_is_posted(fake, otel):
    from opentelemetry.sdk.trace import TracerProvider

    sink = a_sink(fake, otel)
    provider = TracerProvider()
    provider.add_span_processor(sink.span_processor(schedule_delay_millis=60_000))
    span = provider.get_tracer("t").start_span("judge x")
    span.end()  # queued in the processor for a minute
    context = span.get_span_context()
    sink(a_check(trace_id=f"{context.trace_id:032x}", span_id=f"{context.span_id:016x}"))
    assert sink.flush(10) == 0
    paths = [path for path, _, _ in fake.requests]
    assert paths[0] == "/v1/traces"  # the judge span went first
    assert len(paths) == 3
    assert fake.assessments()[0]["trace_id"] == f"tr-{context.trace_id:032x}"
    sink.close()
    provider.shutdown()


def test_a_check_whose_trace_is_missing_does_not_hold_up_the_rest_of_its_batch(
    fake, otel, fast_not_ingested, caplog
):
    missing = {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Trace not found."}
    fake.respond = lambda path: (404, missing, {}) if f"tr-{1:032x}" in path else None
    sink = a_sink(fake, otel, flush_interval=0.5, max_attempts=2)
    for i in (1, 2, 3):
        sink(a_check(i))
    with caplog.at_level(logging.WARNING, logger="judgeguard"):
        assert sink.flush(10) == 0
    posted = [(a["trace_id"][-1], a["assessment_name"]) for a in fake.assessments()]
    # checks 2 and 3 went through on the first attempt; the retry asked only for check 1
    assert posted == [
        ("1", "rationale_consistency"),
        ("2", "rationale_consistency"),
        ("2", "gated_reward"),
        ("3", "rationale_consistency"),
        ("3", "gated_reward"),
        ("1", "rationale_consistency"),
    ]
    assert "1 of 3 check(s)" in caplog.text
    sink.close()


def test_a_hostile_explanation_is_cut_and_cleaned_before_it_is_posted(fake, otel):
    """A megabyte explanation with lone surrogates (an audit record can hold anything)."""
    hostile = ("why \ud800 " * 200_000) + "\x00end"
    sink = a_sink(fake, otel)
    sink(a_check(explanation=hostile, error="e\udfff" * 5000, extra={"verdict": "\ud83d" * 3}))
    assert sink.flush(10) == 0
    consistency, _ = fake.assessments()
    assert len(consistency["rationale"]) <= 8_000
    for text in (consistency["rationale"], *consistency["metadata"].values()):
        text.encode("utf-8")  # no lone surrogate left
    assert sink.counts["posted"] == 1
    sink.close()
