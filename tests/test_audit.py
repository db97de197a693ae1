"""End-to-end tests of `judgeguard audit` against the loopback MetaJudge server."""

import json
from pathlib import Path

import pytest

from judgeguard.cli import main

A_HEAVY = {"A>>B": 0.6, "A>B": 0.3, "A=B": 0.05, "B>A": 0.05, "B>>A": 0.0}
B_HEAVY = {"A>>B": 0.0, "A>B": 0.05, "A=B": 0.05, "B>A": 0.3, "B>>A": 0.6}
SAMPLE = Path(__file__).parent.parent / "examples" / "data" / "audit_sample.jsonl"


def responder(body):
    """Support for whichever side the rationale says it favours."""
    prompt = body["messages"][-1]["content"]
    probs = A_HEAVY if "favours A" in prompt else B_HEAVY
    return json.dumps(
        {
            "probabilities": probs,
            "explanation": "follows the stated reason",
            "unsupported_claims": [],
        }
    )


def out(text, verdict):
    return f"{text}\n\nMy final verdict is: [[{verdict}]]"


SMALL = [
    {
        "id": 1,
        "judge": "J1",
        "label": "B>A",
        "pair_id": "p",
        "swapped": False,
        "output": out("The evidence favours B: A misreads the date.", "B>A"),
    },
    {
        "id": 2,
        "judge": "J1",
        "label": "A>B",
        "pair_id": "p",
        "swapped": True,
        "output": out("The evidence favours A: B misreads the date.", "A>B"),
    },
    {
        "id": 3,
        "judge": "J1",
        "label": "A>B",
        "output": out("The evidence favours B on every point that matters.", "A>B"),
    },
    {"id": 4, "judge": "J2", "output": out("Everything favours A here.", "A>B")},
    {"id": 5, "judge": "J2", "output": out("Everything favours A here, truly.", "B>A")},
    {"id": 6, "judge": "J1", "output": "I could not decide between them."},
]


