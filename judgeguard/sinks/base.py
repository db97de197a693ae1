"""What every sink shares: a bounded queue, one background poster thread, batches, retries.

A sink is an ``on_result`` callable: ``jg.guard(..., on_result=sink)`` (or a list of sinks
and functions). Calling it only enqueues the check (never blocks, never raises); a daemon
thread posts batches (``batch_size`` items, or whatever arrived within ``flush_interval``
seconds) through :meth:`Sink.post`, retrying a :class:`TransientSinkError` with backoff
and jitter (``Retry-After`` honoured) up to ``max_attempts``. Nothing is lost silently:
every item ends counted in ``judgeguard.sink.items`` as ``posted``, ``dropped`` (queue full
or sink closed; logged once per burst) or ``failed`` (the tool refused it, or retries ran
out; logged). The sink flushes at interpreter exit, after the dispatcher's own exit flush.

For the audit, which has no live spans, :meth:`Sink.log_audit_line` first emits the line as
a small trace of its own (a judge span with the judgment, an evaluator span with the check)
through :meth:`Sink.span_exporter`, then posts the check against it.
"""

from __future__ import annotations

import abc
import atexit
import contextlib
import email.utils
import logging
import os
import queue
import threading
import time
import weakref
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, get_args

from judgeguard import env
from judgeguard import semconv as sc
from judgeguard.errors import JudgeguardError, safe_str
from judgeguard.metajudge.client import RetryPolicy
from judgeguard.schema import Check, CheckStatus
from judgeguard.scrub import RedactingFilter, clean_text, redact_secrets
from judgeguard.telemetry import Telemetry, get_telemetry, stamp_span_ids

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = [
    "Sink",
    "SinkError",
    "SinkItem",
    "TransientSinkError",
    "check_from_record",
    "retry_after_seconds",
    "text_for_tool",
]

log = logging.getLogger("judgeguard")
if not any(isinstance(f, RedactingFilter) for f in log.filters):
    log.addFilter(RedactingFilter())


class SinkError(JudgeguardError):
    """A sink that cannot work as configured, or a post the tool refused for good."""


class TransientSinkError(SinkError):
    """A post that may succeed later (429, 5xx, timeout, connection error): retried.

    ``pending``: how many of the batch's items are still not posted, when the sink posted
    the others (those count as posted if the retries run out); ``None``: all of them.
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, pending: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.pending = pending


@dataclass
class SinkItem:
    """One thing to post: a finished check (its ``trace_id``/``span_id`` name the judge
    span to annotate) and, for audit lines, the line's ``--out`` record."""

    check: Check
    audit_line: Mapping[str, Any] | None = None


_CLOSE = object()  # queue sentinel: post what is queued, then stop
_open_sinks: weakref.WeakSet[Sink] = weakref.WeakSet()


