"""The sink base: on_result lists, background batches, retries, counting, exit, audit traces."""

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from typing import ClassVar

import pytest
from guard_helpers import ARENA, metric_points

import judgeguard as jg
from judgeguard import semconv as sc
from judgeguard.errors import GuardConfigError
from judgeguard.sinks import from_spec
from judgeguard.sinks.base import Sink, SinkError, SinkItem, TransientSinkError


class Recorder(Sink):
    """Records each posted batch; ``failures`` is a list of exceptions raised in turn."""

    name = "recorder"

    def __init__(self, failures=(), exporter=None, delay=0.0, **options):
        self.batches: list[list[SinkItem]] = []
        self.failures = list(failures)
        self.attempts = 0
        self.exporter = exporter
        self.delay = delay
        self.gate = threading.Event()
        self.gate.set()
        super().__init__(**options)

    def post(self, items):
        self.attempts += 1
        self.gate.wait(10)
        time.sleep(self.delay)
        if self.failures:
            raise self.failures.pop(0)
        self.batches.append(list(items))

    def span_exporter(self):
        return self.exporter

    @property
    def posted(self):
        return [item.check for batch in self.batches for item in batch]


def sink_counts(reader):
    counts = {}
    for point in metric_points(reader, sc.METRIC_SINK_ITEMS):
        outcome = point.attributes[sc.JUDGEGUARD_SINK_OUTCOME]
        counts[outcome] = counts.get(outcome, 0) + point.value
    return counts


def a_check(i=0):
    return jg.Check(status="consistent", r_rationale=0.9, explanation=f"check {i}")


def test_a_sink_is_an_on_result_and_a_list_of_callables_each_get_every_check():
    sink = Recorder(flush_interval=0.05)
    seen = []

    def broken(check):
        raise RuntimeError("a broken callback")

    judge = jg.guard(lambda i: ARENA, on_result=[sink, broken, seen.append])
    for i in range(5):
        assert judge(i) == ARENA
    assert jg.flush(10) == 0
    assert sink.flush(10) == 0
    assert len(sink.posted) == 5
    assert len(seen) == 5  # the callback after the broken one still ran
    sink.close()


@pytest.mark.parametrize("bad", [[print, 3], "print", 42])
def test_an_on_result_that_is_not_callable_is_refused_when_the_guard_is_made(bad):
    with pytest.raises(GuardConfigError, match="on_result"):
        jg.guard(lambda: ARENA, on_result=bad)


def test_posts_in_batches_in_the_background_and_counts_what_it_posted(otel):
    sink = Recorder(batch_size=40, flush_interval=0.05, telemetry=otel.telemetry)
    sink.gate.clear()  # hold the poster: the caller must not wait for it
    started = time.perf_counter()
    for i in range(100):
        sink(a_check(i))
    assert time.perf_counter() - started < 0.5
    sink.gate.set()
    assert sink.flush(10) == 0
    assert [c.explanation for c in sink.posted] == [f"check {i}" for i in range(100)]
    assert max(len(b) for b in sink.batches) <= 40
    assert sink_counts(otel.reader) == {"posted": 100}
    sink.close()


def test_a_transient_failure_is_retried_honouring_retry_after(otel):
    sink = Recorder(
        failures=[
            TransientSinkError("503", retry_after=0.0),
            TransientSinkError("429", retry_after=0.2),
        ],
        telemetry=otel.telemetry,
        flush_interval=0.01,
    )
    sink(a_check())
    started = time.perf_counter()
    assert sink.flush(10) == 0
    assert time.perf_counter() - started >= 0.2  # waited what Retry-After said
    assert sink.attempts == 3
    assert len(sink.posted) == 1
    assert sink_counts(otel.reader) == {"posted": 1}
    sink.close()