@pytest.fixture
def env(tmp_path, monkeypatch, loopback_llm):
    monkeypatch.setenv("JUDGEGUARD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENAI_API_BASE", loopback_llm.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.delenv("JUDGEGUARD_METAJUDGE", raising=False)
    loopback_llm.responder = responder
    return loopback_llm


def write(tmp_path, rows, broken_at=None):
    path = tmp_path / "log.jsonl"
    lines = [json.dumps(r) for r in rows]
    if broken_at is not None:
        lines.insert(broken_at, '{"id": "broken", "judge": "J1", "output": ')
    path.write_text("\n".join(lines) + "\n")
    return path


def run_json(args, capsys):
    code = main(["audit", *args, "--json", "--no-progress"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_exact_summary_on_a_hand_checked_file(env, tmp_path, capsys):
    path = write(tmp_path, SMALL, broken_at=3)
    results = tmp_path / "results.jsonl"
    code, summary, err = run_json(
        [str(path), "--metajudge", "openai/judge-test", "--out", str(results)], capsys
    )
    assert code == 0
    j1, j2, overall = summary["judges"]["J1"], summary["judges"]["J2"], summary["overall"]
    for figures in (j1, j2, overall):  # no check failed (approx cannot compare nested dicts)
        assert figures.pop("error_reasons") == {} and figures.pop("errors") == 0
    # J1: lines 1, 2, 3 parse (6 does not); all three labels are met; the pair agrees after
    # mirroring; line 3's rationale favours B but says A>B: inconsistent (r = 0.05),
    # flagged and deceptive (label-correct). r = 0.9, 0.9, 0.05; reward = r x 1.
    assert j1 == pytest.approx(
        {
            "n": 4,
            "parse_rate": 0.75,
            "outcome_accuracy": 1.0,
            "swap_agreement": 1.0,
            "rc": 2 / 3,
            "mean_r_rationale": (0.9 + 0.9 + 0.05) / 3,
            "mean_reward": (0.9 + 0.9 + 0.05) / 3,
            "flagged_rate": 1 / 3,
            "deceptive_rate": 1 / 3,
        }
    )
    # J2: no labels, so R_outcome is the verdict's own value: A>B 0.75, B>A 0.25.
    assert j2 == pytest.approx(
        {
            "n": 2,
            "parse_rate": 1.0,
            "outcome_accuracy": None,
            "swap_agreement": None,
            "rc": 0.5,
            "mean_r_rationale": (0.9 + 0.05) / 2,
            "mean_reward": (0.75 * 0.9 + 0.25 * 0.05) / 2,
            "flagged_rate": 0.5,
            "deceptive_rate": None,
        }
    )
    assert overall == pytest.approx(
        {
            "n": 6,
            "parse_rate": 5 / 6,
            "outcome_accuracy": 1.0,
            "swap_agreement": 1.0,
            "rc": 3 / 5,
            "mean_r_rationale": (0.9 * 3 + 0.05 * 2) / 5,
            "mean_reward": (0.9 + 0.9 + 0.05 + 0.75 * 0.9 + 0.25 * 0.05) / 5,
            "flagged_rate": 2 / 5,
            "deceptive_rate": 1 / 3,
        }
    )
    assert "line 4: skipped, invalid JSON" in err
    lines = [json.loads(x) for x in results.read_text().splitlines()]
    assert [r["line"] for r in lines] == list(range(1, 8))  # one per input line, in order
    assert [r["status"] for r in lines] == [
        "consistent",
        "consistent",
        "inconsistent",
        "malformed",
        "consistent",
        "inconsistent",
        "unparsed",
    ]
    assert lines[0]["fields"] == {"pair_id": "p", "swapped": False}
    assert len(env.requests) == 5


def test_resume_after_interruption_reuses_the_cache(env, tmp_path, capsys, monkeypatch):
    rows = [
        {"id": i, "judge": "J", "output": out(f"Case {i}: favours A.", "A>B")} for i in range(200)
    ]
    path = write(tmp_path, rows)
    import judgeguard.audit as audit_mod

    real = audit_mod.run_audit

    def interrupted(path_, config, out_=None, progress=None):
        seen = [0]

        def tick(n):
            seen[0] += n
            if seen[0] == 15:  # Ctrl-C, once
                raise KeyboardInterrupt

        return real(path_, config, out_, tick)

    monkeypatch.setattr(audit_mod, "run_audit", interrupted)
    code = main(
        [
            "audit",
            str(path),
            "--metajudge",
            "openai/judge-test",
            "--no-progress",
            "--json",
            "--concurrency",
            "4",
        ]
    )
    first = json.loads(capsys.readouterr().out)
    assert code == 130
    assert 15 <= first["overall"]["n"] < 200
    calls_before = len(env.requests)
    monkeypatch.setattr(audit_mod, "run_audit", real)
    code, summary, _ = run_json([str(path), "--metajudge", "openai/judge-test"], capsys)
    assert code == 0 and summary["overall"]["n"] == 200
    assert summary["overall"]["rc"] == 1.0
    # every line checked before the interruption came from the cache
    assert len(env.requests) - calls_before <= 200 - first["overall"]["n"]
    assert len(env.requests) == 200


def test_without_metajudge_it_says_how_to_turn_the_check_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JUDGEGUARD_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.delenv("JUDGEGUARD_METAJUDGE", raising=False)
    report = tmp_path / "r.html"
    code = main(["audit", str(SAMPLE), "--no-progress", "--report", str(report)])
    captured = capsys.readouterr()
    assert code == 0
    assert "--metajudge MODEL" in captured.err and "JUDGEGUARD_METAJUDGE" in captured.err
    assert "gpt-judge" in captured.out and "small-judge" in captured.out
    html = report.read_text()
    assert html.count("<svg") == 3  # scatter + two histograms
    assert "Position swap" in html and "<script" not in html and "http://" not in html


def test_sample_data_figures(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JUDGEGUARD_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.delenv("JUDGEGUARD_METAJUDGE", raising=False)
    _, summary, err = run_json([str(SAMPLE)], capsys)
    small = summary["judges"]["small-judge"]
    # small-judge always answers A>B: right on 3 of 8 labels, never stable under a swap
    assert (small["outcome_accuracy"], small["swap_agreement"]) == (3 / 8, 0.0)
    assert summary["judges"]["gpt-judge"]["swap_agreement"] == 1.0
    assert summary["judges"]["inspect-grader"]["parse_rate"] == 0.75
    assert summary["overall"]["rc"] is None
    assert "line 11: skipped" in err


def test_report_with_metajudge_has_flagged_cases(env, tmp_path, capsys):
    path = write(tmp_path, SMALL)
    report = tmp_path / "r.html"
    code = main(
        [
            "audit",
            str(path),
            "--metajudge",
            "openai/judge-test",
            "--no-progress",
            "--report",
            str(report),
        ]
    )
    assert code == 0
    html = report.read_text()
    assert "Flagged for review (2)" in html
    assert "favours B on every point" in html  # the redacted rationale of a flagged case
    assert "[[A&gt;B]]" not in html and "[[A>B]]" not in html
    assert "<circle" in html  # J1 has labels and checks: a point on the scatter


def test_field_remapping_and_rationale_verdict_lines(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JUDGEGUARD_CACHE_DIR", str(tmp_path / "c"))
    rows = [
        {"run": {"model": "m1", "response": out("A wins.", "A>B")}, "gold": {"v": "A>B"}},
        {
            "run": {"model": "m1"},
            "rationale": "B is right.",
            "verdict": "B>A",
            "gold": {"v": "A>B"},
        },
    ]
    path = write(tmp_path, rows)
    _, summary, _ = run_json(
        [
            str(path),
            "--field",
            "output=run.response",
            "--field",
            "judge=run.model",
            "--field",
            "label=gold.v",
        ],
        capsys,
    )
    assert summary["judges"]["m1"]["outcome_accuracy"] == 0.5
    assert summary["judges"]["m1"]["parse_rate"] == 1.0
    assert main(["audit", str(path), "--field", "nonsense=x", "--no-progress"]) == 2


@pytest.mark.slow
def test_thousands_of_lines(env, tmp_path, capsys):
    rows = [
        {
            "id": i,
            "judge": f"J{i % 3}",
            "label": "A>B" if i % 2 else "B>A",
            "output": out(f"Case {i}: favours {'A' if i % 4 else 'B'}.", "A>B" if i % 2 else "B>A"),
        }
        for i in range(3000)
    ]
    path = write(tmp_path, rows, broken_at=1500)
    results = tmp_path / "o.jsonl"
    code, summary, err = run_json(
        [
            str(path),
            "--metajudge",
            "openai/judge-test",
            "--concurrency",
            "32",
            "--out",
            str(results),
        ],
        capsys,
    )
    assert code == 0
    assert summary["overall"]["n"] == 3000 and summary["overall"]["parse_rate"] == 1.0
    assert summary["overall"]["outcome_accuracy"] == 1.0
    assert sum(1 for _ in results.open()) == 3001
    assert "line 1501: skipped" in err


def test_worker_processes_give_the_same_results(env, tmp_path, capsys):
    path = write(tmp_path, SMALL * 5, broken_at=3)
    args = [str(path), "--metajudge", "openai/judge-test", "--no-cache"]
    _, one, _ = run_json(args, capsys)
    results = tmp_path / "o.jsonl"
    code, two, err = run_json([*args, "--workers", "2", "--out", str(results)], capsys)
    assert code == 0 and two == one
    assert [json.loads(x)["line"] for x in results.read_text().splitlines()] == list(range(1, 32))
    assert "line 4: skipped" in err


def test_worker_processes_are_the_offload_workers_and_their_spans_come_home(env, tmp_path):
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import judgeguard.offload as offload
    from judgeguard import semconv as sc
    from judgeguard.audit import AuditConfig, run_audit
    from judgeguard.metajudge import MetaJudge
    from judgeguard.telemetry import Telemetry

    started = []
    real_start = offload.CheckWorker._start

    def start(self):
        link = real_start(self)
        started.append(link.proc.pid)
        return link

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    path = write(tmp_path, SMALL * 2)
    mj = MetaJudge("openai/judge-test")
    config = AuditConfig(
        metajudge=mj, workers=2, telemetry=Telemetry(tracer_provider, MeterProvider())
    )
    try:
        offload.CheckWorker._start = start  # type: ignore[method-assign]
        summary = run_audit(path, config)
    finally:
        offload.CheckWorker._start = real_start  # type: ignore[method-assign]
    assert summary.overall.n == 12 and summary.overall.checked == 10
    assert len(set(started)) == 2  # two worker processes of judgeguard.offload
    evaluators = [s for s in exporter.get_finished_spans() if s.name == sc.SPAN_EVALUATOR]
    assert len(evaluators) == 10  # recorded in the workers, replayed in this process


def test_a_rerun_with_other_gate_settings_makes_no_metajudge_call(env, tmp_path, capsys):
    path = write(tmp_path, SMALL)
    args = [str(path), "--metajudge", "openai/judge-test"]
    code, first, _ = run_json(args, capsys)
    assert code == 0 and len(env.requests) == 5
    assert first["overall"]["flagged_rate"] == pytest.approx(2 / 5)
    assert first["gate"] == {"review_threshold": 0.3, "floor": 0.0, "on_error": "none"}
    code, strict, _ = run_json([*args, "--review-below", "0.95"], capsys)
    assert code == 0 and len(env.requests) == 5  # no new MetaJudge call
    assert strict["overall"]["flagged_rate"] == 1.0  # every R_rationale (0.9, 0.05) < 0.95
    assert strict["overall"]["mean_reward"] == pytest.approx(first["overall"]["mean_reward"])
    code, floored, _ = run_json([*args, "--floor", "0.5", "--on-error", "zero"], capsys)
    assert code == 0 and len(env.requests) == 5
    assert floored["gate"] == {"review_threshold": 0.3, "floor": 0.5, "on_error": "zero"}
    # J1's rewards: r x 1 with r = 0.9, 0.9, 0.05, each lifted to 0.5 + 0.5 r
    assert floored["judges"]["J1"]["mean_reward"] == pytest.approx((0.95 + 0.95 + 0.525) / 3)
    assert floored["overall"]["flagged_rate"] == pytest.approx(2 / 5)


def test_bad_gate_settings_are_refused_before_the_run(env, tmp_path, capsys):
    path = write(tmp_path, SMALL)
    code = main(["audit", str(path), "--metajudge", "openai/judge-test", "--floor", "1.5"])
    err = capsys.readouterr().err
    assert code == 2 and "--floor" in err and "[0, 1)" in err
    assert len(env.requests) == 0


def test_an_interrupted_run_stores_every_finished_line_and_the_rerun_counts_each_once(
    env, tmp_path, capsys, monkeypatch
):
    """The audit's cache writes are batched: Ctrl-C mid-run still writes every finished
    line's result (the last batch) before exiting, so the rerun asks only for the rest."""
    import judgeguard.audit as audit_mod
    import judgeguard.cache as cache_mod
    from judgeguard.cache import DiskCache

    monkeypatch.setattr(cache_mod, "BATCH_SIZE", 1000)  # nothing written before the end
    rows = [
        {"id": i, "judge": "J", "output": out(f"Case {i}: favours A.", "A>B")} for i in range(120)
    ]
    path = write(tmp_path, rows)
    real = audit_mod.run_audit

    def interrupted(path_, config, out_=None, progress=None):
        seen = [0]

        def tick(n):
            seen[0] += n
            if seen[0] == 40:
                raise KeyboardInterrupt

        return real(path_, config, out_, tick)

    monkeypatch.setattr(audit_mod, "run_audit", interrupted)
    args = [str(path), "--metajudge", "openai/judge-test", "--concurrency", "4"]
    code = main(["audit", *args, "--no-progress", "--json"])
    first = json.loads(capsys.readouterr().out)
    assert code == 130
    done = first["overall"]["n"]
    assert 40 <= done < 120
    asked = len(env.requests)
    # every line the first run finished is in the cache, line result and MetaJudge answer
    assert len(DiskCache(tmp_path / "cache")) >= 2 * done
    monkeypatch.setattr(audit_mod, "run_audit", real)
    second_out = tmp_path / "second.jsonl"
    code, summary, _ = run_json([*args, "--out", str(second_out)], capsys)
    assert code == 0 and summary["overall"]["n"] == 120
    lines = [json.loads(x) for x in second_out.read_text().splitlines()]
    assert [x["id"] for x in lines] == list(range(120))  # none lost, none twice
    assert sum(x["cached"] for x in lines) >= done
    assert len(env.requests) - asked == 120 - sum(x["cached"] for x in lines)


def test_run_audit_works_from_inside_a_running_event_loop(env, tmp_path):
    """A notebook (or any async app) calling the sync run_audit: its checks run on an
    event loop of their own, and the caller's loop is left alone."""
    import asyncio

    from judgeguard import MetaJudge
    from judgeguard.audit import AuditConfig, run_audit

    path = write(tmp_path, SMALL)

    async def notebook_cell():
        loop = asyncio.get_running_loop()
        summary = run_audit(path, AuditConfig(metajudge=MetaJudge("openai/judge-test")))
        assert asyncio.get_running_loop() is loop
        return summary

    summary = asyncio.run(notebook_cell())
    assert summary.overall.n == 6 and summary.overall.checked == 5
    assert len(env.requests) == 5
