"""The Phoenix sink against a real Phoenix server (marker ``phoenix``).

A session fixture starts ``phoenix serve`` from a side venv (``$JUDGEGUARD_TEST_PHOENIX``,
else ``.venv-phoenix/bin/phoenix``; ``.ci/run`` installs it) on free loopback ports with a
temporary working directory (SQLite), waits for ``/healthz`` and always stops it. Guarded
judge calls export their spans over OTLP/HTTP to it; the tests then read back, through
Phoenix's REST API, the spans (judge span with input/output, evaluator child in the same
trace) and the annotations the sink posted.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from guard_helpers import B_WINS, mj_for, support, verdict_text
from loopback import LoopbackLLM
from servers import free_port, stop_process_group

import judgeguard as jg
from judgeguard.telemetry import stamp_span_ids

pytestmark = [pytest.mark.phoenix, pytest.mark.usefixtures("isolated_judgeguard")]

requests = pytest.importorskip("requests")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter")

REPO = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 120.0  # first start runs the migrations: ~15 s here, more on a busy CI
READ_TIMEOUT = 45.0  # an annotation that beats its span waits for Phoenix's 10 s retry


def _phoenix_executable() -> Path | None:
    configured = os.environ.get("JUDGEGUARD_TEST_PHOENIX")
    path = Path(configured) if configured else REPO / ".venv-phoenix" / "bin" / "phoenix"
    return path if path.is_file() and os.access(path, os.X_OK) else None


@pytest.fixture(scope="session")
def phoenix_url(tmp_path_factory):
    """The base URL of a real Phoenix server on loopback, stopped at the end of the session."""
    executable = _phoenix_executable()
    if executable is None:
        pytest.skip(
            "no Phoenix server: set JUDGEGUARD_TEST_PHOENIX to a `phoenix` executable or "
            "create .venv-phoenix (python3 -m venv .venv-phoenix && "
            ".venv-phoenix/bin/pip install arize-phoenix; .ci/run does)"
        )
    workdir = tmp_path_factory.mktemp("phoenix")
    port, grpc_port = free_port(), free_port()
    env = {
        **os.environ,
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    }
    for name in ("PHOENIX_SQL_DATABASE_URL", "PHOENIX_COLLECTOR_ENDPOINT", "PHOENIX_API_KEY"):
        env.pop(name, None)
    log_path = workdir / "phoenix.log"
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [str(executable), "serve"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped whole below
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"phoenix serve exited with {process.returncode}:\n{_tail(log_path)}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(
                    f"phoenix serve not healthy after {STARTUP_TIMEOUT:.0f} s:\n{_tail(log_path)}"
                )
            time.sleep(0.3)
        yield url
    finally:
        stop_process_group(process)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _poll(fetch, ready, timeout=READ_TIMEOUT):
    """Call ``fetch()`` until ``ready(result)``; returns the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if ready(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def _spans(url, project):
    response = requests.get(
        f"{url}/v1/projects/{project}/spans", params={"limit": 1000}, timeout=10
    )
    if response.status_code == 404:  # the project appears with its first span
        return []
    response.raise_for_status()
    return response.json()["data"]


def _annotations(url, project, span_ids):
    response = requests.get(
        f"{url}/v1/projects/{project}/span_annotations",
        params={"span_ids": list(span_ids), "limit": 1000},
        timeout=10,
    )
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return response.json()["data"]


@pytest.fixture
def project():
    return f"judgeguard-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def user_tracing(phoenix_url, project):
    """The user's own OTel setup: a tracer provider exporting OTLP/HTTP to Phoenix, filed
    under ``project``; a Telemetry on it with content capture on."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"openinference.project.name": project}))
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"{phoenix_url}/v1/traces"), schedule_delay_millis=200
        )
    )
    yield provider, jg.Telemetry(provider, NoOpMeterProvider(), capture_content=True)
    provider.shutdown()


def _by_name(annotations):
    found = {}
    for a in annotations:
        found[(a["span_id"], a["name"])] = a
    return found


def test_guarded_judge_calls_carry_their_check_as_annotations_in_phoenix(
    phoenix_url, project, user_tracing
):
    provider, telemetry = user_tracing
    sink = jg.sinks.Phoenix(phoenix_url, project_name=project, flush_interval=0.2)
    verdicts = ["B>>A", "B>>A", "A>>B", "B>>A", "B>A"]  # A>>B contradicts the rationale
    with LoopbackLLM(responder=lambda body: B_WINS) as server:
        checks = []

        @jg.guard(metajudge=mj_for(server), telemetry=telemetry, on_result=[sink, checks.append])
        def judge(question: str, case: int) -> str:
            return verdict_text(case, verdicts[case])

        outputs = [judge(f"which loop is correct? ({i})", i) for i in range(5)]
        assert outputs == [verdict_text(i, v) for i, v in enumerate(verdicts)]
        assert jg.flush(30) == 0
    assert provider.force_flush(30_000)
    assert sink.flush(30) == 0
    sink.close()
    assert len(checks) == 5
    assert {c.status for c in checks} == {"consistent", "inconsistent"}
    assert all(c.span_id and c.trace_id and c.evaluator_span_id for c in checks)

    # the spans: each judge span with its input and output, its evaluator span a child
    spans = _poll(lambda: _spans(phoenix_url, project), lambda s: len(s) >= 10)
    by_id = {s["context"]["span_id"]: s for s in spans}
    for check in checks:
        judge_span = by_id[check.span_id]
        assert judge_span["context"]["trace_id"] == check.trace_id
        assert judge_span["name"].startswith("judge")
        assert judge_span["span_kind"] == "CHAIN"
        assert "which loop is correct?" in judge_span["attributes"]["input.value"]
        assert "My final verdict is" in judge_span["attributes"]["output.value"]
        evaluator = by_id[check.evaluator_span_id]
        assert evaluator["span_kind"] == "EVALUATOR"
        assert evaluator["parent_id"] == check.span_id
        assert evaluator["context"]["trace_id"] == check.trace_id

    # the annotations: two per judge span, with the check's figures
    span_ids = [c.span_id for c in checks]
    annotations = _poll(
        lambda: _annotations(phoenix_url, project, span_ids), lambda a: len(a) >= 10
    )
    found = _by_name(annotations)
    assert len(found) == 10, annotations
    for check in checks:
        rc = found[(check.span_id, "rationale_consistency")]
        assert rc["annotator_kind"] == "LLM"
        assert rc["result"]["label"] == check.status
        assert rc["result"]["score"] == pytest.approx(check.r_rationale)
        assert rc["result"]["explanation"] == check.explanation == "B's loop is correct."
        assert rc["metadata"]["metajudge_model"] == check.metajudge_model
        assert rc["metadata"]["supported"] == "B>>A"
        assert rc["metadata"]["evaluator_span_id"] == check.evaluator_span_id
        reward = found[(check.span_id, "gated_reward")]
        assert reward["annotator_kind"] == "LLM"
        assert reward["result"]["score"] == pytest.approx(check.reward)
        assert reward["result"]["label"] == ("needs_review" if check.needs_review else "ok")


def test_audit_lines_become_small_annotated_traces_in_phoenix(phoenix_url, project):
    sink = jg.sinks.Phoenix(phoenix_url, project_name=project, flush_interval=0.2)
    with LoopbackLLM(responder=lambda body: B_WINS) as server:
        mj = mj_for(server)
        records, checks = [], []
        for i in range(3):
            record = {
                "id": f"line-{i}",
                "judge": "arena-judge",
                "question": f"which loop is correct? ({i})",
                "output": verdict_text(i),
            }
            check = mj.check(jg.parse(record["output"]))
            records.append(record)
            checks.append(check)
            sink.log_audit_line(record, check)
    assert sink.flush(30) == 0
    sink.close()

    spans = _poll(lambda: _spans(phoenix_url, project), lambda s: len(s) >= 6)
    judges = [s for s in spans if s["parent_id"] is None]
    assert len(judges) == 3  # one small trace per line, in the sink's project
    assert len({s["context"]["trace_id"] for s in judges}) == 3
    for judge_span in judges:
        children = [s for s in spans if s["parent_id"] == judge_span["context"]["span_id"]]
        assert [c["span_kind"] for c in children] == ["EVALUATOR"]
        assert children[0]["context"]["trace_id"] == judge_span["context"]["trace_id"]
        assert "My final verdict is" in judge_span["attributes"]["output.value"]
    annotations = _poll(
        lambda: _annotations(phoenix_url, project, [s["context"]["span_id"] for s in judges]),
        lambda a: len(a) >= 6,
    )
    found = _by_name(annotations)
    assert {name for _, name in found} == {"rationale_consistency", "gated_reward"}
    assert len(found) == 6
    for (_, name), annotation in found.items():
        if name == "rationale_consistency":
            assert annotation["result"]["label"] == "consistent"
            assert annotation["result"]["score"] == pytest.approx(checks[0].r_rationale)


def test_sync_mode_retries_an_annotation_that_beats_its_span(phoenix_url, project):
    """With sync=True Phoenix answers 404 for a span it has not ingested: the sink retries
    until the span is there, then the annotation lands."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"openinference.project.name": project}))
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"{phoenix_url}/v1/traces"), schedule_delay_millis=60_000
        )
    )
    with provider.get_tracer("test").start_as_current_span("judge late") as span:
        pass
    check = jg.Check(
        status="consistent", r_rationale=0.8, reward=0.8, explanation="late", metajudge_model="m"
    )
    stamp_span_ids(check, span)
    sink = jg.sinks.Phoenix(
        phoenix_url, project_name=project, sync=True, flush_interval=0.05, max_attempts=8
    )
    statuses = []
    post = sink._session.post

    def recording_post(*args, **kwargs):
        response = post(*args, **kwargs)
        statuses.append(response.status_code)
        return response

    sink._session.post = recording_post
    sink(check)
    time.sleep(1.5)  # the first attempts meet a 404: the span is still in the processor
    assert provider.force_flush(30_000)
    assert sink.flush(60) == 0
    sink.close()
    assert statuses[0] == 404
    assert statuses[-1] == 200
    assert sink.counts["posted"] == 1
    annotations = _annotations(phoenix_url, project, [check.span_id])
    assert {a["name"] for a in annotations} == {"rationale_consistency", "gated_reward"}
    provider.shutdown()


