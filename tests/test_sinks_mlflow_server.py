"""The MLflow sink against a REAL MLflow tracking server (``-m mlflow``).

A session fixture starts ``mlflow server`` (SQLite store in a temp dir, a free loopback
port) from the side venv that ``.ci/run`` installs (``$JUDGEGUARD_TEST_MLFLOW`` = its
``mlflow`` executable, else ``.venv-mlflow/bin/mlflow`` in the repository), waits for
``/health`` and always stops it. The judge's spans go to MLflow over OTLP; everything is
read back through MLflow's own REST API. Without the executable these tests skip.
"""

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests
from guard_helpers import support, verdict_text
from loopback import LoopbackLLM
from servers import free_port, stop_process_group

import judgeguard as jg
from judgeguard.sinks.mlflow import MLflow

pytestmark = pytest.mark.mlflow

REPO = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 120.0


def mlflow_executable():
    """The side venv's ``mlflow``, or None."""
    given = os.environ.get("JUDGEGUARD_TEST_MLFLOW")
    candidate = Path(given) if given else REPO / ".venv-mlflow" / "bin" / "mlflow"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


@pytest.fixture(scope="session")
def mlflow_server():
    """The base URL of a started MLflow tracking server (SQLite store, loopback)."""
    executable = mlflow_executable()
    if executable is None:
        pytest.skip(
            "no MLflow server: .ci/run installs one into .venv-mlflow "
            "(or set JUDGEGUARD_TEST_MLFLOW to an `mlflow` executable)"
        )
    workdir = Path(tempfile.mkdtemp(prefix="judgeguard-mlflow-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",  # no usage pings from the server
        "DO_NOT_TRACK": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no job runner processes
    }
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(
        [
            str(executable),
            "server",
            "--backend-store-uri",
            f"sqlite:///{workdir}/mlflow.db",
            "--default-artifact-root",
            str(workdir / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped whole
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"mlflow server exited ({process.returncode}):\n"
                    + (workdir / "server.log").read_text(errors="replace")[-3000:]
                )
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not healthy after {STARTUP_TIMEOUT:.0f} s")
            time.sleep(0.5)
        yield url
    finally:
        stop_process_group(process)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def new_experiment(url):
    """A fresh experiment (its id), so that a test reads back only its own traces."""
    response = requests.post(
        f"{url}/api/2.0/mlflow/experiments/create",
        json={"name": f"judgeguard-{uuid.uuid4().hex[:12]}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["experiment_id"]


def get_trace(url, trace_id):
    """A trace (info with assessments, and spans) through MLflow's REST API."""
    response = requests.get(
        f"{url}/api/3.0/mlflow/traces/get", params={"trace_id": trace_id}, timeout=10
    )
    response.raise_for_status()
    return response.json()["trace"]


def search_traces(url, experiment_id):
    response = requests.post(
        f"{url}/api/3.0/mlflow/traces/search",
        json={
            "locations": [
                {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}
            ],
            "max_results": 100,
        },
        timeout=10,
    )
    response.raise_for_status()
    return response.json().get("traces", [])


def hex_id(b64):
    return base64.b64decode(b64).hex()


def any_value(value):
    """An OTLP JSON AnyValue as Python (MLflow returns JSON-looking strings as kvlists)."""
    ((kind, inner),) = value.items() if value else (("string_value", None),)
    if kind == "kvlist_value":
        return {kv["key"]: any_value(kv["value"]) for kv in inner.get("values", [])}
    if kind == "array_value":
        return [any_value(v) for v in inner.get("values", [])]
    if kind == "int_value":
        return int(inner)
    return inner


def spans_by_id(trace):
    """The trace's spans by hex span id, attributes as a plain dict."""
    out = {}
    for span in trace["spans"]:
        attributes = {a["key"]: any_value(a["value"]) for a in span.get("attributes", [])}
        out[hex_id(span["span_id"])] = {
            "name": span["name"],
            "parent": hex_id(span["parent_span_id"]) if span.get("parent_span_id") else None,
            "trace": hex_id(span["trace_id"]),
            "attributes": attributes,
        }
    return out


def feedback_by_name(trace):
    return {a["assessment_name"]: a for a in trace["trace_info"].get("assessments", [])}


def assert_feedback_matches(trace, check):
    """The trace carries both assessments, on the judge span, with the check's values."""
    feedback = feedback_by_name(trace)
    consistency = feedback["rationale_consistency"]
    assert consistency["span_id"] == check.span_id
    assert consistency["feedback"]["value"] == pytest.approx(check.r_rationale)
    assert consistency["rationale"] == check.explanation
    assert consistency["source"] == {
        "source_type": "LLM_JUDGE",
        "source_id": check.metajudge_model,
    }
    assert consistency["metadata"]["judgeguard.status"] == check.status
    reward = feedback["gated_reward"]
    assert reward["span_id"] == check.span_id
    assert reward["feedback"]["value"] == pytest.approx(check.reward)
    assert reward["source"]["source_id"] == check.metajudge_model


@pytest.fixture
def metajudge_server():
    """The loopback MetaJudge: supports B>>A (so A>B verdicts come out inconsistent)."""
    answer = support({"A>>B": 0.0, "A>B": 0.1, "A=B": 0.1, "B>A": 0.2, "B>>A": 0.6})
    with LoopbackLLM(lambda body: answer) as server:
        yield server


def test_guarded_judge_calls_land_in_mlflow_with_feedback_on_the_judge_span(
    mlflow_server, metajudge_server, isolated_judgeguard
):
    from opentelemetry.sdk.trace import TracerProvider

    experiment = new_experiment(mlflow_server)
    sink = MLflow(mlflow_server, experiment_id=experiment, flush_interval=0.2)
    # the user's tracing: their provider, exporting OTLP to MLflow's endpoint (README's way)
    provider = TracerProvider()
    provider.add_span_processor(sink.span_processor())
    telemetry = jg.Telemetry(provider, capture_content=True)
    checks = []
    mj = jg.MetaJudge(
        "openai/meta-test", api_base=metajudge_server.base_url, api_key="k", retries=0
    )

    @jg.guard(metajudge=mj, on_result=[sink, checks.append], telemetry=telemetry)
    def judge(question, answer_a, answer_b, i):
        return verdict_text(i, "B>>A" if i % 2 == 0 else "A>B")

    for i in range(5):
        judge("Which loop is right?", "while lo < hi", "while lo <= hi", i)
    assert jg.flush(30) == 0
    assert sink.flush(60) == 0  # no provider flush: the sink flushes its processor first
    provider.shutdown()
    sink.close()

    assert len(checks) == 5
    assert {c.status for c in checks} == {"consistent", "inconsistent"}
    for check in checks:
        assert check.trace_id and check.span_id and check.evaluator_span_id
        trace = get_trace(mlflow_server, f"tr-{check.trace_id}")
        assert trace["trace_info"]["trace_location"]["mlflow_experiment"] == {
            "experiment_id": experiment
        }
        spans = spans_by_id(trace)
        judge_span = spans[check.span_id]
        assert judge_span["name"].startswith("judge")
        assert judge_span["attributes"]["input.value"]["question"] == "Which loop is right?"
        i = judge_span["attributes"]["input.value"]["i"]
        assert judge_span["attributes"]["output.value"] == verdict_text(
            i, "B>>A" if i % 2 == 0 else "A>B"
        )
        evaluator = spans[check.evaluator_span_id]
        assert evaluator["parent"] == check.span_id  # the check lives in the judge's trace
        assert evaluator["trace"] == check.trace_id
        assert_feedback_matches(trace, check)
    # and MLflow can filter judge calls by the feedback
    assert len(search_traces(mlflow_server, experiment)) == 5


def test_audit_lines_each_become_a_trace_with_feedback(
    mlflow_server, metajudge_server, isolated_judgeguard
):
    experiment = new_experiment(mlflow_server)
    sink = MLflow(mlflow_server, experiment_id=experiment, flush_interval=0.2)
    mj = jg.MetaJudge(
        "openai/meta-test", api_base=metajudge_server.base_url, api_key="k", retries=0
    )
    records = [
        {"id": f"line-{i}", "judge": "gpt-judge", "question": f"Question {i}?", "output": out}
        for i, out in enumerate([verdict_text(0, "B>>A"), verdict_text(1, "A>B"), verdict_text(2)])
    ]
    checks = []
    for record in records:
        check = mj.check(jg.parse(record["output"]))
        checks.append(check)
        sink.log_audit_line(record, check)
    assert sink.flush(60) == 0
    sink.close()

    traces = search_traces(mlflow_server, experiment)
    assert len(traces) == 3  # one trace per audited line
    by_question = {}
    for info in traces:
        trace = get_trace(mlflow_server, info["trace_id"])
        spans = spans_by_id(trace)
        judge_spans = [s for s in spans.values() if s["parent"] is None]
        (judge_span,) = judge_spans
        by_question[judge_span["attributes"]["input.value"]["question"]] = trace
    for record, check in zip(records, checks, strict=True):
        trace = by_question[record["question"]]
        feedback = feedback_by_name(trace)
        assert feedback["rationale_consistency"]["feedback"]["value"] == pytest.approx(
            check.r_rationale
        )
        assert feedback["rationale_consistency"]["rationale"] == check.explanation
        assert feedback["gated_reward"]["feedback"]["value"] == pytest.approx(check.reward)
        spans = spans_by_id(trace)
        (root,) = [span_id for span_id, s in spans.items() if s["parent"] is None]
        assert feedback["rationale_consistency"]["span_id"] == root
        assert record["output"] in spans[root]["attributes"]["output.value"]


def test_judgeguard_audit_with_sink_mlflow_leaves_one_trace_per_line_with_feedback(
    mlflow_server, metajudge_server, tmp_path
):
    experiment = new_experiment(mlflow_server)
    lines = [
        {"id": f"q{i}", "judge": "J1", "question": f"Question {i}?", "output": verdict_text(i, v)}
        for i, v in enumerate(["B>>A", "A>B", "B>A", "B>>A"])
    ]
    log = tmp_path / "judgments.jsonl"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out.jsonl"
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "JUDGEGUARD_CACHE_DIR": str(tmp_path / "cache"),
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_API_BASE": metajudge_server.base_url,
        "PYTHONPATH": str(REPO),
    }
    env.pop("OPENAI_BASE_URL", None)
    env.pop("JUDGEGUARD_METAJUDGE", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "judgeguard.cli",
            "audit",
            str(log),
            "--metajudge",
            "openai/meta-test",
            "--sink",
            f"mlflow={mlflow_server}?experiment_id={experiment}",
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert "sink mlflow: 4 line(s) posted" in result.stderr
    records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}

    traces = search_traces(mlflow_server, experiment)
    assert len(traces) == len(lines)  # one trace per audited line
    for info in traces:
        trace = get_trace(mlflow_server, info["trace_id"])
        spans = spans_by_id(trace)
        (root,) = [span_id for span_id, s in spans.items() if s["parent"] is None]
        inputs = spans[root]["attributes"]["input.value"]
        record = records[inputs["id"]]
        assert inputs["question"] == next(x["question"] for x in lines if x["id"] == inputs["id"])
        # an --out record keeps the rationale (verdict redacted) and the verdict
        assert spans[root]["attributes"]["output.value"] == {
            "rationale": record["rationale"],
            "verdict": record["verdict"],
        }
        assert any(s["parent"] == root for s in spans.values())  # the evaluator span
        feedback = feedback_by_name(trace)
        consistency = feedback["rationale_consistency"]
        assert consistency["span_id"] == root
        assert consistency["feedback"]["value"] == pytest.approx(record["r_rationale"])
        assert consistency["rationale"] == record["explanation"]
        assert consistency["source"] == {
            "source_type": "LLM_JUDGE",
            "source_id": "openai/meta-test",
        }
        assert consistency["metadata"]["judgeguard.id"] == record["id"]
        assert feedback["gated_reward"]["feedback"]["value"] == pytest.approx(record["reward"])


EXITING_SCRIPT = """
import sys
from opentelemetry.sdk.trace import TracerProvider
provider = TracerProvider()  # made first: its exit hook runs after the sink's
import judgeguard as jg
sys.path.insert(0, sys.argv[3])
from guard_helpers import verdict_text
sink = jg.sinks.MLflow(sys.argv[1], experiment_id=sys.argv[2])
provider.add_span_processor(sink.span_processor())
jg.configure_telemetry(provider, capture_content=True)
mj = jg.MetaJudge("openai/meta-test", api_base=sys.argv[4], api_key="k", retries=0)
judge = jg.guard(lambda question, i: verdict_text(i), metajudge=mj, on_result=sink)
for i in range(3):
    judge("Which loop?", i)
print("done")  # and exit: no flush of the checks, the provider or the sink
"""


def test_a_script_that_just_exits_still_leaves_every_check_as_feedback(
    mlflow_server, metajudge_server, tmp_path
):
    experiment = new_experiment(mlflow_server)
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "JUDGEGUARD_CACHE_DIR": str(tmp_path / "cache"),
        "PYTHONPATH": str(REPO),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            EXITING_SCRIPT,
            mlflow_server,
            experiment,
            str(REPO / "tests"),
            metajudge_server.base_url,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    assert "could not post" not in result.stderr
    traces = search_traces(mlflow_server, experiment)
    assert len(traces) == 3
    for info in traces:
        assert set(feedback_by_name(get_trace(mlflow_server, info["trace_id"]))) == {
            "rationale_consistency",
            "gated_reward",
        }
