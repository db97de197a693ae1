"""`judgeguard audit` as a user runs it: a subprocess on temporary files, with the loopback
server as the MetaJudge (issue 11: files, stdout, exit codes, mappings, options)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from loopback import Reply

ROOT = Path(__file__).parent.parent

A_WINS = json.dumps(
    {
        "probabilities": {"A>>B": 0.6, "A>B": 0.3, "A=B": 0.05, "B>A": 0.05, "B>>A": 0.0},
        "explanation": "A is right.",
        "unsupported_claims": [],
    }
)


def out(text, verdict="A>B"):
    return f"{text}\n\nMy final verdict is: [[{verdict}]]"


ROWS = [
    {"id": i, "judge": "J1", "output": out(f"Case {i}: A's answer is correct, B's is not.")}
    for i in range(6)
]


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


#: The MetaJudge on the loopback server (with ``base_url=``), without retries.
LOOPBACK_MJ = ("--metajudge", "openai/judge-test", "--metajudge-option", "retries=0")


def audit_env(cwd, base_url=None, env_extra=None):
    """The environment of an audit subprocess: this tree, a cache in ``cwd``, the
    MetaJudge's endpoint at ``base_url`` (none from the caller's environment)."""
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONPATH": str(ROOT),
        "JUDGEGUARD_CACHE_DIR": str(cwd / "cache"),
        "OPENAI_API_KEY": "sk-test",
    }
    env.pop("JUDGEGUARD_METAJUDGE", None)
    env.pop("OPENAI_API_BASE", None)
    env.pop("OPENAI_BASE_URL", None)
    if base_url is not None:
        env["OPENAI_API_BASE"] = base_url
    env.update(env_extra or {})
    return env


def audit(*args, cwd, stdin=None, env_extra=None, base_url=None, script=None):
    """``judgeguard audit ARGS --no-progress`` in a subprocess (``script``: run that Python
    source as the main program instead, with the same arguments)."""
    env = audit_env(cwd, base_url, env_extra)
    program = ["-c", script] if script is not None else ["-m", "judgeguard.cli"]
    return subprocess.run(
        [sys.executable, *program, "audit", *map(str, args), "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        input=stdin,
        timeout=180,
    )


def unused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- 1. data loss -----------------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--out", "--report"])
def test_an_output_that_is_the_input_is_refused_in_every_spelling(tmp_path, flag):
    log = write(tmp_path / "x.jsonl", ROWS)
    before = log.read_bytes()
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.jsonl").symlink_to(log)
    os.link(log, tmp_path / "hard.jsonl")
    for target in ("x.jsonl", "./sub/../x.jsonl", str(log), "link.jsonl", "hard.jsonl"):
        proc = audit("x.jsonl", flag, target, cwd=tmp_path)
        assert proc.returncode == 2, (target, proc.stderr)
        assert "is the input file" in proc.stderr and proc.stderr.count("\n") == 1
        assert log.read_bytes() == before
    # reading stdin redirected from the file is caught too
    with log.open() as f:
        proc = subprocess.run(
            [sys.executable, "-m", "judgeguard.cli", "audit", "-", flag, "x.jsonl"],
            stdin=f,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
            timeout=120,
        )
    assert proc.returncode == 2 and "is the input file" in proc.stderr
    assert log.read_bytes() == before


def test_out_and_report_may_not_be_one_file(tmp_path):
    write(tmp_path / "x.jsonl", ROWS)
    proc = audit("x.jsonl", "--out", "r", "--report", "./r", cwd=tmp_path)
    assert proc.returncode == 2 and "same file" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_a_refused_run_leaves_old_outputs_untouched(tmp_path):
    write(tmp_path / "x.jsonl", ROWS)
    (tmp_path / "old.jsonl").write_text("previous results\n")
    (tmp_path / "old.html").write_text("<p>previous report</p>")
    for bad in (["--workers", "0"], ["--concurrency", "0"], ["--field", "nonsense=x"]):
        proc = audit("x.jsonl", "--out", "old.jsonl", "--report", "old.html", *bad, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert (tmp_path / "old.jsonl").read_text() == "previous results\n"
        assert (tmp_path / "old.html").read_text() == "<p>previous report</p>"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_unwritable_outputs_are_refused_before_the_run(tmp_path, loopback_llm):
    write(tmp_path / "x.jsonl", ROWS)
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    (tmp_path / "adir").mkdir()
    try:
        cases = {
            "missing/out.jsonl": "no such directory",
            "adir": "is a directory",
        }
        if os.geteuid() != 0:  # root writes anywhere
            cases["ro/out.jsonl"] = "cannot write"
        for target, message in cases.items():
            for flag in ("--out", "--report"):
                proc = audit(
                    "x.jsonl",
                    "--metajudge",
                    "openai/judge-test",
                    flag,
                    target,
                    cwd=tmp_path,
                    base_url=loopback_llm.base_url,
                )
                assert proc.returncode == 2, proc.stderr
                assert message in proc.stderr and "Traceback" not in proc.stderr
                assert proc.stderr.strip().count("\n") == 0  # one line
        assert loopback_llm.requests == []  # refused before a single check ran
    finally:
        (tmp_path / "ro").chmod(0o700)


def test_outputs_replace_old_files_whole_and_keep_their_mode(tmp_path):
    write(tmp_path / "x.jsonl", ROWS)
    old = tmp_path / "o.jsonl"
    old.write_text("old\n" * 100)
    old.chmod(0o640)
    (tmp_path / "link.jsonl").symlink_to(old)
    proc = audit("x.jsonl", "--out", "link.jsonl", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "link.jsonl").is_symlink()  # written through the link
    lines = [json.loads(x) for x in old.read_text().splitlines()]
    assert [r["id"] for r in lines] == list(range(6))
    assert old.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# -- 8, 9. clean stdout, failures counted ---------------------------------------------------
@pytest.mark.parametrize("workers", ["1", "2"])
def test_failing_metajudge_json_stays_json_and_the_run_fails(tmp_path, loopback_llm, workers):
    loopback_llm.responder = lambda body: Reply(status=500, content="upstream exploded")
    write(tmp_path / "x.jsonl", ROWS)
    proc = audit(
        "x.jsonl",
        *LOOPBACK_MJ,
        "--json",
        "--workers",
        workers,
        "--out",
        "o.jsonl",
        "--report",
        "r.html",
        cwd=tmp_path,
        base_url=loopback_llm.base_url,
    )
    summary = json.loads(proc.stdout)  # nothing but the summary on stdout
    assert proc.returncode == 1
    assert summary["overall"]["errors"] == 6
    assert summary["overall"]["error_reasons"] == {"server_error": 6}
    assert summary["judges"]["J1"]["errors"] == 6
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("judgeguard: all 6 checks failed: server_error (")
    assert "upstream exploded" in last
    results = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert {r["reason"] for r in results} == {"server_error"}
    html = (tmp_path / "r.html").read_text()
    assert "Failed checks (6 of 6)" in html and "upstream exploded" in html


def test_unreachable_metajudge_table_counts_errors(tmp_path):
    write(tmp_path / "x.jsonl", ROWS[:2])
    proc = audit(
        "x.jsonl",
        *LOOPBACK_MJ,
        cwd=tmp_path,
        base_url=f"http://127.0.0.1:{unused_port()}/v1",
    )
    assert proc.returncode == 1
    assert "Give Feedback" not in proc.stdout and "errors" in proc.stdout
    row = next(line for line in proc.stdout.splitlines() if "overall" in line)
    assert row.split("│")[-2].strip() == "2"  # the errors column
    assert "all 2 checks failed: connection_error" in proc.stderr


def test_some_failures_are_counted_but_do_not_fail_the_run(tmp_path, loopback_llm):
    replies = iter([A_WINS, Reply(status=500, content="boom")] * 3)
    loopback_llm.responder = lambda body: next(replies)
    write(tmp_path / "x.jsonl", ROWS)
    proc = audit(
        "x.jsonl",
        *LOOPBACK_MJ,
        "--json",
        "--concurrency",
        "1",
        cwd=tmp_path,
        base_url=loopback_llm.base_url,
    )
    summary = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert summary["overall"]["errors"] == 3
    assert summary["overall"]["error_reasons"] == {"server_error": 3}
    assert summary["overall"]["rc"] == 1.0


# -- 10, 11. field mapping ------------------------------------------------------------------
def test_mapped_pair_id_and_swapped_are_used_for_swap_agreement(tmp_path):
    rows = [
        {"meta": {"pair": "p1", "flip": False}, "judge": "J", "response": out("A is right.")},
        {"meta": {"pair": "p1", "flip": "true"}, "judge": "J", "response": out("B.", "B>A")},
        {"meta": {"pair": "p2", "flip": 0}, "judge": "J", "response": out("A is right.")},
        {"meta": {"pair": "p2", "flip": 1}, "judge": "J", "response": out("A is right.")},
        # a missing flag is the unswapped order; a flag that is not a boolean is left out
        {"meta": {"pair": "p3"}, "judge": "J", "response": out("A is right.")},
        {"meta": {"pair": "p3", "flip": True}, "judge": "J", "response": out("B.", "B>A")},
        {"meta": {"pair": "p4", "flip": "maybe"}, "judge": "J", "response": out("A.")},
        {"meta": {"pair": "p4", "flip": False}, "judge": "J", "response": out("A.")},
    ]
    write(tmp_path / "x.jsonl", rows)
    proc = audit(
        "x.jsonl",
        "--json",
        "--field",
        "output=response",
        "--field",
        "pair_id=meta.pair",
        "--field",
        "swapped=meta.flip",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    # p1: A then (swapped) B -> A both times, agrees; p2: A then (swapped) A -> disagrees;
    # p3 agrees; p4 has no swapped order
    assert json.loads(proc.stdout)["overall"]["swap_agreement"] == 2 / 3


def test_lines_without_output_get_one_hint_and_fail(tmp_path):
    rows = [{"id": i, "model": "J", "completion": out(f"Case {i}: A.")} for i in range(30)]
    write(tmp_path / "x.jsonl", rows)
    proc = audit("x.jsonl", cwd=tmp_path)
    assert proc.returncode == 1
    assert "skipped, no 'output'" not in proc.stderr  # not one line per input line
    assert proc.stderr.count("30 of 30 lines were skipped") == 1
    assert "completion, id, model" in proc.stderr.replace("\n", " ")
    assert "--field output=completion" in proc.stderr
    assert "nothing was audited" in proc.stderr
    proc = audit(
        "x.jsonl", "--field", "output=completion", "--json", "--out", "o.jsonl", cwd=tmp_path
    )
    assert proc.returncode == 0 and json.loads(proc.stdout)["overall"]["n"] == 30
    first = json.loads((tmp_path / "o.jsonl").read_text().splitlines()[0])
    assert first["fields"] == {"model": "J"}  # the mapped output is not copied again


def test_an_empty_input_audits_nothing(tmp_path):
    (tmp_path / "x.jsonl").write_text("\n")
    proc = audit("x.jsonl", "--json", cwd=tmp_path)
    assert proc.returncode == 1 and "nothing was audited" in proc.stderr


# -- 12. MetaJudge options ------------------------------------------------------------------
def test_metajudge_options_reach_litellm(tmp_path, loopback_llm):
    loopback_llm.responder = lambda body: A_WINS
    write(tmp_path / "x.jsonl", ROWS[:1])
    proc = audit(
        "x.jsonl",
        "--metajudge",
        "hosted_vllm/Qwen/Qwen2.5-7B-Instruct",
        "--metajudge-option",
        f"api_base={loopback_llm.base_url}",
        "--metajudge-option",
        "temperature=0.25",
        "--metajudge-option",
        'extra_body={"top_k": 7}',
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["overall"]["rc"] == 1.0
    sent = loopback_llm.requests[-1]
    assert sent["model"] == "Qwen/Qwen2.5-7B-Instruct"
    assert sent["temperature"] == 0.25 and sent["top_k"] == 7


def test_bad_metajudge_options_are_refused(tmp_path):
    write(tmp_path / "x.jsonl", ROWS[:1])
    for bad in ("noequals", "model=x", "=3"):  # usage errors: exit 2, one line
        proc = audit("x.jsonl", "--metajudge", "openai/x", "--metajudge-option", bad, cwd=tmp_path)
        assert proc.returncode == 2 and "--metajudge-option" in proc.stderr
    proc = audit("x.jsonl", "--metajudge-option", "temperature=0", cwd=tmp_path)
    assert proc.returncode == 2 and "--metajudge MODEL" in proc.stderr


# -- 13. small ones ---------------------------------------------------------------------------
def test_nan_ids_are_written_as_valid_json(tmp_path):
    (tmp_path / "x.jsonl").write_text(
        '{"id": NaN, "judge": "J", "output": "A is right.\\n\\n[[A>B]]"}\n'
        '{"id": Infinity, "judge": "J", "output": "A is right.\\n\\n[[A>B]]", "extra": -Infinity}\n'
    )
    proc = audit("x.jsonl", "--out", "o.jsonl", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "o.jsonl").read_text()

    def strict(token):
        raise ValueError(f"invalid JSON constant {token}")

    lines = [json.loads(x, parse_constant=strict) for x in text.splitlines()]
    assert [r["id"] for r in lines] == [None, None]
    assert lines[1]["fields"]["extra"] is None


def test_lone_surrogates_are_written_as_valid_utf8(tmp_path):
    (tmp_path / "x.jsonl").write_text(
        '{"id": "s\\ud800", "judge": "J", "output": "A \\udc00 is right.\\n\\n[[A>B]]"}\n'
    )
    proc = audit("x.jsonl", "--out", "o.jsonl", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (line,) = (tmp_path / "o.jsonl").read_bytes().decode("utf-8").splitlines()
    record = json.loads(line)
    assert record["id"] == "s\ufffd"
    assert record["r_outcome"] == 0.75
    json.loads(proc.stdout)


@pytest.mark.parametrize("name", ["-", "/dev/stdin"])
def test_stdin_is_an_input(tmp_path, name):
    text = "".join(json.dumps(r) + "\n" for r in ROWS)
    proc = audit(name, "--json", "--out", "o.jsonl", cwd=tmp_path, stdin=text)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["overall"]["n"] == 6
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 6


CRASHING = """
import sys
import judgeguard.pipeline as pipeline
import judgeguard.audit  # noqa: F401
from judgeguard.cli import main

