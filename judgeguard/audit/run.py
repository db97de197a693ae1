"""Running an audit: the streaming loop, the line cache, and where the checks run
(tasks on the audit's own event loop, or the worker processes of
:mod:`judgeguard.offload` with ``--workers``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from judgeguard._sync import run_sync
from judgeguard.audit.inputs import AuditConfig, check_config, read_lines
from judgeguard.audit.lines import Line, LineAuditor, dump_json
from judgeguard.audit.summary import AuditRow, AuditSummary
from judgeguard.dispatch import DEFAULT_CHECK_TIMEOUT, run_job

if TYPE_CHECKING:
    from judgeguard.offload import CheckWorker, WorkerConfig
    from judgeguard.pipeline import CheckSettings

__all__ = ["run_audit"]


#: How long a Ctrl-C lets the checks in flight finish before they are cancelled.
INTERRUPT_GRACE = 2.0


def _done(result: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
    """A line whose result is already known (a cache hit, a line with nothing to check)."""
    future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    future.set_result(result)
    return future


class _Checks:
    """Parses lines and starts their checks as tasks on the audit's event loop, at most
    ``concurrency`` at once. Everything runs in the one thread that runs the audit: with
    a second busy thread (the background dispatcher's), every SQLite and socket call
    that let go of the GIL waited to get it back, ~0.15-0.5 ms each. With ``workers`` > 1
    the checks run in that many worker processes of :mod:`judgeguard.offload`, past one
    process's CPU; a check a worker cannot take (it died, something does not pickle) runs
    here."""

    def __init__(
        self,
        auditor: LineAuditor,
        config: AuditConfig,
        tel: Any,
        store: Callable[[str | None, dict[str, Any]], None],
    ) -> None:
        self.auditor, self.config, self.tel, self.store = auditor, config, tel, store
        self.limit = asyncio.Semaphore(config.concurrency)
        self.workers: list[CheckWorker] = []
        if config.workers > 1:  # imported only then: a one-process audit needs none of it
            from judgeguard import offload

            self.offload = offload
            self.workers = [offload.CheckWorker(nice=0) for _ in range(config.workers)]
        self._settings: CheckSettings | None = None
        self._worker_config: WorkerConfig | None = None
        self.primed = False

    def settings(self) -> CheckSettings:
        """The audit's check settings (built on the first line to check: they need
        pydantic, which a fully cached rerun never loads)."""
        if self._settings is None:
            from judgeguard.pipeline import CheckSettings

            config = self.config
            self._settings = CheckSettings(
                metajudge=config.metajudge,
                verdict=self.auditor.spec,
                cache=config.cache,
                gate=self.auditor.gate,
                check_timeout=config.check_timeout,
            )
            if self.workers:
                from judgeguard.offload import worker_config

                self._worker_config = worker_config(self._settings)
        return self._settings

    def slot(self, line: Line, key: str | None) -> asyncio.Future[dict[str, Any]]:
        """The line's result to come: parsed here, checked in a task."""
        from judgeguard import pipeline

        request = self.auditor.prepare(line)
        settings = self.settings()
        auditor, store, workers = self.auditor, self.store, self.workers
        if request is None:  # nothing to check: the parse error or bad line is the result
            result = auditor.result_record(line)
            store(key, result)
            return _done(result)
        if not self.primed and not workers and settings.metajudge:
            # the clients' first import (litellm's takes seconds; the fast path needs only
            # aiohttp) happens once a check is needed: a rerun served by the cache never pays
            from judgeguard.metajudge.transport import import_clients

            import_clients(settings.metajudge.models, settings.metajudge.litellm_kwargs)
            self.primed = True

        async def job() -> dict[str, Any]:
            if workers:
                line.check = await self.offload.run(
                    request, settings, self.tel, self._worker_config, workers=workers
                )
            else:
                line.check = await pipeline.run_check(request, settings, self.tel)
            result = auditor.result_record(line)
            store(key, result)
            return result

        def fallback(status: str, reason: str, message: str) -> dict[str, Any]:
            failed = pipeline.failed_check(status, reason, message, settings.metajudge)
            line.check = settings.gate.apply_to(failed)  # a check that never ran: on_error
            return auditor.result_record(line)

        return asyncio.ensure_future(run_job(job, fallback, self.limit, DEFAULT_CHECK_TIMEOUT))

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