def test_a_check_that_failed_is_annotated_with_its_status(phoenix_url, project, user_tracing):
    provider, telemetry = user_tracing
    sink = jg.sinks.Phoenix(phoenix_url, project_name=project, flush_interval=0.2)
    with LoopbackLLM(responder=lambda body: support({"nonsense": 1.0})) as server:
        checks = []
        judge = jg.guard(
            metajudge=mj_for(server), telemetry=telemetry, on_result=[sink, checks.append]
        )(lambda q: verdict_text(0))
        judge("q")
        assert jg.flush(30) == 0
    assert provider.force_flush(30_000)
    assert sink.flush(30) == 0
    sink.close()
    (check,) = checks
    assert check.status == "error"
    annotations = _poll(
        lambda: _annotations(phoenix_url, project, [check.span_id]), lambda a: len(a) >= 2
    )
    found = _by_name(annotations)
    rc = found[(check.span_id, "rationale_consistency")]
    assert rc["result"]["label"] == "error"
    assert rc["result"]["score"] is None
    assert rc["metadata"]["reason"] == check.reason
    assert found[(check.span_id, "gated_reward")]["result"]["label"] == "error"


def test_judgeguard_audit_with_sink_phoenix_leaves_an_annotated_trace_per_line(
    phoenix_url, project, tmp_path
):
    rows = [
        {"id": i, "judge": "J1", "question": f"which loop? ({i})", "output": verdict_text(i)}
        for i in range(3)
    ]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with LoopbackLLM(responder=lambda body: B_WINS) as server:
        env = {
            **os.environ,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "PYTHONPATH": str(REPO),
            "JUDGEGUARD_CACHE_DIR": str(tmp_path / "cache"),
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_API_BASE": server.base_url,
            "PHOENIX_PROJECT_NAME": project,
        }
        env.pop("JUDGEGUARD_METAJUDGE", None)
        proc = subprocess.run(
            [sys.executable, "-m", "judgeguard.cli", "audit", "log.jsonl", "--no-progress",
             "--metajudge", "openai/judge-test", "--out", "out.jsonl",
             "--sink", f"phoenix={phoenix_url}"],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "sink phoenix: 3 line(s) posted" in proc.stderr
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["status"] for r in out] == ["consistent"] * 3

    spans = _poll(lambda: _spans(phoenix_url, project), lambda s: len(s) >= 6)
    judges = [s for s in spans if s["parent_id"] is None]
    assert sorted(s["name"] for s in judges) == ["judge J1"] * 3
    assert sorted(
        next(
            q
            for q in (f"which loop? ({i})" for i in range(3))
            if q in s["attributes"]["input.value"]
        )
        for s in judges
    ) == [f"which loop? ({i})" for i in range(3)]
    for judge_span in judges:
        (child,) = [s for s in spans if s["parent_id"] == judge_span["context"]["span_id"]]
        assert child["span_kind"] == "EVALUATOR"
        assert child["context"]["trace_id"] == judge_span["context"]["trace_id"]
    annotations = _poll(
        lambda: _annotations(phoenix_url, project, [s["context"]["span_id"] for s in judges]),
        lambda a: len(a) >= 6,
    )
    found = _by_name(annotations)
    assert len(found) == 6
    for judge_span in judges:
        rc = found[(judge_span["context"]["span_id"], "rationale_consistency")]
        assert rc["result"]["label"] == "consistent"
        assert rc["result"]["score"] == pytest.approx(out[0]["r_rationale"])
        assert rc["result"]["explanation"] == "B's loop is correct."
        assert rc["metadata"]["metajudge_model"] == "openai/judge-test"
        reward = found[(judge_span["context"]["span_id"], "gated_reward")]
        assert reward["result"]["score"] == pytest.approx(out[0]["reward"])
