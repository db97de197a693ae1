"""The Phoenix sink against a loopback fake that answers like Phoenix's REST API.

The fake (stdlib ``http.server``) records every request and answers from a script:
``POST /v1/span_annotations`` (200 ``{"data": []}``, or what a test scripts: 503 then 200,
400, 404, ...) and ``POST /v1/traces`` (OTLP/HTTP protobuf, decoded). The real server is
in tests/test_sinks_phoenix_server.py (marker ``phoenix``).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from guard_helpers import ARENA, metric_points

import judgeguard as jg
from judgeguard import semconv as sc
from judgeguard.sinks import from_spec
from judgeguard.sinks.base import SinkError, retry_after_seconds
from judgeguard.sinks.phoenix import Phoenix

pytest.importorskip("requests")
pytestmark = pytest.mark.usefixtures("isolated_judgeguard")

SPAN = "0123456789abcdef"
TRACE = "0123456789abcdef0123456789abcdef"


class FakePhoenix:
    """A loopback HTTP server answering like Phoenix; ``script`` queues answers for the
    annotation endpoint as ``(status, headers, body)``; ``requests`` records each call."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answers: deque[tuple[int, dict[str, str], bytes]] = deque()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests.append(
                    {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                )
                if self.path.startswith("/v1/traces"):
                    status, headers, payload = 200, {}, b""
                elif owner.answers:
                    status, headers, payload = owner.answers.popleft()
                else:
                    status, headers, payload = 200, {}, b'{"data":[]}'
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def script(self, *answers: tuple[int, dict[str, str], bytes]) -> None:
        self.answers.extend(answers)

    def annotation_posts(self) -> list[dict]:
        return [r for r in self.requests if r["path"].startswith("/v1/span_annotations")]

    def posted_annotations(self) -> list[dict]:
        return [a for r in self.annotation_posts() for a in json.loads(r["body"])["data"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    server = FakePhoenix()
    yield server
    server.close()


@pytest.fixture
def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once closed


def sink_counts(reader):
    counts: dict[str, int] = {}
    for point in metric_points(reader, sc.METRIC_SINK_ITEMS):
        assert point.attributes[sc.JUDGEGUARD_SINK_NAME] == "phoenix"
        outcome = point.attributes[sc.JUDGEGUARD_SINK_OUTCOME]
        counts[outcome] = counts.get(outcome, 0) + point.value
    return counts


def a_check(i=0, **fields):
    judgment = jg.parse(ARENA)
    values = {
        "status": "consistent",
        "verdict": judgment.verdict,
        "supported": judgment.verdict,
        "r_rationale": 0.75,
        "r_outcome": 1.0,
        "reward": 0.75,
        "explanation": f"B's loop is correct ({i}).",
        "metajudge_model": "openai/mj",
        "trace_id": TRACE,
        "span_id": f"{i:016x}",
        "evaluator_span_id": f"{i + 1000:016x}",
    }
    values.update(fields)
    return jg.Check(**values)


def test_each_check_becomes_two_llm_annotations_on_its_judge_span_one_request_per_batch(fake, otel):
    sink = Phoenix(
        fake.url,
        api_key="px-secret",
        headers={"X-Team": "evals"},
        batch_size=10,
        flush_interval=0.05,
        telemetry=otel.telemetry,
    )
    for i in range(3):
        sink(a_check(i))
    sink(a_check(3, needs_review=True, r_rationale=0.1, reward=0.1, status="inconsistent"))
    assert sink.flush(10) == 0
    sink.close()
    posts = fake.annotation_posts()
    assert len(posts) == 1  # one batch, one request
    (post,) = posts
    assert post["path"] == "/v1/span_annotations"  # sync=false: Phoenix's queue
    assert post["headers"]["Authorization"] == "Bearer px-secret"
    assert post["headers"]["X-Team"] == "evals"
    data = fake.posted_annotations()
    assert [(a["span_id"], a["name"]) for a in data] == [
        (f"{i:016x}", name) for i in range(4) for name in ("rationale_consistency", "gated_reward")
    ]
    rc, reward = data[0], data[1]
    assert rc["annotator_kind"] == reward["annotator_kind"] == "LLM"
    assert rc["result"] == {
        "label": "consistent",
        "score": 0.75,
        "explanation": "B's loop is correct (0).",
    }
    assert reward["result"] == {"label": "ok", "score": 0.75, "explanation": None}
    assert rc["metadata"] == reward["metadata"]
    assert rc["metadata"] == {
        "metajudge_model": "openai/mj",
        "cached": False,
        "reason": None,
        "verdict": "B>>A",
        "supported": "B>>A",
        "r_outcome": 1.0,
        "needs_review": False,
        "evaluator_span_id": f"{1000:016x}",
    }
    assert data[6]["result"]["label"] == "inconsistent"
    assert data[7]["result"] == {"label": "needs_review", "score": 0.1, "explanation": None}
    assert sink_counts(otel.reader) == {"posted": 4}


def test_a_failed_check_is_annotated_with_its_status_and_the_redacted_error(fake):
    sink = Phoenix(fake.url, flush_interval=0.05)
    sink(
        a_check(
            status="error",
            r_rationale=None,
            reward=None,
            supported=None,
            explanation=None,
            reason="rate_limited",
            error="RateLimitError: api_key=sk-abcdef1234567890abcdef",
        )
    )
    assert sink.flush(10) == 0
    sink.close()
    rc, reward = fake.posted_annotations()
    assert rc["result"]["label"] == "error"
    assert rc["result"]["score"] is None
    assert "RateLimitError" in rc["result"]["explanation"]
    assert "sk-abcdef1234567890abcdef" not in rc["result"]["explanation"]
    assert rc["metadata"]["reason"] == "rate_limited"
    assert reward["result"] == {"label": "error", "score": None, "explanation": None}


def test_explanations_false_leaves_the_metajudges_text_out(fake):
    sink = Phoenix(fake.url, flush_interval=0.05, explanations=False)
    sink(a_check())
    assert sink.flush(10) == 0
    sink.close()
    assert all(a["result"]["explanation"] is None for a in fake.posted_annotations())


def test_a_503_is_retried_honouring_retry_after_then_posted(fake, otel):
    fake.script((503, {"Retry-After": "0.3"}, b"busy"), (429, {"Retry-After": "0"}, b"slow"))
    sink = Phoenix(fake.url, flush_interval=0.02, telemetry=otel.telemetry)
    sink(a_check())
    started = time.perf_counter()
    assert sink.flush(10) == 0
    assert time.perf_counter() - started >= 0.3
    sink.close()
    assert len(fake.annotation_posts()) == 3  # 503, 429, 200
    assert sink_counts(otel.reader) == {"posted": 1}


def test_a_400_is_not_retried_it_is_logged_and_counted_as_failed(fake, otel, caplog):
    fake.script((400, {}, b"The name 'note' is reserved (you sent px-topsecret-key)"))
    sink = Phoenix(
        fake.url, api_key="px-topsecret-key", flush_interval=0.02, telemetry=otel.telemetry
    )
    with caplog.at_level(logging.WARNING, logger="judgeguard"):
        sink(a_check())
        assert sink.flush(10) == 0
        sink(a_check(1))  # the next batch goes through
        assert sink.flush(10) == 0
    sink.close()
    assert len(fake.annotation_posts()) == 2
    assert sink_counts(otel.reader) == {"failed": 1, "posted": 1}
    assert "Phoenix refused 2 annotation(s) with 400: The name 'note' is reserved" in caplog.text
    assert "px-topsecret-key" not in caplog.text


def test_a_down_server_never_blocks_the_judge_retries_then_counts_the_loss(
    closed_port, otel, caplog
):
    sink = Phoenix(
        f"http://127.0.0.1:{closed_port}",
        max_attempts=2,
        timeout=2,
        flush_interval=0.02,
        telemetry=otel.telemetry,
    )
    judge = jg.guard(lambda q: ARENA, on_result=sink)
    with caplog.at_level(logging.WARNING, logger="judgeguard"):
        started = time.perf_counter()
        for i in range(3):
            sink(a_check(i))  # straight from the caller, as on_result would
        assert judge("q") == ARENA
        assert time.perf_counter() - started < 0.5
        assert jg.flush(10) == 0
        assert sink.flush(20) == 0
    sink.close()
    counts = sink_counts(otel.reader)
    assert counts["failed"] == 3
    assert counts.get("skipped", 0) == 1  # the guarded call had no tracing: no span id
    assert "could not post 3 check(s)" in caplog.text
    assert "Phoenix at http://127.0.0.1" in caplog.text


def test_sync_mode_retries_a_404_for_a_span_phoenix_has_not_ingested_yet(fake, otel):
    fake.script((404, {}, b"Spans with IDs 0000000000000000 do not exist."))
    sink = Phoenix(fake.url, sync=True, flush_interval=0.02, telemetry=otel.telemetry)
    sink(a_check())
    assert sink.flush(10) == 0
    sink.close()
    posts = fake.annotation_posts()
    assert [p["path"] for p in posts] == ["/v1/span_annotations?sync=true"] * 2
    assert sink_counts(otel.reader) == {"posted": 1}


def test_a_404_in_the_default_async_mode_is_a_refusal_not_retried(fake, otel):
    """Async Phoenix queues annotations for spans it has not seen: a 404 there means the
    endpoint is wrong (an old server, a path prefix), and retrying cannot help."""
    fake.script((404, {}, b"Not Found"))
    sink = Phoenix(fake.url, flush_interval=0.02, telemetry=otel.telemetry)
    sink(a_check())
    assert sink.flush(10) == 0
    sink.close()
    assert len(fake.annotation_posts()) == 1
    assert sink_counts(otel.reader) == {"failed": 1}


def test_checks_without_a_span_id_are_counted_as_skipped_and_never_posted(fake, otel, caplog):
    sink = Phoenix(fake.url, flush_interval=0.02, telemetry=otel.telemetry)
    with caplog.at_level(logging.WARNING, logger="judgeguard"):
        for i in range(3):
            sink(a_check(i, span_id=None, trace_id=None))
        sink(a_check(7))
        assert sink.flush(10) == 0
    sink.close()
    assert sink.counts["skipped"] == 3
    assert {a["span_id"] for a in fake.posted_annotations()} == {f"{7:016x}"}
    assert sink_counts(otel.reader) == {"skipped": 3, "posted": 1}
    assert caplog.text.count("skips checks without a judge span id") == 1


def test_an_audit_line_is_exported_over_otlp_into_the_project_then_annotated(fake):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    sink = Phoenix(f"{fake.url}/v1/traces", project_name="audits", flush_interval=0.02)
    assert sink.endpoint == fake.url  # a collector URL is taken for the server's
    check = a_check(span_id=None, trace_id=None, evaluator_span_id=None)
    check.judgment = jg.parse(ARENA)
    sink.log_audit_line({"id": "l1", "judge": "arena", "question": "q?", "output": ARENA}, check)
    assert sink.flush(10) == 0
    sink.close()
    traces = [r for r in fake.requests if r["path"] == "/v1/traces"]
    assert traces
    assert all(r["headers"]["x-project-name"] == "audits" for r in traces)
    spans = {}
    for r in traces:
        request = ExportTraceServiceRequest()
        request.ParseFromString(r["body"])
        for resource_spans in request.resource_spans:
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    spans[span.span_id.hex()] = span
    rc, _ = fake.posted_annotations()
    judge_span = spans[rc["span_id"]]  # the annotation points at the exported judge span
    assert judge_span.name == "judge arena"
    evaluator = spans[rc["metadata"]["evaluator_span_id"]]
    assert evaluator.parent_span_id.hex() == rc["span_id"]
    assert evaluator.trace_id == judge_span.trace_id


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:6006", "http://127.0.0.1:6006"),
        ("http://127.0.0.1:6006/", "http://127.0.0.1:6006"),
        ("https://phoenix.example/v1/traces", "https://phoenix.example"),
        ("http://host:6006/phoenix/v1", "http://host:6006/phoenix"),
    ],
)
def test_the_endpoint_is_the_servers_base_url(given, expected):
    sink = Phoenix(given)
    assert sink.endpoint == expected
    sink.close()


