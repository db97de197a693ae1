"""The background dispatcher: one event-loop thread per process that runs checks.

Sync and async callers submit a job (a coroutine factory) and get a
:class:`PendingCheck` back at once. The dispatcher bounds concurrency (default 16) and
the number of submitted-but-unfinished jobs (default 10 000): when full, the job ends at once
as ``skipped`` with reason ``queue_full`` (``on_full="skip"``, the default: a hung MetaJudge
never delays the judge; counted, and logged once per burst), or the caller waits for room
(``on_full="wait"``: backpressure, opt-in) — never a silent drop. Every job ends in
exactly one terminal result: its own, or a fallback for a timeout (``check_timeout``),
a crash (``internal_error``) or shutdown (``shutdown``). :func:`flush` waits for pending
work; an exit hook flushes with a bounded timeout (``JUDGEGUARD_EXIT_TIMEOUT``, default
10 s) and reports what it could not finish. A forked child gets its own dispatcher. On
Linux the loop thread runs at a lower CPU priority (``nice``, default
``$JUDGEGUARD_NICE`` or 10): checks are background work and yield the CPU to the judge.

The process's default dispatcher starts a batch of submitted jobs
:data:`BACKGROUND_START_DELAY` after the first of them: a judge call hands its check over
and goes on to its next call, which soon waits on the network; checks started at once
would hold the GIL (parsing is pure Python) just when the judge's thread needs it back
to send that call, and each call would pay for its check in wall time.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures

# imported now, not lazily in the loop thread: its import registers an exit hook, which
# fails once the interpreter is shutting down (when our exit hook drains pending checks)
import concurrent.futures.thread
import contextlib
import contextvars
import logging
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Literal, TypeVar

from judgeguard import env
from judgeguard._sync import within
from judgeguard.errors import safe_str
from judgeguard.scrub import RedactingFilter

__all__ = [
    "BACKGROUND_START_DELAY",
    "DEFAULT_CHECK_TIMEOUT",
    "Dispatcher",
    "PendingCheck",
    "finished",
    "flush",
    "get_dispatcher",
    "run_job",
    "set_dispatcher",
]

log = logging.getLogger("judgeguard")
if not any(isinstance(f, RedactingFilter) for f in log.filters):
    log.addFilter(RedactingFilter())  # tracebacks may quote a provider's error text
T = TypeVar("T")

#: Builds the terminal result of a job that could not produce its own:
#: ``fallback(status, reason, message)``.
Fallback = Callable[[str, str, str], T]
#: The longest a job may run before it ends ``error``/``check_timeout`` (per dispatcher:
#: ``check_timeout=``); a check's own ``check_timeout`` applies inside it.
DEFAULT_CHECK_TIMEOUT = 300.0

#: Seconds the default dispatcher waits after a first submission before starting the
#: batch (jobs submitted meanwhile join it). Long enough for a judge's next call to be
#: waiting on the network, short against any LLM call.
BACKGROUND_START_DELAY = 0.002

#: Native ids of the dispatchers' loop threads (where waiting for a check would deadlock).
_loop_threads: set[int] = set()


def on_dispatcher_thread() -> bool:
    """Whether the calling thread is a dispatcher's loop thread (e.g. in ``on_result``)."""
    return threading.get_ident() in _loop_threads


def background_nice() -> int:
    """How much lower background check work runs than the caller: ``$JUDGEGUARD_NICE``
    (default 10; 0 runs it at the caller's priority)."""
    return env.nice()


def lower_thread_priority(increment: int) -> None:
    """Lower the calling thread's CPU priority by ``increment`` nice levels, so that the
    judge's threads (and its provider's, on the same machine) get the CPU first.

    Linux only: there ``setpriority`` on a thread id renices that thread alone;
    elsewhere a thread id is not a process id, and nothing is done.
    """
    if increment <= 0 or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + increment))


