"""Checks in a worker process: the parse and the MetaJudge calls off the caller's interpreter.

Background checks in a thread share the caller's interpreter: litellm spends about 5 ms
of CPU per MetaJudge call and the parse about 0.3 ms, under the same GIL as the judge.
With ``offload="process"`` the guard sends each judge output over a pipe to one worker
process (started on first use, one per caller process; it runs :func:`main`). The worker
parses, checks and caches it and sends back the :class:`~judgeguard.Check` with the spans
and metric points it recorded; they are replayed into the caller's telemetry with their
original timestamps (:meth:`judgeguard.telemetry.Telemetry.replay`). The caller's
dispatcher still bounds, times out and flushes checks, and runs ``on_result`` and the
exit hook. The worker runs at a lower CPU priority (``$JUDGEGUARD_NICE``, default
10) and imports litellm as it starts, so the first check waits a few seconds for it
(within ``check_timeout``). It pays off when a core is free for it; on one busy core the
thread costs the judge less (``benchmarks/overhead.py --pin``). litellm settings made in
code in the caller (``litellm.api_key``, callbacks) do not reach the worker.

Nothing is lost: when an output, its context, the MetaJudge or a registered format
cannot be pickled, or cannot be unpickled in the worker (say, a class defined in
``__main__``), when the worker cannot start, or when it dies, that check runs in the
caller's dispatcher thread as without offload (logged once per cause).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import contextvars
import itertools
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from judgeguard.cache import DiskCache
    from judgeguard.gating import Gate
    from judgeguard.metajudge import MetaJudge
    from judgeguard.schema import Check, Judgment
    from judgeguard.telemetry import RecordedPoint, RecordedSpan, Telemetry
    from judgeguard.verdicts import Verdict, VerdictSpec

__all__ = ["WorkerConfig", "WorkerUnavailable", "run_offloaded"]

log = logging.getLogger("judgeguard")


class WorkerUnavailable(Exception):
    """This check cannot run in the worker process; run it in this process instead."""


@dataclass(frozen=True)
class WorkerConfig:
    """A checker's MetaJudge, verdict spec and cache, pickled once for the worker."""

    id: int
    blob: bytes


_config_ids = itertools.count(1)
_RESTART_DELAY = 30.0  # seconds without a new start attempt after one failed
_WORKER_MAIN = "import sys; from judgeguard.offload import main; sys.exit(main(sys.argv[1:]))"
_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning("judgeguard: %s; such checks run in this process instead", message)