def test_a_refused_batch_and_exhausted_retries_are_logged_and_counted_never_silent(otel, caplog):
    sink = Recorder(
        failures=[ValueError("HTTP 400: bad annotation api_key=sk-secret123456789")]
        + [TransientSinkError("503", retry_after=0.0)] * 2,
        max_attempts=2,
        telemetry=otel.telemetry,
        flush_interval=0.01,
    )
    with caplog.at_level(logging.WARNING, logger="judgeguard"):
        sink(a_check(1))
        assert sink.flush(10) == 0
        sink(a_check(2))
        assert sink.flush(10) == 0
        sink(a_check(3))
        assert sink.flush(10) == 0
    assert [c.explanation for c in sink.posted] == ["check 3"]
    assert sink_counts(otel.reader) == {"failed": 2, "posted": 1}
    text = caplog.text
    assert "could not post 1 check(s)" in text
    assert "sk-secret123456789" not in text
    sink.close()


def test_a_full_queue_drops_counts_and_logs_once_per_burst(otel, caplog):
    sink = Recorder(max_queue=2, batch_size=1, telemetry=otel.telemetry, flush_interval=0.01)
    sink.gate.clear()
    sink(a_check(0))
    deadline = time.monotonic() + 10
    while sink.attempts < 1 and time.monotonic() < deadline:  # the poster holds check 0
        time.sleep(0.01)
    with caplog.at_level(logging.WARNING, logger="judgeguard"):
        for i in range(1, 10):
            sink(a_check(i))
    sink.gate.set()
    assert sink.flush(10) == 0
    assert sink_counts(otel.reader) == {"posted": 3, "dropped": 7}
    assert [c.explanation for c in sink.posted] == ["check 0", "check 1", "check 2"]
    assert caplog.text.count("dropped check(s)") == 1
    sink.close()


def test_a_closed_sink_posts_what_was_queued_and_drops_later_checks(otel):
    sink = Recorder(telemetry=otel.telemetry, flush_interval=5)
    for i in range(3):
        sink(a_check(i))
    assert sink.close(10) == 0  # no waiting for the 5 s interval: close posts at once
    sink(a_check(4))
    assert len(sink.posted) == 3
    assert sink_counts(otel.reader) == {"posted": 3, "dropped": 1}


@pytest.mark.parametrize(
    "options",
    [
        {"batch_size": 0},
        {"max_queue": 0},
        {"max_attempts": 0},
        {"flush_interval": 0},
        {"timeout": -1},
    ],
)
def test_bad_sink_options_are_typed_errors(options):
    with pytest.raises(SinkError):
        Recorder(**options)


@pytest.mark.parametrize("spec", ["phoenix", "nosuch=http://x", "mlflow=", "=http://x"])
def test_a_bad_sink_spec_is_a_typed_error_naming_the_known_sinks(spec):
    with pytest.raises(GuardConfigError, match="phoenix=URL"):
        from_spec(spec)