async def boom(*args, **kwargs):
    raise RuntimeError("the same bug every time")

pipeline.run_check = boom
sys.exit(main(sys.argv[1:]))
"""


def test_a_crash_shows_one_traceback_per_cause_with_a_count(tmp_path):
    write(tmp_path / "x.jsonl", ROWS)
    proc = audit("x.jsonl", "--json", cwd=tmp_path, script=CRASHING)
    assert json.loads(proc.stdout)["overall"]["n"] == 6
    assert proc.stderr.count("Traceback") == 1
    assert "a check crashed 6× with RuntimeError: the same bug every time" in proc.stderr


def test_an_interrupted_run_keeps_the_old_output_and_saves_the_finished_lines(
    tmp_path, monkeypatch, capsys
):
    import judgeguard.audit as audit_mod
    from judgeguard.cli import main

    monkeypatch.setenv("JUDGEGUARD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("JUDGEGUARD_METAJUDGE", raising=False)
    log = write(tmp_path / "x.jsonl", ROWS * 5)
    old = tmp_path / "o.jsonl"
    old.write_text("old complete results\n")
    real = audit_mod.run_audit

    def interrupted(path_, config, out_=None, progress=None):
        seen = [0]

        def tick(n):
            seen[0] += n
            if seen[0] == 7:  # Ctrl-C
                raise KeyboardInterrupt

        return real(path_, config, out_, tick)

    monkeypatch.setattr(audit_mod, "run_audit", interrupted)
    code = main(["audit", str(log), "--out", str(old), "--no-progress", "--json"])
    assert code == 130
    assert old.read_text() == "old complete results\n"
    partial = (tmp_path / "o.jsonl.partial").read_text().splitlines()
    assert 7 <= len(partial) <= 30  # the lines finished when Ctrl-C came
    assert [json.loads(x)["line"] for x in partial] == list(range(1, len(partial) + 1))
    assert "o.jsonl.partial" in capsys.readouterr().err

    def crash(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(audit_mod, "run_audit", crash)
    with pytest.raises(RuntimeError):
        main(["audit", str(log), "--out", str(old), "--report", "r.html", "--no-progress"])
    assert old.read_text() == "old complete results\n"
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_rationale_without_verdict_gets_the_right_hint(tmp_path):
    rows = [{"judge": "J", "rationale": "A is right.", "decision": "A>B"} for _ in range(4)]
    write(tmp_path / "x.jsonl", rows)
    proc = audit("x.jsonl", cwd=tmp_path)
    assert proc.returncode == 1
    assert "rationale but no verdict: map it with --field verdict=KEY" in proc.stderr


def test_checks_the_metajudge_skipped_are_said(tmp_path, loopback_llm):
    write(tmp_path / "x.jsonl", [{"judge": "J", "output": "[[A>B]]"}] * 3)
    proc = audit(
        "x.jsonl", "--metajudge", "openai/judge-test", cwd=tmp_path, base_url=loopback_llm.base_url
    )
    assert proc.returncode == 0, proc.stderr
    assert "3 checks skipped: empty_rationale" in proc.stderr
    assert loopback_llm.requests == []


def test_out_to_a_stream_is_written_directly(tmp_path):
    write(tmp_path / "x.jsonl", ROWS)
    proc = audit("x.jsonl", "--out", "/dev/stdout", "--report", "/dev/null", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert [r["id"] for r in results] == list(range(6))


NOISY = """
import sys
import judgeguard.pipeline as pipeline
from judgeguard.cli import main