class Sink(abc.ABC):
    """Posts finished checks to an observability tool, in the background.

    Subclasses set :attr:`name`, implement :meth:`post` (one batch) and, to give audit
    lines a trace, :meth:`span_exporter`. They import their client libraries in
    ``__init__`` (the caller's thread): the poster thread never imports a module. A forked
    child gets a sink of its own (an empty queue, its own poster thread, and a fresh
    ``requests`` session in place of a ``_session`` attribute: connections are never shared
    with the parent); what the parent had queued stays the parent's to post.
    """

    #: The tool's name: the ``judgeguard.sink.name`` metric attribute and in logs.
    name: ClassVar[str] = "sink"
    #: Whether a check needs its judge span's ids (``trace_id``, ``span_id``) to be posted
    #: (feedback attached to a span); a check without them (no tracing) is counted as
    #: ``skipped``, with one warning, instead of queued.
    needs_span_ids: ClassVar[bool] = False

    def __init__(
        self,
        *,
        batch_size: int = 100,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        max_attempts: int = 5,
        timeout: float = 10.0,
        telemetry: Telemetry | None = None,
    ) -> None:
        if batch_size < 1 or max_queue < 1 or max_attempts < 1:
            raise SinkError("batch_size, max_queue and max_attempts must be at least 1")
        if flush_interval <= 0 or timeout <= 0:
            raise SinkError("flush_interval and timeout must be positive")
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.retry = RetryPolicy(retries=max_attempts - 1, base_delay=0.5, max_delay=30.0)
        self._telemetry = telemetry
        self._queue: queue.Queue[object] = queue.Queue(max_queue)
        self._unfinished = 0  # enqueued and not yet posted/failed
        self._idle = threading.Condition()
        self._closed = False
        self._dropping = False  # inside a burst of drops (logged once per burst)
        self._failing = 0  # checks failed since the last successful post (logged once)
        self._warned_skip = False
        #: items by outcome so far: posted, failed, dropped (also the metric)
        self.counts: Counter[str] = Counter(posted=0, failed=0, dropped=0)
        #: the audit's MetaJudge model, for checks built from audit records
        self.metajudge_model: str | None = None
        self._audit_telemetry: Telemetry | None = None
        self._audit_provider: TracerProvider | None = None
        self._start()
        _open_sinks.add(self)

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"judgeguard-sink-{self.name}", daemon=True
        )
        self._thread.start()

    def _after_fork_in_child(self) -> None:
        """The child's own queue, poster and connections (the parent's thread is gone)."""
        self._queue = queue.Queue(self._queue.maxsize)
        self._idle = threading.Condition()
        self._unfinished = 0
        session = getattr(self, "_session", None)
        if session is not None and hasattr(session, "headers"):
            fresh = type(session)()
            fresh.headers.update(session.headers)
            self._session = fresh
        self._audit_telemetry = self._audit_provider = None
        if not self._closed:
            self._start()

    # -- the caller's side ----------------------------------------------------------------
    def __call__(self, check: Check) -> None:
        """Queue one finished check for posting (the ``on_result`` protocol)."""
        self._put(SinkItem(check))

    def log_audit_line(self, record: Mapping[str, Any], check: Check | None = None) -> None:
        """Queue one audited line (its ``--out`` record): emitted as a small trace of its
        own (the judgment on a judge span, the check on its evaluator span), then its check
        posted against it. ``check`` defaults to the one the record describes; a malformed
        line (no judgment) has nothing to post."""
        if check is None:
            check = check_from_record(record, self.metajudge_model)
            if check is None:
                return
        try:
            check = self._trace_audit_line(record, check)
        except Exception as exc:  # a tracing failure still posts what it can
            log.warning("judgeguard: sink %s could not trace an audit line: %s", self.name, exc)
        self._put(SinkItem(check, audit_line=record))

    def flush(self, timeout: float | None = None) -> int:
        """Wait until every queued item is posted (or failed); returns how many are left."""
        if threading.current_thread() is self._thread:
            return self._unfinished  # waiting here, on the poster itself, would deadlock
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._unfinished:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._idle.wait(left if left is not None else 0.5)
            return self._unfinished

    def close(self, timeout: float | None = None) -> int:
        """Post what is queued, then stop; returns how many items were not posted.

        Later checks are dropped (counted). Also runs at interpreter exit.
        """
        if not self._closed:
            self._closed = True
            with contextlib.suppress(queue.Full):
                self._queue.put(_CLOSE, timeout=timeout)
        left = self.flush(timeout)
        self._thread.join(0 if left else timeout)
        if self._audit_provider is not None:
            self._audit_provider.shutdown()
        return left

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- for subclasses -------------------------------------------------------------------
    @abc.abstractmethod
    def post(self, items: Sequence[SinkItem]) -> None:
        """Post one batch, on the sink's thread. Raise :class:`TransientSinkError` to have
        the batch retried; any other exception fails the batch (logged, counted)."""

    def span_exporter(self) -> SpanExporter | None:
        """Where audit lines' traces go (an OTLP exporter to the tool); ``None``: audit
        lines are posted without a trace of their own."""
        return None

    # -- internals ------------------------------------------------------------------------
    @property
    def telemetry(self) -> Telemetry:
        """Where the sink's own metric goes (the process's telemetry unless given)."""
        return self._telemetry or get_telemetry()

    def _put(self, item: SinkItem) -> None:
        if self.needs_span_ids and (item.check.trace_id is None or item.check.span_id is None):
            self._count("skipped", 1)
            if not self._warned_skip:
                self._warned_skip = True
                log.warning(
                    "judgeguard: sink %s skips checks without a judge span id (is an "
                    "OpenTelemetry SDK tracer provider configured?): nothing to attach them "
                    "to (counted)",
                    self.name,
                )
            return
        if self._closed:
            self._drop(1, "the sink is closed")
            return
        with self._idle:
            self._unfinished += 1
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            with self._idle:
                self._unfinished -= 1
                self._idle.notify_all()
            self._drop(1, f"its queue is full ({self._queue.maxsize} checks)")
            return
        self._dropping = False

    def _drop(self, count: int, why: str) -> None:
        self._count("dropped", count)
        if not self._dropping:
            self._dropping = True
            log.warning("judgeguard: sink %s dropped check(s): %s (counted)", self.name, why)

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[SinkItem] = []
            try:
                first = self._queue.get()
            except Exception:  # interpreter shutdown
                return
            if first is _CLOSE:
                break
            assert isinstance(first, SinkItem)
            batch.append(first)
            deadline = time.monotonic() + self.flush_interval
            while len(batch) < self.batch_size:
                left = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=max(left, 0.0)) if left > 0 else None
                except queue.Empty:
                    item = None
                if item is None:
                    break
                if item is _CLOSE:
                    stop = True
                    break
                assert isinstance(item, SinkItem)
                batch.append(item)
            self._post_with_retries(batch)
            with self._idle:
                self._unfinished -= len(batch)
                self._idle.notify_all()

    def _post_with_retries(self, batch: list[SinkItem]) -> None:
        if any(item.audit_line is not None for item in batch) and self._audit_provider:
            self._audit_provider.force_flush(int(self.timeout * 1000))
        for attempt in range(self.max_attempts):
            try:
                self.post(batch)
            except TransientSinkError as exc:
                if attempt + 1 < self.max_attempts and not self._closed_and_late():
                    time.sleep(self.retry.delay(attempt, exc.retry_after))
                    continue
                failed = len(batch) if exc.pending is None else min(exc.pending, len(batch))
                self._count("posted", len(batch) - failed)
                self._fail(failed, exc)
                return
            except Exception as exc:
                self._fail(len(batch), exc)
                return
            else:
                self._count("posted", len(batch))
                if self._failing:
                    log.warning(
                        "judgeguard: sink %s posts again (%d check(s) failed before)",
                        self.name,
                        self._failing,
                    )
                    self._failing = 0
                return

    def _closed_and_late(self) -> bool:
        """At exit, retries are not worth holding the interpreter for."""
        return self._closed and not threading.main_thread().is_alive()

    def _fail(self, count: int, exc: BaseException) -> None:
        """Count checks that failed for good; logged once per burst of failures (the
        cause of the first), then once when posts succeed again."""
        if not count:
            return
        self._count("failed", count)
        if not self._failing:
            log.warning(
                "judgeguard: sink %s could not post %d check(s): %s (counted; further "
                "failures are counted, not logged, until a post succeeds)",
                self.name,
                count,
                redact_secrets(safe_str(exc)),
            )
        self._failing += count

    def _count(self, outcome: str, count: int) -> None:
        self.counts[outcome] += count
        with contextlib.suppress(Exception):  # a broken meter never stops the poster
            self.telemetry.record_sink(self.name, outcome, count)

    def _trace_audit_line(self, record: Mapping[str, Any], check: Check) -> Check:
        telemetry = self._audit_tracing()
        if telemetry is None:
            return check
        fields = record.get("fields")  # an --out record carries the line's inputs here
        sources = (record, fields) if isinstance(fields, Mapping) else (record,)
        inputs = {
            key: source[key]
            for source in sources
            for key in _AUDIT_INPUTS
            if source.get(key) is not None
        }
        output: Any = record.get("output")
        if output is None and check.judgment is not None:
            output = check.judgment.raw
        if output is None:
            output = {key: record.get(key) for key in ("rationale", "verdict")}
        with telemetry.judge_span(safe_str(record.get("judge") or "judge")) as judge_span:
            telemetry.record_call(judge_span, inputs, output)
        with telemetry.evaluator_span(judge_span) as evaluator:
            telemetry.record_judgment(evaluator, check.judgment, r_outcome=check.r_outcome)
            telemetry.record_check(evaluator, check)
            if check.judgment is None and record.get("verdict") is not None:
                evaluator.set_attribute(sc.JUDGEGUARD_VERDICT, safe_str(record["verdict"]))
        check = check.model_copy()
        stamp_span_ids(check, judge_span, evaluator)
        return check

    def _audit_tracing(self) -> Telemetry | None:
        """A private tracer provider exporting to the tool (built on first use)."""
        if self._audit_telemetry is not None:
            return self._audit_telemetry
        exporter = self.span_exporter()
        if exporter is None:
            return None
        from opentelemetry.metrics import NoOpMeterProvider
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(exporter))
        self._audit_provider = provider
        # the audit records its own metrics; these spans must not count checks twice
        self._audit_telemetry = Telemetry(provider, NoOpMeterProvider(), capture_content=True)
        return self._audit_telemetry