def worker_config(
    metajudge: MetaJudge | None, spec: VerdictSpec, cache: DiskCache | None, gate: Gate
) -> WorkerConfig | None:
    """The checker's settings for the worker, or ``None`` (logged) if they do not pickle."""
    try:
        blob = pickle.dumps((metajudge, spec, cache, gate), pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        _warn_once(f"config:{type(exc).__name__}", f"the guard's settings do not pickle ({exc})")
        return None
    return WorkerConfig(next(_config_ids), blob)


# -- the caller's side ------------------------------------------------------------------------
@dataclass
class _Link:
    """One running worker process and what it has been sent."""

    proc: subprocess.Popen[bytes]
    send: Connection
    recv: Connection
    waiting: dict[int, concurrent.futures.Future[Any]] = field(default_factory=dict)
    configs: set[int] = field(default_factory=set)
    bad_configs: set[int] = field(default_factory=set)
    formats: int = -1


class CheckWorker:
    """The worker process of this caller process: started on first use, restarted after
    it died, replaced in a forked child."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._link: _Link | None = None
        self._ids = itertools.count(1)
        self._bad_formats = -1
        self._no_start_until = 0.0  # after a failed start, do not retry at once
        self.pid = os.getpid()

    def _start(self) -> _Link:
        to_worker_r, to_worker_w = os.pipe()
        to_caller_r, to_caller_w = os.pipe()
        env = dict(os.environ)
        paths = [p or os.getcwd() for p in sys.path]  # user modules unpickle there too
        env["PYTHONPATH"] = os.pathsep.join(paths)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", _WORKER_MAIN, str(to_worker_r), str(to_caller_w)],
                pass_fds=(to_worker_r, to_caller_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # never into the caller's stdout; logs: stderr
                env=env,
            )
        except Exception as exc:  # OSError; ValueError where pass_fds is unsupported
            for fd in (to_worker_r, to_worker_w, to_caller_r, to_caller_w):
                os.close(fd)
            _warn_once("start", f"could not start the check worker ({exc})")
            raise WorkerUnavailable(f"could not start the check worker: {exc}") from exc
        os.close(to_worker_r)
        os.close(to_caller_w)
        link = _Link(
            proc, Connection(to_worker_w, readable=False), Connection(to_caller_r, writable=False)
        )
        threading.Thread(
            target=self._read, args=(link,), name="judgeguard-offload-reader", daemon=True
        ).start()
        return link

    def submit(self, config: WorkerConfig, job: bytes) -> concurrent.futures.Future[Any]:
        """Send one pickled job; the future gets ``(check, spans, points)`` or
        :class:`WorkerUnavailable`."""
        from judgeguard.parsing.registry import snapshot

        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        generation, formats = snapshot()
        with self._lock:
            link = self._link  # a dead worker's reader clears it; a send to it fails
            if link is None:
                if time.monotonic() < self._no_start_until:
                    raise WorkerUnavailable("the check worker could not start recently")
                try:
                    link = self._link = self._start()
                except WorkerUnavailable:
                    self._no_start_until = time.monotonic() + _RESTART_DELAY
                    raise
            if config.id in link.bad_configs:
                raise WorkerUnavailable("the worker could not load the guard's settings")
            try:
                if link.formats != generation:
                    if generation == self._bad_formats:
                        raise WorkerUnavailable("the registered formats do not pickle")
                    try:
                        blob = pickle.dumps(formats, pickle.HIGHEST_PROTOCOL)
                    except Exception as exc:
                        self._bad_formats = generation
                        _warn_once("formats", f"the registered formats do not pickle ({exc})")
                        raise WorkerUnavailable(str(exc)) from exc
                    link.send.send(("formats", blob))
                    link.formats = generation
                if config.id not in link.configs:
                    link.send.send(("config", config.id, config.blob))
                    link.configs.add(config.id)
                job_id = next(self._ids)
                link.waiting[job_id] = future
                link.send.send(("job", job_id, config.id, job))
            except OSError as exc:  # the worker is gone; the reader fails what it had
                raise WorkerUnavailable(f"the check worker is gone: {exc}") from exc
        return future

    def _read(self, link: _Link) -> None:
        try:
            while True:
                message = link.recv.recv()
                kind, job_id = message[0], message[1]
                future = link.waiting.pop(job_id, None)
                if kind == "done":
                    outcome: Any = message[2:]
                else:  # "rejected": (job_id, config_id or None, why)
                    if message[2] is not None:
                        link.bad_configs.add(message[2])
                    _warn_once(f"rejected:{message[3][:60]}", f"the check worker: {message[3]}")
                    outcome = WorkerUnavailable(message[3])
                if future is not None and not future.done():
                    with contextlib.suppress(concurrent.futures.InvalidStateError):
                        if isinstance(outcome, Exception):
                            future.set_exception(outcome)
                        else:
                            future.set_result(outcome)
        except (EOFError, OSError):
            pass
        with self._lock:
            if self._link is link:
                self._link = None
            waiting, link.waiting = link.waiting, {}
        with contextlib.suppress(OSError):
            link.recv.close()
        with contextlib.suppress(OSError):
            link.send.close()
        if waiting:
            _warn_once("exited", f"the check worker exited (code {link.proc.poll()})")
        for future in waiting.values():
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                future.set_exception(WorkerUnavailable("the check worker exited"))

    def close(self, timeout: float = 5.0) -> None:
        """Let the worker finish what it has and exit (it is killed after ``timeout``)."""
        with self._lock:
            link, self._link = self._link, None
        if link is None:
            return
        with contextlib.suppress(OSError):
            link.send.close()
        try:
            link.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            link.proc.kill()
            link.proc.wait()

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The running worker process, if any."""
        link = self._link
        return link.proc if link is not None else None


_worker: CheckWorker | None = None
_worker_lock = threading.Lock()


def get_worker() -> CheckWorker:
    """This process's check worker (a new one in a forked child)."""
    global _worker
    with _worker_lock:
        if _worker is None or _worker.pid != os.getpid():
            _worker = CheckWorker()
        return _worker


async def run_offloaded(
    config: WorkerConfig,
    output: Any,
    judgment: Judgment | None,
    context: Mapping[str, Any] | None,
    label: Verdict | str | float | None,
    reference: Sequence[str] | str | None,
    telemetry: Telemetry,
    cache: DiskCache | None,
    *,
    judge_span: Any,
    child: bool,
) -> Check:
    """Run one check in the worker process and replay its telemetry here.

    ``judgment`` is sent instead of ``output`` when the caller parsed it already. Raises
    :class:`WorkerUnavailable` when the check must run in this process instead.
    """
    from judgeguard import semconv as sc
    from judgeguard.telemetry import stamp_span_ids

    payload = (
        None if judgment is not None else output,
        judgment,
        dict(context or {}),
        label,
        reference,
        telemetry.tracing(),
        telemetry.capture_content,
    )
    try:
        job = pickle.dumps(payload, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        why = f"a judge output or its context does not pickle ({exc})"
        _warn_once(f"job:{type(exc).__name__}", why)
        raise WorkerUnavailable(str(exc)) from exc
    check, spans, points = await asyncio.wrap_future(get_worker().submit(config, job))
    if cache is not None:
        for name, _, attributes in points:
            if name == sc.METRIC_CACHE_LOOKUPS:
                cache.count(bool(attributes.get(sc.JUDGEGUARD_CACHE_HIT)))
    evaluator = telemetry.replay(judge_span, child, spans, points)
    stamp_span_ids(check, judge_span, evaluator)
    return check  # type: ignore[no-any-return]


def _close_at_exit() -> None:
    worker = _worker
    if worker is not None and worker.pid == os.getpid():
        worker.close(2.0)  # the dispatcher's exit hook has had what it waits for


def _after_fork_in_child() -> None:
    global _worker, _worker_lock
    _worker_lock = threading.Lock()  # another thread may have held it at the fork
    worker, _worker = _worker, None
    link = worker._link if worker is not None else None
    if link is not None:  # the parent's pipes: closing our copies lets its worker see EOF
        for conn in (link.send, link.recv):
            with contextlib.suppress(OSError):
                conn.close()
        link.proc.returncode = 0  # not ours to wait for


# plain atexit runs after the dispatcher's exit hook has flushed the pending checks
atexit.register(_close_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# -- the worker's side ------------------------------------------------------------------------
@dataclass
class _Record:
    """What one check recorded in the worker: finished spans and metric points."""

    spans: list[RecordedSpan] = field(default_factory=list)
    points: list[RecordedPoint] = field(default_factory=list)


_record: contextvars.ContextVar[_Record | None] = contextvars.ContextVar(
    "judgeguard_offload_record", default=None
)


def _recording_meter_provider() -> Any:
    """A meter provider whose counters and histograms append to the running check's record."""
    from opentelemetry import metrics

    def note(name: str, amount: float, attributes: Any) -> None:
        record = _record.get()
        if record is not None:
            record.points.append((name, amount, dict(attributes or {})))

    class Count(metrics.Counter):
        def __init__(self, name: str) -> None:
            self._name = name

        def add(self, amount: float, attributes: Any = None, context: Any = None) -> None:
            note(self._name, amount, attributes)

    class Measure(metrics.Histogram):
        def __init__(self, name: str) -> None:
            self._name = name

        def record(self, amount: float, attributes: Any = None, context: Any = None) -> None:
            note(self._name, amount, attributes)

    class Meter(metrics.NoOpMeter):
        def create_counter(self, name: str, unit: str = "", description: str = "") -> Any:
            return Count(name)

        def create_histogram(
            self, name: str, unit: str = "", description: str = "", **_: Any
        ) -> Any:
            return Measure(name)

    class Provider(metrics.NoOpMeterProvider):
        def get_meter(self, name: str, *args: Any, **kwargs: Any) -> Any:
            return Meter(name)

    return Provider()


def _recording_tracer_provider() -> Any:
    """An SDK tracer provider whose finished spans go to the running check's record."""
    try:
        from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
    except ImportError:
        log.warning(
            "judgeguard: opentelemetry-sdk is not installed, so the check worker records no "
            "spans (pip install 'judgeguard[otel]')"
        )
        from opentelemetry.trace import NoOpTracerProvider

        return NoOpTracerProvider()

    class Collect(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            record = _record.get()
            if record is None or span.context is None:
                return
            parent = span.parent.span_id if span.parent is not None else None
            record.spans.append(
                (
                    span.name,
                    span.kind.value,
                    span.context.span_id,
                    parent,
                    span.start_time or 0,
                    span.end_time or 0,
                    dict(span.attributes or {}),
                    [(e.name, dict(e.attributes or {}), e.timestamp) for e in span.events],
                    (span.status.status_code.value, span.status.description),
                )
            )

    provider = TracerProvider()
    provider.add_span_processor(Collect())
    return provider


class _Worker:
    """The worker process: reads jobs from the caller and answers each one."""

    def __init__(self, receive: Connection, answer: Connection) -> None:
        from judgeguard.dispatch import Dispatcher

        self.receive, self.answer = receive, answer
        self.answer_lock = threading.Lock()
        self.dispatcher = Dispatcher(  # the whole process is reniced already
            concurrency=1024, max_queue=1_000_000, check_timeout=None, nice=0
        )
        self.configs: dict[int, Any] = {}
        self.telemetries: dict[tuple[bool, bool], Telemetry] = {}
        self.meters = _recording_meter_provider()
        self.tracers: Any = None

    def telemetry(self, tracing: bool, capture: bool) -> Telemetry:
        from opentelemetry.trace import NoOpTracerProvider

        from judgeguard.telemetry import Telemetry

        key = (tracing, capture)
        if key not in self.telemetries:
            if tracing and self.tracers is None:
                self.tracers = _recording_tracer_provider()
            tracers = self.tracers if tracing else NoOpTracerProvider()
            self.telemetries[key] = Telemetry(tracers, self.meters, capture)
        return self.telemetries[key]

    def send(self, message: tuple[Any, ...]) -> None:
        with self.answer_lock, contextlib.suppress(OSError):
            self.answer.send(message)

    def serve(self) -> None:
        from judgeguard.parsing.registry import install

        # import litellm on the loop thread while this one keeps reading the pipe
        self.dispatcher.prime(_quiet_litellm)
        while True:
            try:
                message = self.receive.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == "job":
                self.start(*message[1:])
            elif kind == "config":
                self.configs[message[1]] = message[2]
            elif kind == "formats":
                try:
                    install(pickle.loads(message[1]))
                except Exception:
                    log.exception("judgeguard worker: could not load the registered formats")
        self.dispatcher.close(None)  # the caller has gone or closed the pipe: finish, exit

    def config(self, config_id: int) -> Any:
        config = self.configs[config_id]
        if isinstance(config, bytes):
            config = self.configs[config_id] = pickle.loads(config)
        return config

    def start(self, job_id: int, config_id: int, blob: bytes) -> None:
        from judgeguard.parsing import parse
        from judgeguard.pipeline import check_output, failed_check

        try:
            metajudge, spec, cache, gate = self.config(config_id)
        except Exception as exc:
            self.send(("rejected", job_id, config_id, f"cannot load the settings: {exc!r}"))
            return
        try:
            output, judgment, context, label, reference, tracing, capture = pickle.loads(blob)
        except Exception as exc:
            self.send(("rejected", job_id, None, f"cannot load a judge output: {exc!r}"))
            return
        telemetry = self.telemetry(tracing, capture)

        def parsed() -> Judgment:
            return judgment if judgment is not None else parse(output, spec)

        async def job() -> tuple[Check, list[Any], list[Any]]:
            record = _Record()
            _record.set(record)  # this task's context only
            check = await check_output(
                parsed, context, label, reference, metajudge, cache, telemetry, gate=gate
            )
            return check, record.spans, record.points

        def fallback(status: str, reason: str, message: str) -> tuple[Check, list[Any], list[Any]]:
            return gate.apply_to(failed_check(status, reason, message, metajudge)), [], []

        def answer(result: tuple[Check, list[Any], list[Any]]) -> None:
            self.send(("done", job_id, *result))

        self.dispatcher.submit(job, fallback, [answer])


def _lower_priority() -> None:
    """Checks are background work: the worker yields the CPU to the caller's process."""
    from judgeguard.dispatch import background_nice

    increment = background_nice()
    if increment > 0 and hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(increment)


def _quiet_litellm() -> None:
    """The worker's MetaJudge failures become check statuses: litellm need not print its
    "Give Feedback / Get Help" banner for each (the worker's process, the worker's call)."""
    from judgeguard.metajudge.client import import_litellm

    import_litellm().suppress_debug_info = True


def main(argv: Sequence[str]) -> int:
    """Entry point of the worker process: ``main([READ_FD, WRITE_FD])``."""
    if len(argv) != 2:
        print("judgeguard worker: expected READ_FD WRITE_FD", file=sys.stderr)
        return 2
    _lower_priority()
    receive = Connection(int(argv[0]), writable=False)
    answer = Connection(int(argv[1]), readable=False)
    _Worker(receive, answer).serve()
    return 0