@pytest.mark.parametrize("bad", ["127.0.0.1:6006", "ftp://x", "", "http://"])
def test_a_bad_endpoint_is_a_typed_error(bad):
    with pytest.raises(SinkError, match="http"):
        Phoenix(bad)


def test_the_cli_spec_builds_a_phoenix_sink_and_the_api_key_comes_from_the_environment(
    monkeypatch,
):
    monkeypatch.setenv("PHOENIX_API_KEY", "px-env")
    monkeypatch.setenv("PHOENIX_PROJECT_NAME", "evals")
    sink = from_spec("phoenix=http://127.0.0.1:6006", flush_interval=0.05)
    assert isinstance(sink, Phoenix)
    assert isinstance(jg.sinks.Phoenix("http://127.0.0.1:6006"), Phoenix)
    assert sink.endpoint == "http://127.0.0.1:6006"
    assert sink._session.headers["Authorization"] == "Bearer px-env"
    assert sink.project_name == "evals"
    assert sink.resource_attributes() == {"openinference.project.name": "evals"}
    sink.close()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), ("0.5", 0.5), ("-2", 0.0), ("soon", None), (None, None)],
)
def test_retry_after_in_seconds(value, expected):
    assert retry_after_seconds(value) == expected


def test_retry_after_as_an_http_date():
    from email.utils import formatdate

    assert 8 <= retry_after_seconds(formatdate(time.time() + 10, usegmt=True)) <= 10


def test_a_hostile_explanation_is_cut_and_cleaned_before_it_is_posted(fake):
    hostile = ("why \ud800 " * 200_000) + "\x00end"
    sink = Phoenix(fake.url, flush_interval=0.02)
    sink(a_check(explanation=hostile))
    assert sink.flush(10) == 0
    sink.close()
    explanations = [a["result"]["explanation"] for a in fake.posted_annotations()]
    assert explanations[0] is not None and len(explanations[0]) <= 8_000
    explanations[0].encode("utf-8")
