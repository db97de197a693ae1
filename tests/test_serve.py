"""judgeguard serve over real HTTP: the server runs as a subprocess, judge and MetaJudge on
the loopback server in this process; requests are posted as OpenRLHF's client does."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from loopback import LoopbackLLM
from reward_helpers import JUDGE_MODEL, responder
from servers import free_port

pytestmark = pytest.mark.slow
TESTS = Path(__file__).parent


class Server:
    def __init__(self, llm, tmp, *extra, judge=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", PYTHONPATH=str(TESTS))
        env["JUDGEGUARD_CACHE_DIR"] = str(tmp / "cache")
        opt = [f"api_base={llm.base_url}", "api_key=k", "retries=0", "timeout=5"]
        judge_args = judge or [
            "--judge-model", f"openai/{JUDGE_MODEL}", "--judge-prompt", "reference",
            *[a for o in opt for a in ("--judge-option", o)],
        ]  # fmt: skip
        cmd = [
            sys.executable, "-m", "judgeguard", "serve", "--port", str(self.port), *judge_args,
            "--metajudge", "openai/judge-test",
            *[a for o in opt for a in ("--metajudge-option", o)],
            "--max-body-mb", "8", *extra,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read()}")
            try:
                if self.get("/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("server did not come up")

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return r.status, json.loads(r.read())

    def post(self, body, raw=None):
        data = raw if raw is not None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + "/get_reward", data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        out, err = self.proc.communicate()
        return self.proc.returncode, out, err


@pytest.fixture(scope="module")
def llm():
    with LoopbackLLM(responder) as server:
        yield server


@pytest.fixture(scope="module")
def server(llm, tmp_path_factory):
    srv = Server(llm, tmp_path_factory.mktemp("serve"))
    yield srv
    code, out, _ = srv.stop()
    assert code == 0 and out == ""  # a clean exit; nothing reaches stdout


def test_rewards_in_order_with_extra_logs(server):
    prompts = [f"Q{i}: what is {i}+{i}? " for i in range(6)]
    responses = [
        f"It is {2 * i}. support=0.{i + 3} verdict={'pass' if i % 2 else 'fail'}" for i in range(6)
    ]
    body = {
        "query": [p + r for p, r in zip(prompts, responses, strict=True)],
        "prompts": prompts,
        "labels": [str(2 * i) for i in range(6)],
    }
    status, out = server.post(body)
    assert status == 200
    expected = [(0.3 + i / 10) * (i % 2) for i in range(6)]
    assert out["rewards"] == pytest.approx(expected) and out["scores"] == out["rewards"]
    logs = out["extra_logs"]
    assert logs["r_rationale"] == pytest.approx(
        [0.3 + i / 10 if i % 2 else 0.7 - i / 10 for i in range(6)]
    )
    assert logs["r_outcome"] == [float(i % 2) for i in range(6)]
    assert logs["check_failed"] == [0.0] * 6
    assert [r * o for r, o in zip(logs["r_rationale"], logs["r_outcome"], strict=True)] == (
        pytest.approx(out["rewards"])
    )
    assert logs["needs_review"] == [float(x < 0.3) for x in logs["r_rationale"]]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"prompts": ["a"]}, 400, "missing key 'query'"),
        ([1, 2], 400, "JSON object"),
        ({"query": "abc"}, 400, "'query' must be a list"),
        ({"query": ["a", "b"], "prompts": ["a"]}, 400, "'prompts' has 1 items"),
        ({"query": ["a", 3], "labels": ["x", "y"]}, 400, "'query[1]' must be a string"),
        ({"query": ["a"], "labels": [["x"]]}, 400, "'labels[0]' must be a string"),
        ({"query": ["a support=0.5"]}, 400, "no column 'reference'"),  # the preset needs labels
    ],
)
def test_malformed_requests_get_a_clear_4xx(server, body, status, says):
    got, out = server.post(body)
    assert got == status and says in out["error"]


def test_invalid_json_huge_body_and_wrong_method_then_still_serving(server):
    status, out = server.post(None, raw=b'{"query": [')
    assert status == 400 and "not valid JSON" in out["error"]
    status, out = server.post(None, raw=b"\xff\xfe")
    assert status == 400
    status, out = server.post(None, raw=b'{"query": ["' + b"x" * (50 * 1024 * 1024) + b'"]}')
    assert status == 413 and "error" in out
    req = urllib.request.Request(server.url + "/get_reward", method="GET")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 405 and "error" in json.loads(info.value.read())
    status, health = server.get("/health")
    assert status == 200 and health["status"] == "ok" and health["metajudge"] == "openai/judge-test"
    status, out = server.post({"query": ["p support=0.8"], "prompts": ["p"], "labels": ["1"]})
    assert status == 200 and out["rewards"] == pytest.approx([0.8])


def test_graceful_shutdown_finishes_in_flight_batches(llm, tmp_path):
    srv = Server(llm, tmp_path)
    result = {}

    def post():
        result["answer"] = srv.post(
            {"query": ["q slow=1.5 support=0.6"], "prompts": ["q"], "labels": ["x"]}
        )

    t = threading.Thread(target=post)
    t.start()
    time.sleep(0.7)  # the batch is waiting on the slow judge
    srv.proc.send_signal(signal.SIGTERM)
    t.join(30)
    code = srv.proc.wait(30)  # it exits on its own once the batch is answered
    srv.stop()
    assert result["answer"] == (200, result["answer"][1])
    assert result["answer"][1]["rewards"] == pytest.approx([0.6])
    assert code == 0


def test_a_judge_function_and_labels_as_gold_verdicts(llm, tmp_path):
    srv = Server(
        llm, tmp_path, "--labels-as", "label", "--verdict", "label:pass,fail",
        judge=["--judge", "reward_helpers:text_judge"],
    )  # fmt: skip
    try:
        body = {
            "query": ["q1 support=0.8 verdict=pass", "q2 support=0.6 verdict=pass", "q3"],
            "prompts": ["q1", "q2", "q3"],
            "labels": ["pass", "fail", ""],  # "" = no label: the verdict's own outcome
        }
        status, out = srv.post(body)
        assert status == 200
        assert out["extra_logs"]["r_outcome"] == [1.0, 0.0, 1.0]
        assert out["rewards"][:2] == pytest.approx([0.8, 0.0])
        status, health = srv.get("/health")
        assert health["judge"] == "text_judge" and health["batches_served"] == 1
    finally:
        code, out, _ = srv.stop()
    assert code == 0 and out == ""
