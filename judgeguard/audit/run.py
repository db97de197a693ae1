"""Running an audit: the streaming loop, the line cache, and where the checks run
(this process's dispatcher, or worker processes with ``--workers``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from judgeguard.audit.inputs import AuditConfig, check_config, read_lines
from judgeguard.audit.lines import Line, LineAuditor, dump_json
from judgeguard.audit.summary import AuditRow, AuditSummary
from judgeguard.cache import DiskCache
from judgeguard.dispatch import Dispatcher

__all__ = ["run_audit"]


class _Ready:
    """A line whose result is known (a cache hit)."""

    def __init__(self, result: dict[str, Any]) -> None:
        self._result = result

    def done(self) -> bool:
        return True

    def result(self) -> dict[str, Any]:
        return self._result


class _Batch:
    """Lines sent together to a worker process (submitted when full or when awaited)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.items: list[tuple[int, bytes]] = []
        self.future: Any = None

    def submit(self) -> None:
        if self.future is None:
            self.future = self.pool.submit(_worker_batch, self.items)


class _BatchSlot:
    def __init__(self, batch: _Batch, pos: int) -> None:
        self.batch, self.pos = batch, pos

    def done(self) -> bool:
        return self.batch.future is not None and bool(self.batch.future.done())

    def result(self) -> dict[str, Any]:
        self.batch.submit()
        return self.batch.future.result()[self.pos]  # type: ignore[no-any-return]


class _LocalChecker:
    """Parses and checks lines on this process's own dispatcher."""

    def __init__(
        self,
        auditor: LineAuditor,
        config: AuditConfig,
        tel: Any,
        store: Callable[[str | None, dict[str, Any]], None],
    ) -> None:
        self.auditor, self.config, self.tel, self.store = auditor, config, tel, store
        window = max(4 * config.concurrency, 64)
        # the checks are the audit's main work: no lower priority
        self.dispatcher = Dispatcher(
            concurrency=config.concurrency, max_queue=window + 1, on_full="wait", nice=0
        )
        self.primed = False

    def slot(self, line: Line, key: str | None) -> Any:
        from judgeguard.pipeline import failed_check, run_check

        request = self.auditor.prepare(line)
        config, tel, auditor, store = self.config, self.tel, self.auditor, self.store

        # The job builds and stores the line's result itself: every cache write then
        # happens on the dispatcher thread (SQLite writers on two threads wait on each
        # other's locks, which cost milliseconds per line).
        async def job() -> dict[str, Any]:
            if request is not None:
                line.check = await run_check(request, config.metajudge, config.cache, tel)
            result = auditor.result_record(line)
            store(key, result)
            return result

        def fallback(status: str, reason: str, message: str) -> dict[str, Any]:
            line.check = failed_check(status, reason, message, config.metajudge)
            return auditor.result_record(line)

        if request is not None and not self.primed and config.metajudge is not None:
            # litellm's slow first import happens only once a check is needed: a rerun
            # served by the cache never pays for it
            from judgeguard.metajudge.client import import_litellm

            self.dispatcher.prime(import_litellm)
            self.primed = True
        return self.dispatcher.submit(job, fallback)

    def interrupt(self) -> None:
        self.dispatcher.shutdown(timeout=2.0)

    def close(self) -> None:
        self.dispatcher.close(timeout=0.1)


class _PoolChecker:
    """Sends lines in batches to worker processes (``workers`` > 1): each worker parses,
    checks and caches on its own dispatcher, past one process's litellm CPU ceiling."""

    def __init__(self, config: AuditConfig) -> None:
        import concurrent.futures
        import multiprocessing

        per_worker = max(1, config.concurrency // config.workers)
        payload = {
            "metajudge": config.metajudge,
            "verdict": config.verdict,
            "fields": config.fields,
            "concurrency": per_worker,
            "cache_dir": str(config.cache.directory) if config.cache else None,
            "ttl": config.cache.ttl if config.cache else None,
        }
        self.pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=config.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(payload,),
        )
        self.batch_size = max(8, per_worker * 2)
        self.batch = _Batch(self.pool)

    def slot(self, line: Line, key: str | None) -> Any:
        self.batch.items.append((line.number, line.raw))
        slot = _BatchSlot(self.batch, len(self.batch.items) - 1)
        if len(self.batch.items) >= self.batch_size:
            self.batch.submit()
            self.batch = _Batch(self.pool)
        return slot

    def interrupt(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


_worker_state: dict[str, Any] = {}


def _worker_init(payload: dict[str, Any]) -> None:
    from judgeguard.metajudge.client import import_litellm
    from judgeguard.telemetry import get_telemetry

    cache = DiskCache(payload["cache_dir"], ttl=payload["ttl"]) if payload["cache_dir"] else None
    config = AuditConfig(
        metajudge=payload["metajudge"],
        verdict=payload["verdict"],
        fields=payload["fields"],
        concurrency=payload["concurrency"],
        cache=cache,
    )
    auditor = LineAuditor(config)
    store = _store_for(config)
    logging.getLogger("judgeguard").addFilter(_CrashDigest())
    _worker_state["checker"] = _LocalChecker(auditor, config, get_telemetry(), store)
    if config.metajudge is not None:
        import_litellm()


def _worker_batch(items: list[tuple[int, bytes]]) -> list[dict[str, Any]]:
    checker: _LocalChecker = _worker_state["checker"]
    slots = []
    for number, raw in items:
        line = Line(number, raw)
        key = checker.auditor.line_key(raw) if checker.config.cache is not None else None
        slots.append(checker.slot(line, key))
    return [s.result() for s in slots]


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
    cache = config.cache
    window = max(4 * config.concurrency, 64)
    checker: _LocalChecker | _PoolChecker = (
        _PoolChecker(config)
        if config.workers > 1
        else _LocalChecker(auditor, config, config.telemetry or get_telemetry(), _store_for(config))
    )
    queue: list[Any] = []
    digest = _CrashDigest()
    logger = logging.getLogger("judgeguard")
    logger.addFilter(digest)

    def emit(result: dict[str, Any]) -> None:
        summary.add(AuditRow.of(result))
        result.pop("text_keys", None)  # only for the --field hint
        if out is not None:
            out.write(dump_json(result) + "\n")
        if progress is not None:
            progress(1)

    try:
        for number, raw in read_lines(path, config.limit):
            key = auditor.line_key(raw) if cache is not None else None
            cached = cache.get_record(key) if key is not None and cache is not None else None
            if cached is not None:
                result = json.loads(cached)
                result["line"] = number
                result["cached"] = True
                queue.append(_Ready(result))
            else:
                queue.append(checker.slot(Line(number, raw), key))
            while queue and (len(queue) > window or queue[0].done()):
                emit(queue.pop(0).result())
        while queue:
            emit(queue.pop(0).result())
    except KeyboardInterrupt:
        summary.interrupted = True
        checker.interrupt()
        for slot in queue:
            if slot.done():
                try:
                    emit(slot.result())
                except Exception:  # a cancelled batch: its lines simply did not finish
                    break
            else:
                break
    finally:
        checker.close()
        logger.removeFilter(digest)
    return summary
