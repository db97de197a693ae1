"""Checks in a worker process: the parse and the MetaJudge calls off the caller's interpreter.

Background checks in a thread share the caller's interpreter: litellm spends about 5 ms
of CPU per MetaJudge call and the parse about 0.3 ms, under the same GIL as the judge.
With ``offload="process"`` the guard sends each check request
(:class:`~judgeguard.pipeline.CheckRequest`) over a pipe to one worker process (started
on first use, one per caller process; it runs :func:`main`). The worker runs it with
:func:`judgeguard.pipeline.run_check` (parse, check, cache) and sends back the
:class:`~judgeguard.Check` with the spans and metric points it recorded; they are
replayed into the caller's telemetry with their original timestamps
(:meth:`judgeguard.telemetry.Telemetry.replay`). The caller's dispatcher still bounds,
times out and flushes checks, and runs ``on_result`` and the exit hook. The worker runs
at a lower CPU priority (``$JUDGEGUARD_NICE``, default 10) and imports litellm as it
starts, so the first check waits a few seconds for it (within ``check_timeout``). It
pays off when a core is free for it; on one busy core the thread costs the judge less
(``benchmarks/overhead.py --pin``). litellm settings made in code in the caller
(``litellm.api_key``, callbacks) do not reach the worker.

Nothing is lost: when an output, its context, the MetaJudge or a registered format
cannot be pickled, or cannot be unpickled in the worker (say, a class defined in
``__main__``), when the worker cannot start, or when it dies, that check runs in the
caller's dispatcher thread as without offload (logged once per cause).

The same mechanism runs ``judgeguard audit --workers N``: N :class:`CheckWorker`
processes at normal priority, each check sent to the least busy one (:func:`run`).
Messages on the pipes are typed records (:class:`SettingsMessage`, :class:`FormatsMessage`,
:class:`JobMessage` to the worker; :class:`Done`, :class:`Rejected` back).
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from judgeguard.cache import DiskCache
    from judgeguard.pipeline import CheckRequest, CheckSettings
    from judgeguard.schema import Check
    from judgeguard.telemetry import RecordedPoint, RecordedSpan, Telemetry

__all__ = [
    "CheckWorker",
    "Done",
    "FormatsMessage",
    "Job",
    "JobMessage",
    "Rejected",
    "SettingsMessage",
    "WorkerConfig",
    "WorkerUnavailable",
    "get_worker",
    "run",
    "run_offloaded",
]

log = logging.getLogger("judgeguard")


class WorkerUnavailable(Exception):
    """This check cannot run in the worker process; run it in this process instead."""


@dataclass(frozen=True)
class WorkerConfig:
    """A front end's :class:`~judgeguard.pipeline.CheckSettings`, pickled once for the
    worker processes (sent to each once, then named by ``id``)."""

    id: int
    blob: bytes


# -- the messages on the pipes (pickled by multiprocessing.connection) -----------------------
@dataclass(frozen=True)
class SettingsMessage:
    """To the worker: settings that later jobs name by ``settings_id``."""

    settings_id: int
    blob: bytes


@dataclass(frozen=True)
class FormatsMessage:
    """To the worker: the caller's registered verdict formats (a pickled snapshot)."""

    blob: bytes


@dataclass(frozen=True)
class Job:
    """One check for the worker: the request, and how the caller records telemetry."""

    request: CheckRequest
    tracing: bool
    capture_content: bool


@dataclass(frozen=True)
class JobMessage:
    """To the worker: a pickled :class:`Job` (pickled by the caller, so that what does not
    pickle runs in the caller instead) under the settings ``settings_id``."""

    job_id: int
    settings_id: int
    blob: bytes


@dataclass(frozen=True)
class Done:
    """From the worker: a finished check with the spans and metric points it recorded."""

    job_id: int
    check: Check
    spans: list[RecordedSpan]
    points: list[RecordedPoint]


@dataclass(frozen=True)
class Rejected:
    """From the worker: a job it could not load (``settings_id`` when the settings were
    the cause: later jobs under them are not sent)."""

    job_id: int
    settings_id: int | None
    why: str


ToWorker = SettingsMessage | FormatsMessage | JobMessage