real = pipeline.run_check

async def noisy(*args, **kwargs):
    print("a library printing to stdout")  # e.g. a provider SDK's banner
    return await real(*args, **kwargs)

pipeline.run_check = noisy
sys.exit(main(sys.argv[1:]))
"""


def test_whatever_a_library_prints_during_the_run_stays_off_stdout(tmp_path):
    write(tmp_path / "x.jsonl", ROWS)
    proc = audit("x.jsonl", "--json", cwd=tmp_path, script=NOISY)
    assert json.loads(proc.stdout)["overall"]["n"] == 6
    assert proc.stderr.count("a library printing to stdout") == 6


def test_a_real_ctrl_c_writes_the_finished_lines_and_the_rerun_does_the_rest(
    tmp_path, loopback_llm
):
    """SIGINT to a running audit (as a terminal's Ctrl-C sends it): exit 130, the lines
    finished by then in --out's .partial, in order, none cut short; the rerun asks only
    for the others."""
    import signal
    import time

    loopback_llm.latency = 0.1
    loopback_llm.responder = lambda body: A_WINS
    rows = [
        {"id": i, "judge": "J1", "output": out(f"Case {i}: A's answer is correct.")}
        for i in range(400)
    ]
    write(tmp_path / "x.jsonl", rows)
    env = audit_env(tmp_path, loopback_llm.base_url)
    args = ["x.jsonl", *LOOPBACK_MJ, "--concurrency", "4", "--json", "--no-progress"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "judgeguard.cli", "audit", *args, "--out", "o.jsonl"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(loopback_llm.requests) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    partial = [json.loads(x) for x in (tmp_path / "o.jsonl.partial").read_text().splitlines()]
    assert 0 < len(partial) < 400
    assert [x["line"] for x in partial] == list(range(1, len(partial) + 1))
    assert all(x["status"] == "consistent" for x in partial)
    assert json.loads(stdout)["overall"]["n"] == len(partial)
    asked = len(loopback_llm.requests)
    rerun = audit(*args, "--out", "o.jsonl", cwd=tmp_path, base_url=loopback_llm.base_url)
    assert rerun.returncode == 0, rerun.stderr
    lines = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == list(range(400))
    assert sum(x["cached"] for x in lines) >= len(partial)
    assert len(loopback_llm.requests) - asked == 400 - sum(x["cached"] for x in lines)