class PendingCheck(Generic[T]):
    """A submitted job: wait for its result from sync (:meth:`result`) or async code."""

    def __init__(self, future: concurrent.futures.Future[T]) -> None:
        self._future = future

    def done(self) -> bool:
        """Whether the job has reached its terminal result."""
        return self._future.done()

    def result(self, timeout: float | None = None) -> T:
        """The terminal result; raises ``TimeoutError`` if not done within ``timeout``.

        From an ``on_result`` callback (the dispatcher's own thread) an unfinished check
        cannot be waited for: that raises ``RuntimeError`` instead of deadlocking.
        """
        if not self._future.done() and on_dispatcher_thread():
            raise RuntimeError(
                "judgeguard: waiting for an unfinished check from an on_result callback would "
                "deadlock (callbacks run on the dispatcher's thread); use add_done_callback"
            )
        try:
            return self._future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"the check did not finish within {timeout} s") from None

    async def aresult(self) -> T:
        """Await the terminal result from any event loop."""
        return await asyncio.wrap_future(self._future)

    def add_done_callback(self, fn: Callable[[T], Any]) -> None:
        """Call ``fn(result)`` once the job is done (at once if it already is)."""
        self._future.add_done_callback(lambda f: fn(f.result()))


async def run_job(
    job: Callable[[], Awaitable[T]],
    fallback: Fallback[T],
    limit: asyncio.Semaphore,
    timeout: float | None,
) -> T:
    """Run ``job()`` within ``limit`` and ``timeout`` on the running loop; its result, or
    the ``fallback`` of a timeout (``check_timeout``), a cancellation (``shutdown``) or a
    crash (``internal_error``, logged): never raises. What every dispatched job and every
    audit line's check runs in."""
    try:
        async with limit:
            return await within(job(), timeout)
    except asyncio.TimeoutError:
        return fallback("error", "check_timeout", f"the check took longer than {timeout} s")
    except asyncio.CancelledError:
        return fallback("error", "shutdown", "the check was cancelled at shutdown")
    except BaseException as exc:  # SystemExit too: the loop must go on
        log.error("judgeguard: a check crashed", exc_info=exc)
        return fallback("error", "internal_error", f"{type(exc).__name__}: {safe_str(exc)}")