_config_ids = itertools.count(1)
_RESTART_DELAY = 30.0  # seconds without a new start attempt after one failed
_WORKER_MAIN = "import sys; from judgeguard.offload import main; sys.exit(main(sys.argv[1:]))"
_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning("judgeguard: %s; such checks run in this process instead", message)


def worker_config(settings: CheckSettings) -> WorkerConfig | None:
    """The settings for the worker processes, or ``None`` (logged) if they do not pickle."""
    try:
        blob = pickle.dumps(settings, pickle.HIGHEST_PROTOCOL)
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
    waiting: dict[int, concurrent.futures.Future[Done]] = field(default_factory=dict)
    configs: set[int] = field(default_factory=set)
    bad_configs: set[int] = field(default_factory=set)
    formats: int = -1


class CheckWorker:
    """One worker process: started on first use, restarted after it died. The guard's is
    shared per caller process (:func:`get_worker`, replaced in a forked child); the audit
    starts its own. ``nice``: the worker's CPU priority increment (default
    ``$JUDGEGUARD_NICE``, else 10: background work)."""

    def __init__(self, nice: int | None = None) -> None:
        self.nice = nice
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
        if self.nice is not None:
            env["JUDGEGUARD_NICE"] = str(self.nice)
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

    @property
    def busy(self) -> int:
        """How many jobs the worker has not answered yet."""
        link = self._link
        return len(link.waiting) if link is not None else 0

    def submit(self, config: WorkerConfig, job: bytes) -> concurrent.futures.Future[Done]:
        """Send one pickled :class:`Job`; the future gets its :class:`Done` or
        :class:`WorkerUnavailable`."""
        from judgeguard.parsing.registry import snapshot

        future: concurrent.futures.Future[Done] = concurrent.futures.Future()
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
                    link.send.send(FormatsMessage(blob))
                    link.formats = generation
                if config.id not in link.configs:
                    link.send.send(SettingsMessage(config.id, config.blob))
                    link.configs.add(config.id)
                job_id = next(self._ids)
                link.waiting[job_id] = future
                link.send.send(JobMessage(job_id, config.id, job))
            except OSError as exc:  # the worker is gone; the reader fails what it had
                raise WorkerUnavailable(f"the check worker is gone: {exc}") from exc
        return future

    def _read(self, link: _Link) -> None:
        try:
            while True:
                message: Done | Rejected = link.recv.recv()
                future = link.waiting.pop(message.job_id, None)
                outcome: Done | WorkerUnavailable
                if isinstance(message, Rejected):
                    if message.settings_id is not None:
                        link.bad_configs.add(message.settings_id)
                    _warn_once(f"rejected:{message.why[:60]}", f"the check worker: {message.why}")
                    outcome = WorkerUnavailable(message.why)
                else:
                    outcome = message
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
    request: CheckRequest,
    telemetry: Telemetry,
    cache: DiskCache | None,
    *,
    judge_span: Any,
    child: bool,
    worker: CheckWorker | None = None,
) -> Check:
    """Run one check in a worker process (``worker``, default this process's) and replay
    its telemetry here. Raises :class:`WorkerUnavailable` when the check must run in this
    process instead."""
    from judgeguard import semconv as sc
    from judgeguard.telemetry import stamp_span_ids

    job = Job(request, telemetry.tracing(), telemetry.capture_content)
    try:
        blob = pickle.dumps(job, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        why = f"a judge output or its context does not pickle ({exc})"
        _warn_once(f"job:{type(exc).__name__}", why)
        raise WorkerUnavailable(str(exc)) from exc
    done = await asyncio.wrap_future((worker or get_worker()).submit(config, blob))
    if cache is not None:
        for name, _, attributes in done.points:
            if name == sc.METRIC_CACHE_LOOKUPS:
                cache.count(bool(attributes.get(sc.JUDGEGUARD_CACHE_HIT)))
    evaluator = telemetry.replay(judge_span, child, done.spans, done.points)
    stamp_span_ids(done.check, judge_span, evaluator)
    return done.check


async def run(
    request: CheckRequest,
    settings: CheckSettings,
    telemetry: Telemetry,
    config: WorkerConfig | None,
    *,
    judge_span: Any = None,
    child: bool = False,
    workers: Sequence[CheckWorker] = (),
) -> Check:
    """Run one check in a worker process when it can (``config`` is the settings
    pickled, ``None`` when they do not pickle; ``workers``: the least busy of these,
    default this process's worker), else here with :func:`judgeguard.pipeline.run_check`."""
    from judgeguard import pipeline

    if config is not None:
        worker = min(workers, key=lambda w: w.busy) if workers else None
        try:
            return await run_offloaded(
                config, request, telemetry, settings.cache,
                judge_span=judge_span, child=child, worker=worker,
            )  # fmt: skip
        except WorkerUnavailable:
            pass  # logged once; run it here
    return await pipeline.run_check(
        request, settings, telemetry, judge_span=judge_span, child=child
    )


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
        self.configs: dict[int, bytes | CheckSettings] = {}  # unpickled on first use
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

    def send(self, message: Done | Rejected) -> None:
        with self.answer_lock, contextlib.suppress(OSError):
            self.answer.send(message)

    def serve(self) -> None:
        from judgeguard.parsing.registry import install

        while True:
            try:
                message: ToWorker = self.receive.recv()
            except (EOFError, OSError):
                break
            if isinstance(message, JobMessage):
                self.start(message)
            elif isinstance(message, SettingsMessage):
                self.configs[message.settings_id] = message.blob
            elif isinstance(message, FormatsMessage):
                try:
                    install(pickle.loads(message.blob))
                except Exception:
                    log.exception("judgeguard worker: could not load the registered formats")
        self.dispatcher.close(None)  # the caller has gone or closed the pipe: finish, exit

    def settings(self, settings_id: int) -> CheckSettings:
        config = self.configs[settings_id]
        if isinstance(config, bytes):
            config = self.configs[settings_id] = pickle.loads(config)
            # import what this MetaJudge's transport needs (litellm takes seconds; the
            # fast path needs only aiohttp) on the loop thread, before its first check,
            # while this thread keeps reading the pipe
            self.dispatcher.prime(partial(_prepare, config))
        assert not isinstance(config, bytes)
        return config

    def start(self, message: JobMessage) -> None:
        from judgeguard.pipeline import failed_check, run_check

        job_id = message.job_id
        try:
            settings = self.settings(message.settings_id)
        except Exception as exc:
            why = f"cannot load the settings: {exc!r}"
            self.send(Rejected(job_id, message.settings_id, why))
            return
        try:
            job: Job = pickle.loads(message.blob)
        except Exception as exc:
            self.send(Rejected(job_id, None, f"cannot load a judge output: {exc!r}"))
            return
        telemetry = self.telemetry(job.tracing, job.capture_content)

        async def check() -> Done:
            record = _Record()
            _record.set(record)  # this task's context only
            result = await run_check(job.request, settings, telemetry)
            return Done(job_id, result, record.spans, record.points)

        def fallback(status: str, reason: str, why: str) -> Done:
            failed = failed_check(status, reason, why, settings.metajudge)
            return Done(job_id, settings.gate.apply_to(failed), [], [])

        self.dispatcher.submit(check, fallback, [self.send])


def _lower_priority() -> None:
    """Checks are background work: the worker yields the CPU to the caller's process."""
    from judgeguard.dispatch import background_nice

    increment = background_nice()
    if increment > 0 and hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(increment)


def _prepare(settings: CheckSettings) -> None:
    """Import what checks under ``settings`` need (:func:`judgeguard.preload.preload`
    decides: litellm only for a MetaJudge that goes through it). Once litellm is loaded,
    the worker's MetaJudge failures become check statuses: litellm need not print its
    "Give Feedback / Get Help" banner for each (the worker's process, the worker's call)."""
    from judgeguard.preload import preload

    mj = settings.metajudge
    preload(
        litellm_models=mj.models if mj is not None else (),
        options=mj.litellm_kwargs if mj is not None else None,
        cache=settings.cache is not None,
    )
    litellm: Any = sys.modules.get("litellm")
    if litellm is not None:
        litellm.suppress_debug_info = True


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