def _store_for(config: AuditConfig) -> Callable[[str | None, dict[str, Any]], None]:
    """Stores a line's result in the line cache when it is final (never errors)."""
    final = ("consistent", "inconsistent", "unparsed") + (
        ("skipped",) if config.metajudge is None else ()
    )

    def store(key: str | None, result: dict[str, Any]) -> None:
        if key is not None and config.cache is not None and result["status"] in final:
            config.cache.put_record(key, dump_json(result))

    return store


class _CrashDigest(logging.Filter):
    """Lets one "a check crashed" traceback per distinct cause through; the audit's
    summary counts them all (``AuditSummary.crashes``)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[str, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or "a check crashed" not in str(record.msg):
            return True
        exc = record.exc_info[1]
        cause = (type(exc).__name__, str(exc)[:200])
        if cause in self.seen:
            return False
        self.seen.add(cause)
        record.msg = f"{record.msg} (shown once per cause; the audit counts the others)"
        return True


def run_audit(
    path: str | Path,
    config: AuditConfig,
    out: IO[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> AuditSummary:
    """Audit a JSONL file (``-``: stdin) of logged judgments; write one result line per
    input line.

    ``out`` receives the results (JSONL, input order); ``progress(n)`` is told how many
    lines finished since its last call. With ``config.workers > 1`` the lines are parsed
    and checked in that many worker processes. Ctrl-C stops cleanly: finished lines are
    written, the summary covers them, ``summary.interrupted`` is set, and a rerun
    resumes from the cache.
    """
    from judgeguard.telemetry import get_telemetry

    check_config(path, config)
    auditor = LineAuditor(config)
    summary = AuditSummary(metajudge=config.metajudge.model if config.metajudge else None)
    if config.metajudge is not None:
        summary.gate = dataclasses.asdict(auditor.gate)
    cache = config.cache
    window = max(4 * config.concurrency, 64)
    tel = config.telemetry or get_telemetry()
    digest = _CrashDigest()
    logger = logging.getLogger("judgeguard")
    logger.addFilter(digest)

    def emit(result: dict[str, Any]) -> None:
        summary.add(AuditRow.of(result))
        result.pop("text_keys", None)  # only for the --field hint
        for on_line in config.on_line:
            on_line(result)
        if out is not None:
            out.write(dump_json(result) + "\n")
        if progress is not None:
            progress(1)

    async def audit_lines() -> None:
        checker = _Checks(auditor, config, tel, _store_for(config))
        queue: list[asyncio.Future[dict[str, Any]]] = []
        try:
            for number, raw in read_lines(path, config.limit):
                key = auditor.line_key(raw) if cache is not None else None
                cached = cache.get_record(key) if key is not None and cache is not None else None
                if cached is not None:
                    result = auditor.regate(json.loads(cached))
                    result["line"] = number
                    result["cached"] = True
                    queue.append(_done(result))
                else:
                    queue.append(checker.slot(Line(number, raw), key))
                if len(queue) > window:  # wait for the oldest (shielded: a Ctrl-C lands here)
                    await asyncio.shield(queue[0])
                elif number % 64 == 0:
                    await asyncio.sleep(0)  # let the checks' tasks run between reads
                while queue and queue[0].done():
                    emit(queue.pop(0).result())
            while queue:
                emit(await asyncio.shield(queue.pop(0)))
        except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C (CancelledError: via
            # asyncio.run's SIGINT handler): the finished lines, in order, then stop
            summary.interrupted = True
            running = [f for f in queue if not f.done()]
            if running:
                await asyncio.wait(running, timeout=INTERRUPT_GRACE)
            unfinished = {f for f in running if not f.done()}
            for f in unfinished:
                f.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
            for f in queue:  # up to the first line the interruption cut short
                if f in unfinished:
                    break
                emit(f.result())
        finally:
            checker.close()

    # the cache's writes (line results, MetaJudge answers) go in batches, one transaction
    # each, instead of one per write; the last batch is written when the run ends, also on
    # Ctrl-C (a process killed outright loses at most that batch, never an --out line)
    batched = cache.batched() if cache is not None else contextlib.nullcontext()
    with batched:
        try:
            run_sync(audit_lines, name="judgeguard-audit")
        except KeyboardInterrupt:  # a second Ctrl-C while the first was being handled
            summary.interrupted = True
        finally:
            logger.removeFilter(digest)
    return summary
