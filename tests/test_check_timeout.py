"""``check_timeout=`` on every front end (guard, Checker, CLI): a check that hangs ends
``error``/``check_timeout`` within the bound, is delivered and counted, and nothing is lost."""

from __future__ import annotations

import json
import time

import pytest
from guard_helpers import B_WINS, metric_points, mj_for, verdict_text
from loopback import Hang
from test_cli_audit import LOOPBACK_MJ, ROWS, audit, write

import judgeguard as jg
from judgeguard.pipeline import CheckSettings

pytestmark = pytest.mark.usefixtures("isolated_judgeguard")


def test_a_guard_with_check_timeout_ends_a_hung_check_within_the_bound(loopback_llm, otel):
    loopback_llm.responder = lambda body: Hang(seconds=30)
    got: list[jg.Check] = []
    judge = jg.guard(
        lambda i: verdict_text(i),
        metajudge=mj_for(loopback_llm, timeout=30),
        check_timeout=0.5,
        cache=False,
        on_result=got.append,
        telemetry=otel.telemetry,
    )
    started = time.perf_counter()
    handles = [judge.run(i) for i in range(3)]
    checks = [h.check(10) for h in handles]
    elapsed = time.perf_counter() - started
    assert [(c.status, c.reason) for c in checks] == [("error", "check_timeout")] * 3
    assert all("0.5 s" in (c.error or "") for c in checks)
    assert 0.5 <= elapsed < 5.0  # the bound, not the MetaJudge's own 30 s timeout
    jg.flush(10)
    assert sorted(map(id, got)) == sorted(map(id, checks))  # delivered, each once
    assert all(c.trace_id is not None for c in checks)  # still tied to the judge span
    counted = [
        p for p in metric_points(otel.reader, "judgeguard.checks")
        if p.attributes.get("error.type") == "check_timeout"
    ]  # fmt: skip
    assert sum(p.value for p in counted) == 3


def test_a_check_within_the_bound_is_not_affected(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS
    checker = jg.Checker(metajudge=mj_for(loopback_llm), check_timeout=5.0, cache=False)
    assert checker.settings.check_timeout == 5.0
    assert checker.submit(verdict_text(), wait=True).check(10).status == "consistent"


def test_check_timeout_is_validated_and_settings_exclude_options():
    with pytest.raises(jg.GuardConfigError, match="check_timeout"):
        jg.guard(lambda: "x", check_timeout=-1)
    with pytest.raises(jg.GuardConfigError, match="not both"):
        jg.Checker(CheckSettings(), sample=0.5)
    with pytest.raises(TypeError):
        jg.guard(lambda: "x", check_timeot=1.0)  # type: ignore[call-overload]


def test_audit_check_timeout_ends_hung_lines_and_keeps_every_line(tmp_path, loopback_llm):
    loopback_llm.responder = lambda body: Hang(seconds=30)
    write(tmp_path / "x.jsonl", ROWS[:3])
    started = time.perf_counter()
    proc = audit(
        "x.jsonl",
        *LOOPBACK_MJ,
        "--metajudge-option",
        "timeout=30",
        "--check-timeout",
        "0.5",
        "--json",
        "--out",
        "o.jsonl",
        cwd=tmp_path,
        base_url=loopback_llm.base_url,
    )
    elapsed = time.perf_counter() - started
    summary = json.loads(proc.stdout)
    assert proc.returncode == 1, proc.stderr  # every check failed
    assert summary["overall"]["error_reasons"] == {"check_timeout": 3}
    results = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [r["reason"] for r in results] == ["check_timeout"] * 3  # no line lost
    assert elapsed < 25  # the interpreter start dominates; never the 30 s hang


def test_audit_refuses_a_check_timeout_that_cannot_work(tmp_path):
    write(tmp_path / "x.jsonl", ROWS[:1])
    proc = audit("x.jsonl", "--check-timeout", "0", cwd=tmp_path)
    assert proc.returncode == 2 and "--check-timeout" in proc.stderr
