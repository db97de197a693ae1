"""The audit on Ray Data (integrations/ray) on a real two-node local Ray cluster: the same
summary as the local audit, field by field (twins in different blocks and files), bad
lines reported as locally, resumable reruns, and a worker node's raylet killed mid-audit.

The cluster is started with ``ray start --head`` and a second ``ray start --address`` (its
own CPUs, resources and temporary directory, small object stores) and stopped whatever
happens (its processes are found by their temporary directories and killed by pid)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from loopback import LoopbackLLM, Reply
from servers import free_port

ray = pytest.importorskip("ray", reason="ray is not installed (.ci/run installs judgeguard-ray)")
judgeguard_ray = pytest.importorskip(
    "judgeguard_ray", reason="judgeguard-ray is not installed (pip install -e integrations/ray)"
)

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))


def support(probs):
    return json.dumps({"probabilities": probs, "explanation": "x", "unsupported_claims": []})


A_WINS = support({"A>>B": 0.6, "A>B": 0.3, "A=B": 0.05, "B>A": 0.05, "B>>A": 0.0})
B_WINS = support({"A>>B": 0.0, "A>B": 0.05, "A=B": 0.05, "B>A": 0.3, "B>>A": 0.6})


def responder(body):
    """A deterministic MetaJudge: the answer depends on the case number in the prompt, and
    every 11th case fails (server_error), the same in every run."""
    m = re.search(r"Case (\d+):", json.dumps(body.get("messages")))
    i = int(m.group(1)) if m else 0
    if i % 11 == 5:
        return Reply(status=500, content="upstream exploded")
    return B_WINS if i % 3 == 0 else A_WINS


def judgment(i, verdict, judge=None, **extra):
    text = (
        f"Case {i}: Assistant A fixes the off-by-one error in line {i % 97}; Assistant B "
        f"only renames variables.\n\nMy final verdict is: [[{verdict}]]"
    )
    return {"id": i, "judge": judge or f"judge-{i % 3}", "output": text, **extra}


def write_inputs(tmp: Path, pairs: int = 60) -> tuple[Path, Path, Path]:
    """First orders in a.jsonl, their swapped twins in b.jsonl (so twins are always in
    different blocks), a few bad lines in each; and both concatenated for the local run."""
    a, b = [], []
    for p in range(pairs):
        first = ["A>B", "A>>B", "B>A", "A=B"][p % 4]
        twin = {"A>B": "B>A", "A>>B": "B>>A", "B>A": "A>B", "A=B": "A=B"}[first]
        if p % 5 == 0:  # the judge changes its mind when the order is swapped
            twin = first
        label = "A>B" if p % 2 else "B>A"
        a.append(
            json.dumps(
                judgment(
                    2 * p, first, f"judge-{p % 3}", label=label, pair_id=f"p{p}", swapped=False
                )
            )
        )
        mirrored = {"A>B": "B>A", "B>A": "A>B"}[label]
        b.append(
            json.dumps(
                judgment(
                    2 * p + 1, twin, f"judge-{p % 3}", label=mirrored, pair_id=f"p{p}", swapped=True
                )
            )
        )
    a.insert(7, '{"id": "broken", "output": "no closing brace"')
    a.insert(20, "")
    b.insert(3, json.dumps({"id": "no-output", "judge": "judge-0", "text": "a judgment"}))
    b.insert(30, "[1, 2, 3]")
    b.append(json.dumps(judgment(999, "A>B", label="A>B", pair_id="lonely", swapped=False)))
    fa, fb, both = tmp / "a.jsonl", tmp / "b.jsonl", tmp / "all.jsonl"
    fa.write_text("\n".join(a) + "\n")
    fb.write_text("\n".join(b) + "\n")
    both.write_text(fa.read_text() + fb.read_text())
    return fa, fb, both


def _descendants(pids: set[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(pids), list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def cluster_pids(marks: list[str]) -> set[int]:
    """The processes of the cluster: those whose command line names one of its temporary
    directories, and their descendants (the workers)."""
    roots = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError):
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
                if any(m in cmd for m in marks):
                    roots.add(int(entry))
    return _descendants(roots) - {os.getpid()}


def kill_pids(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


class Cluster:
    """A two-node local Ray cluster started with ``ray start`` (see the module docstring)."""

    def __init__(self, head_cpus: int = 1, node_cpus: int = 2) -> None:
        self.head_dir = tempfile.mkdtemp(prefix="jgray-h", dir="/tmp")
        self.node_dir = tempfile.mkdtemp(prefix="jgray-n", dir="/tmp")
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "RAY_USAGE_STATS_ENABLED": "0",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            # a loopback-only test cluster: no token (else a token left in ~/.ray by any
            # earlier local ray.init() turns authentication on for some processes only)
            "RAY_AUTH_MODE": "disabled",
            # a lost node is noticed in seconds, not the default 30+
            "RAY_health_check_period_ms": "500",
            "RAY_health_check_timeout_ms": "1000",
            "RAY_health_check_failure_threshold": "3",
        }
        self.head_cpus, self.node_cpus = head_cpus, node_cpus

    def start(self) -> Cluster:
        common = ["--disable-usage-stats", "--dashboard-agent-listen-port", "0"]
        subprocess.run(
            [RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(self.port),
             "--num-cpus", str(self.head_cpus), "--object-store-memory", str(100 * 2**20),
             "--temp-dir", self.head_dir, "--include-dashboard", "false",
             "--dashboard-port", str(free_port()), *common,
             "--min-worker-port", "30000", "--max-worker-port", "30499"],
            check=True, env=self.env, capture_output=True, timeout=120,
        )  # fmt: skip
        subprocess.run(
            [RAY, "start", "--address", self.address, "--node-ip-address", "127.0.0.1",
             "--num-cpus", str(self.node_cpus), "--resources", '{"second_node": 1}',
             "--object-store-memory", str(80 * 2**20), "--temp-dir", self.node_dir, *common,
             "--min-worker-port", "30500", "--max-worker-port", "30999"],
            check=True, env=self.env, capture_output=True, timeout=120,
        )  # fmt: skip
        return self

    def raylet_pid(self, directory: str) -> int:
        for pid in cluster_pids([directory]):
            with contextlib.suppress(OSError):
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
                if cmd.endswith(b"/raylet"):
                    return pid
        raise LookupError(f"no raylet under {directory}")

    def stop(self) -> None:
        marks = [self.head_dir, self.node_dir]
        for _ in range(3):
            pids = cluster_pids(marks)
            if not pids:
                break
            kill_pids(pids)
            time.sleep(0.5)
        for d in marks:
            subprocess.run(["rm", "-rf", d], check=False)


@contextlib.contextmanager
def running_cluster(**kw):
    cluster = Cluster(**kw)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def cluster():
    with running_cluster() as c:
        yield c


@pytest.fixture(scope="module")
def metajudge_server():
    with LoopbackLLM(responder) as server:
        yield server


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_inputs(tmp_path_factory.mktemp("ray-inputs"))


def audit(*args, cwd, base_url=None, cache="cache", timeout=600, popen=False):
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",
        "JUDGEGUARD_CACHE_DIR": str(cwd / cache),
        "OPENAI_API_KEY": "sk-test",
    }
    for k in ("JUDGEGUARD_METAJUDGE", "OPENAI_API_BASE", "OPENAI_BASE_URL", "RAY_ADDRESS"):
        env.pop(k, None)
    if base_url is not None:
        env["OPENAI_API_BASE"] = base_url
    cmd = [sys.executable, "-m", "judgeguard.cli", "audit", *map(str, args), "--no-progress"]
    if popen:
        return subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


MJ = ["--metajudge", "openai/judge-test", "--metajudge-option", "retries=0"]


@pytest.fixture(scope="module")
def local_json(inputs, metajudge_server, tmp_path_factory):
    """The local audit's --json (and --out) of the concatenated input."""
    cwd = tmp_path_factory.mktemp("local")
    proc = audit(
        inputs[2], *MJ, "--json", "--out", cwd / "local.jsonl",
        cwd=cwd, base_url=metajudge_server.base_url,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["overall"]["swap_agreement"] is not None
    assert summary["overall"]["errors"] > 0
    return summary, proc.stderr, cwd / "local.jsonl"


def judged_records(path):
    """The input's lines that hold a judgment, as records (for a dataset of records)."""
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and "output" in record:
                out.append({**record, "id": str(record["id"])})
    return out


def malformed_messages(stderr):
    return sorted(
        re.sub(r"^line \d+: ", "", line) for line in stderr.splitlines() if "skipped," in line
    )


def test_cli_on_two_nodes_equals_the_local_audit(cluster, inputs, local_json, metajudge_server,
                                                 tmp_path):  # fmt: skip
    a, b, _ = inputs
    expected, local_err, local_out = local_json
    proc = audit(
        a, b, *MJ, "--json", "--out", tmp_path / "res.jsonl", "--ray", cluster.address,
        "--actors", "2", "--concurrency", "4", "--max-in-flight", "6",
        cwd=tmp_path, base_url=metajudge_server.base_url,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout) == expected  # field by field, swap agreement included
    # bad lines are reported as locally (each with its position in its file), and skipped
    assert malformed_messages(proc.stderr) == malformed_messages(local_err)
    assert "line 8: skipped, invalid JSON" in proc.stderr  # a.jsonl's 8th line
    # the per-line records are the local --out's (plus the file each came from)
    ours = [json.loads(x) for x in (tmp_path / "res.jsonl").read_text().splitlines()]
    theirs = [json.loads(x) for x in local_out.read_text().splitlines()]
    assert len(ours) == len(theirs)
    drop = ("line", "source", "cached")
    assert [{k: v for k, v in r.items() if k not in drop} for r in ours] == [
        {k: v for k, v in r.items() if k not in drop} for r in theirs
    ]
    assert {r["source"] for r in ours} == {str(a), str(b)}
    assert not (tmp_path / "res.jsonl.parts").exists()  # the store goes once the file is done


def test_audit_dataset_on_small_blocks_equals_the_local_audit(cluster, inputs, local_json,
                                                              metajudge_server, tmp_path,
                                                              monkeypatch):  # fmt: skip
    import judgeguard as jg
    from judgeguard.audit import dump_json

    a, b, _ = inputs
    expected = local_json[0]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    ray.init(address=cluster.address, logging_level="WARNING")
    try:
        # small byte ranges: each file in several blocks, twins always in different ones
        ds = judgeguard_ray.read_judgments([str(a), str(b)], chunk_bytes=4096)
        # the byte ranges cut lines: each line is read once, with the local audit's number
        from judgeguard.audit import read_lines

        lines = sorted((r["source"], r["line"], r["raw"]) for r in ds.take_all())
        assert lines == sorted((str(p), n, raw) for p in (a, b) for n, raw in read_lines(p))
        mj = jg.MetaJudge("openai/judge-test", api_base=metajudge_server.base_url, retries=0)
        result = judgeguard_ray.audit_dataset(
            ds, metajudge=mj, actors=2, concurrency=3, batch_size=16,
            cache=str(tmp_path / "cache"), store=str(tmp_path / "store"),
        )  # fmt: skip
        assert json.loads(dump_json(result.summary.to_json())) == expected
        assert result.checked == result.results.count()
        rows = result.results.take_all()
        assert {r["status"] for r in rows} >= {"consistent", "inconsistent", "error", "malformed"}
        # a rerun on the same store checks nothing again and gives the same summary
        again = judgeguard_ray.audit_dataset(
            ds, metajudge=mj, actors=2, concurrency=3, batch_size=16,
            cache=False, store=str(tmp_path / "store"),
        )  # fmt: skip
        assert again.checked == 0
        assert json.loads(dump_json(again.summary.to_json())) == expected
        # a dataset of records (not files) is audited the same way
        plain = judgeguard_ray.audit_dataset(
            ray.data.from_items(judged_records(inputs[2])), metajudge=mj, cache=False, actors=2
        )
        assert plain.summary.to_json()["overall"]["n"] == expected["overall"]["n"]
        assert (
            plain.summary.to_json()["overall"]["swap_agreement"]
            == (expected["overall"]["swap_agreement"])
        )
        # another audit's settings are refused on this store
        with pytest.raises(jg.audit.AuditError, match="other settings"):
            judgeguard_ray.audit_dataset(ds, metajudge=None, store=str(tmp_path / "store"))
    finally:
        ray.shutdown()


def test_a_parquet_output_is_the_resumable_store_and_parquet_is_an_input(
    cluster, inputs, local_json, metajudge_server, tmp_path
):
    a, b, _ = inputs
    expected = local_json[0]
    out = tmp_path / "res.parquet"
    args = (*MJ, "--json", "--out", out, "--ray", cluster.address)
    first = audit(a, b, *args, cwd=tmp_path, base_url=metajudge_server.base_url)
    assert first.returncode == 0, first.stderr[-3000:]
    assert json.loads(first.stdout) == expected
    parts = sorted(p.name for p in out.glob("part-*.parquet"))
    assert parts
    # the rerun skips every finished line (no MetaJudge call) and counts each exactly once
    calls = len(metajudge_server.requests)
    again = audit(a, b, *args, cwd=tmp_path, base_url=metajudge_server.base_url, cache="c2")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout) == expected
    assert len(metajudge_server.requests) == calls
    assert sorted(p.name for p in out.glob("part-*.parquet")) == parts
    # the results (Parquet) read back as an input give the same parse/accuracy figures
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(judged_records(inputs[2])), src)
    proc = audit(src, "--json", "--ray", cluster.address, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    local = audit(inputs[2], "--json", cwd=tmp_path)
    ours, theirs = json.loads(proc.stdout)["overall"], json.loads(local.stdout)["overall"]
    assert ours["swap_agreement"] == theirs["swap_agreement"]
    assert ours["outcome_accuracy"] == theirs["outcome_accuracy"]


def test_bad_invocations_are_refused_before_ray_starts(tmp_path, inputs):
    a, _, both = inputs
    proc = audit(a, "--ray", "--out", tmp_path / "x.csv", cwd=tmp_path)
    assert proc.returncode == 2
    assert "*.parquet" in proc.stderr
    proc = audit(tmp_path / "missing.jsonl", "--ray", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no such file" in proc.stderr
    proc = audit(a, both, cwd=tmp_path)  # several inputs need --ray
    assert proc.returncode == 2
    assert "--ray" in proc.stderr


def test_a_killed_worker_node_loses_no_line(inputs, local_json, tmp_path):
    """Kill the second node's raylet while the audit runs: the job finishes on the head
    node (Ray restarts the actors and retries the batches) or a rerun completes it; either
    way the summary is the local one and no line is counted twice."""
    a, b, _ = inputs
    expected = local_json[0]
    out = tmp_path / "res.parquet"

    def args(address, actors):
        return (a, b, *MJ, "--json", "--out", out, "--ray", address,
                "--actors", str(actors), "--concurrency", "2")  # fmt: skip

    with LoopbackLLM(responder, latency=0.05) as server:
        with running_cluster(head_cpus=1, node_cpus=2) as c:
            proc = audit(*args(c.address, 3), cwd=tmp_path, base_url=server.base_url, popen=True)
            try:
                deadline = time.monotonic() + 300
                while not list(out.glob("part-*.parquet")) and time.monotonic() < deadline:
                    assert proc.poll() is None, proc.communicate()[1][-3000:]
                    time.sleep(0.1)
                os.kill(c.raylet_pid(c.node_dir), signal.SIGKILL)
                try:
                    stdout, _stderr = proc.communicate(timeout=150)
                except subprocess.TimeoutExpired:
                    # Seen in CI: Ray Data kept waiting after the node's loss (its actors were
                    # not placed again), and a rerun on that damaged cluster hung too; a user
                    # stops the job, restarts Ray and reruns on the store, as here.
                    print("the job hung after the node's loss: stopped", file=sys.stderr)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
        if proc.returncode != 0:  # the job died with the node: a rerun on a new cluster
            with running_cluster() as fresh:
                again = audit(*args(fresh.address, 1), cwd=tmp_path, base_url=server.base_url)
            assert again.returncode == 0, again.stderr[-3000:]
            stdout = again.stdout
        else:
            print("the job survived the node's loss", file=sys.stderr)
        assert json.loads(stdout) == expected