class Dispatcher:
    """Runs jobs on a private event loop in a daemon thread (see the module docstring).

    ``start_delay``: seconds from a first submission to the start of its batch (0: at
    once; the default dispatcher uses :data:`BACKGROUND_START_DELAY`).
    """

    def __init__(
        self,
        *,
        concurrency: int = 16,
        max_queue: int = 10_000,
        on_full: Literal["wait", "skip"] = "skip",
        check_timeout: float | None = DEFAULT_CHECK_TIMEOUT,
        nice: int | None = None,
        start_delay: float = 0.0,
    ) -> None:
        if concurrency < 1 or max_queue < 1:
            raise ValueError("concurrency and max_queue must be at least 1")
        if on_full not in ("wait", "skip"):
            raise ValueError("on_full must be 'wait' or 'skip'")
        self.concurrency = concurrency
        self.max_queue = max_queue
        self.on_full = on_full
        self.check_timeout = check_timeout
        self.nice = background_nice() if nice is None else nice
        self.start_delay = start_delay
        self._slots = threading.BoundedSemaphore(max_queue)
        self._lock = threading.Lock()
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inbox: list[tuple[Any, Any, Any, Any]] = []
        self._wake_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._limit: asyncio.Semaphore | None = None
        self.pid = os.getpid()
        #: Jobs ended ``skipped``/``queue_full`` so far; ``_full_burst`` counts the current run.
        self.rejected = 0
        self._full_burst = 0

    # -- lifecycle ------------------------------------------------------------------------
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None:
            return loop
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    _loop_threads.add(threading.get_ident())
                    lower_thread_priority(self.nice)
                    asyncio.set_event_loop(loop)
                    self._limit = asyncio.Semaphore(self.concurrency)
                    loop.call_soon(ready.set)
                    try:
                        loop.run_forever()
                    finally:
                        _loop_threads.discard(threading.get_ident())

                thread = threading.Thread(target=run, name="judgeguard-dispatch", daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def prime(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the loop thread before any later job (e.g. a slow first import),
        so that neither the caller nor the exit hook pays for it; errors are logged."""

        def run() -> None:
            try:
                fn()
            except Exception:
                log.exception("judgeguard: priming the dispatcher failed")

        self._ensure_loop().call_soon_threadsafe(run)

    @property
    def pending(self) -> int:
        """Jobs submitted and not yet finished."""
        with self._lock:
            return len(self._pending)

    # -- submission -----------------------------------------------------------------------
    def submit(
        self,
        job: Callable[[], Awaitable[T]],
        fallback: Fallback[T],
        callbacks: Sequence[Callable[[T], Any]] = (),
    ) -> PendingCheck[T]:
        """Submit from sync code; blocks while the queue is full (``on_full="wait"``)."""
        if not self._slots.acquire(blocking=self.on_full == "wait"):
            return self._rejected(fallback, callbacks)
        return self._enqueue(job, fallback, callbacks)

    async def asubmit(
        self,
        job: Callable[[], Awaitable[T]],
        fallback: Fallback[T],
        callbacks: Sequence[Callable[[T], Any]] = (),
    ) -> PendingCheck[T]:
        """Submit from async code; waits without blocking the caller's event loop."""
        if not self._slots.acquire(blocking=False):
            if self.on_full == "skip":
                return self._rejected(fallback, callbacks)
            await asyncio.to_thread(self._slots.acquire)
        return self._enqueue(job, fallback, callbacks)

    def _rejected(
        self, fallback: Fallback[T], callbacks: Sequence[Callable[[T], Any]]
    ) -> PendingCheck[T]:
        with self._lock:
            self.rejected += 1
            self._full_burst += 1
            first = self._full_burst == 1
        if first:
            log.warning(
                "judgeguard: the check queue is full (%d pending: the MetaJudge is slower than "
                "the judge); further checks end 'skipped' (reason 'queue_full') until it has "
                "room. Raise max_queue/concurrency, or use on_full='wait' for backpressure.",
                self.max_queue,
            )
        result = fallback(
            "skipped", "queue_full", f"the check queue is full ({self.max_queue} pending)"
        )
        return finished(result, callbacks)

    def _enqueue(
        self,
        job: Callable[[], Awaitable[T]],
        fallback: Fallback[T],
        callbacks: Sequence[Callable[[T], Any]],
    ) -> PendingCheck[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            self._pending.add(future)
            burst, self._full_burst = self._full_burst, 0
        if burst:
            log.warning("judgeguard: the check queue has room again; %d check(s) skipped", burst)
        try:
            loop = self._ensure_loop()
            with self._lock:
                self._inbox.append((job, future, fallback, callbacks))
                wake = not self._wake_scheduled
                self._wake_scheduled = True
            if wake:  # one wake-up (a self-pipe write) drains every job queued until then
                # in an empty context: jobs must not run under the caller's (its spans)
                loop.call_soon_threadsafe(self._wake, context=contextvars.Context())
        except Exception as exc:  # the loop is gone (interpreter shutdown)
            self._finish(future, fallback("error", "shutdown", str(exc)), callbacks)
        return PendingCheck(future)

    def _wake(self) -> None:
        """On the loop: start the queued jobs, after ``start_delay`` when there is one."""
        if self.start_delay > 0:
            asyncio.get_running_loop().call_later(self.start_delay, self._drain)
        else:
            self._drain()

    def _drain(self) -> None:
        with self._lock:
            batch, self._inbox = self._inbox, []
            self._wake_scheduled = False
        for item in batch:
            self._start(item)

    def _start(self, item: tuple[Any, Any, Any, Any]) -> None:
        """Run one queued ``(job, future, fallback, callbacks)`` as a task on the loop."""
        task = asyncio.ensure_future(self._run(*item))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self,
        job: Callable[[], Awaitable[T]],
        future: concurrent.futures.Future[T],
        fallback: Fallback[T],
        callbacks: Sequence[Callable[[T], Any]],
    ) -> None:
        assert self._limit is not None
        result = await run_job(job, fallback, self._limit, self.check_timeout)
        self._finish(future, result, callbacks)

    def _finish(
        self,
        future: concurrent.futures.Future[T],
        result: T,
        callbacks: Sequence[Callable[[T], Any]],
    ) -> None:
        with self._lock:
            if future not in self._pending:
                return  # already terminal: exactly one result per job
            self._pending.discard(future)
        self._slots.release()
        _run_callbacks(callbacks, result)  # before waking waiters: flush() covers callbacks
        future.set_result(result)

    # -- draining -------------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> int:
        """Wait for every pending job; returns how many are still unfinished.

        Called from the dispatcher's own thread (an ``on_result`` callback), where waiting
        would deadlock, it returns that number at once, with a warning.
        """
        with self._lock:
            pending = list(self._pending)
        if not pending:
            return 0
        if on_dispatcher_thread():
            log.warning(
                "judgeguard: flush() was called from an on_result callback, where it cannot "
                "wait (the checks finish on this very thread); it returned at once"
            )
            return len(pending)
        _, not_done = concurrent.futures.wait(pending, timeout)
        return len(not_done)

    def shutdown(self, timeout: float | None = 10.0) -> int:
        """Flush, then end what is left with status ``error``/``shutdown``.

        Returns the number of jobs that had to be ended that way.
        """
        left = self.flush(timeout)
        loop = self._loop
        if left and loop is not None and loop.is_running():

            async def cancel_all() -> None:
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)

            try:
                asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(5.0)
            except Exception:  # pragma: no cover - best effort at exit
                log.warning("judgeguard: could not cancel unfinished checks cleanly")
        return left

    def close(self, timeout: float | None = 10.0) -> int:
        """:meth:`shutdown`, then stop the loop thread (for private dispatchers)."""
        left = self.shutdown(timeout)
        loop, thread = self._loop, self._thread
        if loop is not None and loop.is_running():

            async def cancel_rest() -> None:  # e.g. background tasks a client library left
                current = asyncio.current_task()
                rest = [t for t in asyncio.all_tasks() if t is not current]
                for task in rest:
                    task.cancel()
                await asyncio.gather(*rest, return_exceptions=True)

            with contextlib.suppress(Exception):  # best effort
                asyncio.run_coroutine_threadsafe(cancel_rest(), loop).result(5.0)
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(5.0)
            if not loop.is_running():
                loop.close()
        self._loop = self._thread = None
        return left


def finished(result: T, callbacks: Sequence[Callable[[T], Any]] = ()) -> PendingCheck[T]:
    """A job that ended before it was queued: ``result`` is already terminal."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()
    _run_callbacks(callbacks, result)
    future.set_result(result)
    return PendingCheck(future)


def _run_callbacks(callbacks: Sequence[Callable[[Any], Any]], result: Any) -> None:
    for cb in callbacks:
        try:
            cb(result)
        except BaseException:  # SystemExit too: the loop must go on
            log.exception("judgeguard: an on_result callback raised; the check is unaffected")


_default: Dispatcher | None = None
_default_lock = threading.Lock()


def get_dispatcher() -> Dispatcher:
    """The process-wide dispatcher (a new one in a forked child)."""
    global _default
    d = _default
    if d is not None and d.pid == os.getpid():
        return d
    with _default_lock:
        if _default is None or _default.pid != os.getpid():
            _default = Dispatcher(start_delay=BACKGROUND_START_DELAY)
        return _default


def set_dispatcher(dispatcher: Dispatcher | None) -> Dispatcher | None:
    """Replace the process-wide dispatcher (e.g. other limits); returns the previous one."""
    global _default
    with _default_lock:
        previous, _default = _default, dispatcher
    return previous


def flush(timeout: float | None = None) -> int:
    """Wait for all pending checks of this process; returns how many did not finish."""
    d = _default
    if d is None or d.pid != os.getpid():
        return 0
    return d.flush(timeout)


def _at_exit() -> None:
    d = _default
    if d is None or d.pid != os.getpid() or not d.pending:
        return
    timeout = env.exit_timeout()
    left = d.shutdown(timeout)
    if left:
        print(
            f"judgeguard: {left} check(s) did not finish within {timeout:g} s at exit; they "
            "ended with status 'error' (reason 'shutdown'). Call judgeguard.flush() before "
            "exiting or raise JUDGEGUARD_EXIT_TIMEOUT.",
            file=sys.stderr,
        )


def _after_fork_in_child() -> None:
    global _default
    _default = None


# Drain in threading's exit phase, before concurrent.futures shuts its executors down
# (litellm and asyncio need them to finish a call); plain atexit would be too late.
_register_exit = getattr(threading, "_register_atexit", atexit.register)
_register_exit(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