#: Longest text a sink sends in one field (an explanation, an error): tools store text, and a
#: runaway MetaJudge explanation or a hostile audit record must not make a post fail.
TEXT_LIMIT = 8_000


def text_for_tool(text: str, limit: int = TEXT_LIMIT) -> str:
    """``text`` as a sink sends it: at most ``limit`` characters, lone surrogates and
    control characters cleaned (a JSON body with them is refused by some servers)."""
    return clean_text(text[:limit])


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


#: The input fields an audit line's judge span shows as its input.
_AUDIT_INPUTS = (
    "id",
    "label",
    "question",
    "prompt",
    "response_a",
    "response_b",
    "response",
    "reference",
)


def check_from_record(record: Mapping[str, Any], metajudge_model: str | None) -> Check | None:
    """The check an audit ``--out`` record describes (``None`` for a malformed line)."""
    status = record.get("status")
    if status not in get_args(CheckStatus):
        return None
    check = Check(
        status=status,
        r_rationale=_number(record.get("r_rationale")),
        r_outcome=_number(record.get("r_outcome")),
        reward=_number(record.get("reward")),
        needs_review=bool(record.get("needs_review")),
        explanation=_text(record.get("explanation")),
        reason=_text(record.get("reason")),
        error=_text(record.get("error")),
        cached=bool(record.get("cached")),
        metajudge_model=metajudge_model if status in ("consistent", "inconsistent") else None,
    )
    for key in ("verdict", "supported", "id", "line", "judge"):
        if record.get(key) is not None:
            check.extra[key] = record[key]
    return check


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _close_all_at_exit() -> None:
    timeout = env.exit_timeout()
    for sink in list(_open_sinks):
        left = sink.close(timeout)
        if left:
            log.warning(
                "judgeguard: sink %s could not post %d check(s) before exit", sink.name, left
            )


def _after_fork() -> None:
    for sink in list(_open_sinks):
        sink._after_fork_in_child()


# plain atexit runs after threading's exit phase, where the dispatcher flushes its checks
# (and their on_result callbacks fill the sinks)
atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