def test_the_process_exits_with_every_check_posted_after_the_dispatchers_exit_flush(tmp_path):
    """No flush() by the user: the dispatcher's exit flush runs on_result, then the sink's
    exit hook posts what that queued."""
    out = tmp_path / "posted.txt"
    script = textwrap.dedent(
        f"""
        import time
        import judgeguard as jg
        from judgeguard.sinks.base import Sink

        class FileSink(Sink):
            name = "file"
            def post(self, items):
                time.sleep(0.2)
                with open({str(out)!r}, "a") as f:
                    for item in items:
                        f.write(item.check.status + "\\n")

        sink = FileSink(flush_interval=2.0)

        def slow_judge(i):
            return "A is right.\\n\\nMy final verdict is: [[A>B]]"

        judge = jg.guard(slow_judge, on_result=sink)
        for i in range(20):
            judge(i)
        print("done")
        """
    )
    env = {"JUDGEGUARD_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"  # nothing of the sink's on the user's stdout
    assert out.read_text().splitlines() == ["skipped"] * 20


def test_an_audit_line_becomes_a_small_trace_and_its_check_points_at_it(otel):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    sink = Recorder(exporter=exporter, flush_interval=0.01, telemetry=otel.telemetry)
    judgment = jg.parse(ARENA)
    check = jg.Check(status="consistent", r_rationale=0.8, reward=0.8, judgment=judgment)
    record = {"id": "line-7", "judge": "gpt-judge", "question": "Which loop?", "output": ARENA}
    sink.log_audit_line(record, check)
    assert sink.flush(10) == 0
    (posted,) = sink.posted
    spans = {span.name: span for span in exporter.get_finished_spans()}
    judge_span = spans[f"{sc.SPAN_JUDGE_PREFIX} gpt-judge"]
    evaluator = spans[sc.SPAN_EVALUATOR]
    assert evaluator.parent.span_id == judge_span.context.span_id
    assert posted.trace_id == f"{judge_span.context.trace_id:032x}"
    assert posted.span_id == f"{judge_span.context.span_id:016x}"
    assert posted.evaluator_span_id == f"{evaluator.context.span_id:016x}"
    assert judge_span.attributes[sc.OUTPUT_VALUE] == ARENA
    assert "Which loop?" in judge_span.attributes[sc.INPUT_VALUE]
    assert evaluator.attributes[sc.JUDGEGUARD_R_RATIONALE] == 0.8
    assert check.trace_id is None  # the caller's check is not changed
    # the audit's own metrics are not counted twice by the line's trace
    assert not metric_points(otel.reader, sc.METRIC_CHECKS)
    sink.close()


def test_sinks_load_on_first_use_only():
    code = (
        "import sys, judgeguard as jg; assert 'judgeguard.sinks' not in sys.modules; "
        "assert jg.sinks.from_spec; assert 'judgeguard.sinks' in sys.modules; "
        "assert 'opentelemetry.sdk' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


class MemorySink(Sink):
    """A sink the CLI can build (``--sink memory=NAME``): keeps what it was given."""

    name = "memory"
    made: ClassVar[dict] = {}

    def __init__(self, url, **options):
        self.items = []
        MemorySink.made[url] = self
        super().__init__(flush_interval=0.01, **options)

    def post(self, items):
        self.items.extend(items)


def test_audit_sink_gets_every_judged_line_in_order_and_says_what_it_posted(
    monkeypatch, tmp_path, capsys
):
    from judgeguard import sinks
    from judgeguard.cli import main

    monkeypatch.setitem(sinks.SINKS, "memory", ("test_sinks", "MemorySink"))
    sample = "examples/data/audit_sample.jsonl"
    out = tmp_path / "out.jsonl"
    argv = ["audit", sample, "--sink", "memory=one", "--json", "--no-progress", "--no-cache"]
    assert main([*argv, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)  # stdout holds the summary only
    records = [json.loads(line) for line in out.read_text().splitlines()]
    judged = [r for r in records if r["status"] != "malformed"]
    assert 0 < len(judged) < len(records)  # the sample has malformed lines: nothing to post
    sink = MemorySink.made["one"]
    assert [item.audit_line["line"] for item in sink.items] == [r["line"] for r in judged]
    assert {item.check.status for item in sink.items} == {r["status"] for r in judged}
    assert f"sink memory: {len(judged)} line(s) posted" in captured.err
    assert sink._closed


@pytest.mark.parametrize("spec", ["nosuch=http://x", "phoenix"])
def test_audit_with_a_bad_sink_is_refused_before_anything_is_written(tmp_path, spec, capsys):
    from judgeguard.cli import main

    out = tmp_path / "out.jsonl"
    code = main(
        [
            "audit",
            "examples/data/audit_sample.jsonl",
            "--sink",
            spec,
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 2
    assert not out.exists()
    assert "phoenix=URL" in capsys.readouterr().err


def test_check_from_record_reads_an_out_record_and_skips_malformed_lines():
    from judgeguard.sinks.base import check_from_record

    record = {
        "line": 3, "id": "x", "judge": "j", "status": "inconsistent", "r_rationale": 0.2,
        "reward": 0.0, "r_outcome": 1, "needs_review": True, "explanation": "no support",
        "verdict": "A>B", "supported": "B>A", "cached": True,
    }  # fmt: skip
    check = check_from_record(record, "openai/mj")
    assert (check.status, check.r_rationale, check.reward, check.r_outcome) == (
        "inconsistent", 0.2, 0.0, 1.0
    )  # fmt: skip
    assert check.needs_review and check.cached and check.metajudge_model == "openai/mj"
    assert check.extra["verdict"] == "A>B" and check.extra["supported"] == "B>A"
    assert check_from_record({"status": "malformed", "line": 1}, None) is None
    assert (
        check_from_record({"status": "consistent", "r_rationale": "NaN?"}, None).r_rationale is None
    )


def test_a_batch_partly_posted_counts_only_what_is_still_pending_as_failed(otel):
    sink = Recorder(
        failures=[TransientSinkError("1 trace missing", retry_after=0.0, pending=1)] * 2,
        max_attempts=2,
        telemetry=otel.telemetry,
        flush_interval=0.2,
    )
    for i in range(3):
        sink(a_check(i))
    assert sink.flush(10) == 0
    assert sink_counts(otel.reader) == {"posted": 2, "failed": 1}
    sink.close()


def test_failures_are_logged_once_per_burst_and_recovery_is_said(otel, caplog):
    sink = Recorder(failures=[ValueError("HTTP 400")] * 3, telemetry=otel.telemetry)
    with caplog.at_level(logging.WARNING, logger="judgeguard"):
        for i in range(4):
            sink(a_check(i))
            assert sink.flush(10) == 0
    assert caplog.text.count("could not post") == 1
    assert "posts again (3 check(s) failed before)" in caplog.text
    assert sink_counts(otel.reader) == {"failed": 3, "posted": 1}
    sink.close()


def test_a_sink_needing_span_ids_skips_checks_without_them_counted_and_warned_once(otel, caplog):
    class Annotating(Recorder):
        needs_span_ids = True

    sink = Annotating(telemetry=otel.telemetry, flush_interval=0.01)
    with caplog.at_level(logging.WARNING, logger="judgeguard"):
        for i in range(3):
            sink(a_check(i))
        traced = a_check(9)
        traced.trace_id, traced.span_id = "ab" * 16, "cd" * 8
        sink(traced)
    assert sink.flush(10) == 0
    assert [c.explanation for c in sink.posted] == ["check 9"]
    assert sink_counts(otel.reader) == {"skipped": 3, "posted": 1}
    assert caplog.text.count("skips checks without a judge span id") == 1
    sink.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_posts_its_own_checks_and_exits_without_waiting(tmp_path):
    """The parent's poster thread does not exist in a forked child: without a sink of its
    own, the child's checks were never posted and its exit waited the whole exit timeout."""
    out = tmp_path / "posted.txt"
    script = textwrap.dedent(
        f"""
        import os, time
        import judgeguard as jg
        from judgeguard.sinks import Sink

        class FileSink(Sink):
            name = "file"
            def post(self, items):
                with open({str(out)!r}, "a") as f:
                    for item in items:
                        f.write(f"{{os.getpid() == parent}} {{item.check.explanation}}\\n")

        parent = os.getpid()
        sink = FileSink(flush_interval=0.05)
        sink(jg.Check(status="skipped", explanation="parent"))
        pid = os.fork()
        if pid == 0:
            sink(jg.Check(status="skipped", explanation="child"))
            started = time.monotonic()
            assert sink.flush(10) == 0
            os._exit(0 if time.monotonic() - started < 5 else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert sink.flush(10) == 0
        print("done")
        """
    )
    env = {**os.environ, "JUDGEGUARD_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0, result.stderr
    assert sorted(out.read_text().splitlines()) == ["False child", "True parent"]
