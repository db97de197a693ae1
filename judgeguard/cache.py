"""The disk cache of MetaJudge answers (diskcache: SQLite-backed, safe across processes).

Only successful results are stored (support checks ``consistent``/``inconsistent``,
reference checks ``ok``); errors are never cached, so a rerun retries them. Keys are
SHA-256 digests of everything that can change the MetaJudge's answer (see
:func:`judgeguard.pipeline.support_key`): the cache schema version, the check kind, the
exact request (models, every litellm option but a few documented exclusions, the
endpoint actually used, the prompt sent, the response format), the redacted rationale,
the verdict and its options, the context and the reference. Gate settings and gold
labels are not part of the key: the gate is applied again to a cached answer.

The default directory is ``$JUDGEGUARD_CACHE_DIR`` or the platform's user cache
directory (``platformdirs.user_cache_dir("judgeguard")``).

An unusable cache never breaks a check: the directory is opened on first use, and when
that or any later read or write fails (the path is a file, cannot be created, is
read-only, holds a corrupt ``cache.db``, the disk is full …) the cache disables itself
for the rest of the process with one :class:`CacheUnavailableWarning` saying why and how
to fix it; checks go on without it.

Writes go straight to disk, one transaction each, except inside :meth:`DiskCache.batched`
(the audit uses it): there they are queued and written in one transaction per
:data:`BATCH_SIZE` entries (or once the oldest queued entry is :data:`BATCH_DELAY`
seconds old), and whatever is left when the block ends, also on Ctrl-C or an exception.
Lookups see queued entries. A process killed outright loses at most the queued entries
(their checks are asked again on the next run), never a stored one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from judgeguard import env
from judgeguard.scrub import clean_text, key_bytes, redact_secrets

if TYPE_CHECKING:  # imported on use: a warm audit reads text records without pydantic
    from judgeguard.schema import Check, RationaleMatch

__all__ = [
    "CACHE_SCHEMA_VERSION",
    "CacheOption",
    "CacheUnavailableWarning",
    "DiskCache",
    "cache_key",
    "default_cache",
    "default_cache_dir",
]

#: Bump when the stored result layout or the key layout changes.
CACHE_SCHEMA_VERSION = 2
#: Inside :meth:`DiskCache.batched`: entries per write transaction, and the longest an
#: entry waits (seconds, checked on the next write) before its batch is written anyway.
BATCH_SIZE = 256
BATCH_DELAY = 2.0

T = TypeVar("T")
R = TypeVar("R", "Check", "RationaleMatch")


class CacheUnavailableWarning(UserWarning):
    """The check cache could not be used; checks run without it (the message says why)."""


def default_cache_dir() -> Path:
    """``$JUDGEGUARD_CACHE_DIR``, else the platform user cache dir for judgeguard."""
    configured = env.cache_dir()
    if configured is not None:
        return configured
    import platformdirs

    return Path(platformdirs.user_cache_dir("judgeguard"))


def cache_key(kind: str, **parts: Any) -> str:
    """A stable hex key of ``kind`` and JSON-serialisable ``parts``.

    Text is hashed as it is, lone surrogates included (never an encoding error);
    values JSON cannot hold are hashed as their ``repr``.
    """
    payload = json.dumps(
        {"v": CACHE_SCHEMA_VERSION, "kind": kind, **parts},
        sort_keys=True,
        ensure_ascii=False,
        default=repr,
        separators=(",", ":"),
    )
    return hashlib.sha256(key_bytes(payload)).hexdigest()


_warned: set[str] = set()
_warned_lock = threading.Lock()


class DiskCache:
    """A size-bounded, optionally expiring disk cache of check results.

    ``directory`` defaults to :func:`default_cache_dir`; ``size_limit`` is in bytes
    (default 1 GiB, least-recently-stored entries go first); ``ttl`` (seconds) makes
    entries expire. ``hits`` and ``misses`` count lookups in this process. The directory
    is opened on first use; :attr:`disabled` tells (with :attr:`disabled_reason`) when it
    turned out unusable, in which case every lookup misses and nothing is stored.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        size_limit: int = 2**30,
        ttl: float | None = None,
    ) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.ttl = ttl
        self.size_limit = size_limit
        self._cache: Any = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.disabled = False
        self.disabled_reason: str | None = None
        # write-behind (inside batched()): queued entries, visible to lookups until written
        self._batching = 0
        self._queued: dict[str, str] = {}
        self._queued_since = 0.0
        self._queue_lock = threading.Lock()
        self._flush_lock = threading.Lock()

    def __repr__(self) -> str:
        state = ", disabled" if self.disabled else ""
        return f"DiskCache({str(self.directory)!r}{state})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles as its settings: the copy opens the same directory (counters start at 0);
        a disabled cache stays disabled, without a second warning."""
        return (
            _reopen,
            (str(self.directory), self.size_limit, self.ttl, self.disabled_reason),
        )

    # -- opening and failing ----------------------------------------------------------------
    def _store(self) -> Any:
        """The open ``diskcache.Cache``, opened on first use; ``None`` once disabled."""
        cache = self._cache
        if cache is not None or self.disabled:
            return cache
        with self._lock:
            if self._cache is None and not self.disabled:
                try:
                    import diskcache

                    self._cache = diskcache.Cache(str(self.directory), size_limit=self.size_limit)
                except Exception as exc:
                    self._disable(exc, "could not be opened")
            return self._cache

    def _disable(self, exc: BaseException, what: str) -> None:
        """Turn the cache off for this process; warn once per directory."""
        reason = redact_secrets(f"{type(exc).__name__}: {exc}")
        self.disabled, self.disabled_reason = True, f"{what}: {reason}"
        broken, self._cache = self._cache, None
        if broken is not None:
            with contextlib.suppress(Exception):
                broken.close()
        key = str(self.directory)
        with _warned_lock:
            if key in _warned:
                return
            _warned.add(key)
        message = (
            f"judgeguard: the check cache at {key!r} {what} ({reason}); checks run without "
            "a cache from now on in this process. To fix it, point JUDGEGUARD_CACHE_DIR (or "
            "cache=) at a writable directory, or delete a corrupt cache.db there; "
            "cache=False turns the cache off without this warning."
        )
        try:
            warnings.warn(message, CacheUnavailableWarning, stacklevel=3)
        except Warning:  # warnings turned into errors (-W error) must not break a check
            logging.getLogger("judgeguard").warning("%s", message)

    def _run(self, what: str, op: Callable[[Any], T], default: T) -> T:
        """``op(store)``, or ``default`` when the cache is (or just became) unusable."""
        store = self._store()
        if store is None:
            return default
        try:
            return op(store)
        except Exception as exc:
            self._disable(exc, f"failed to {what}")
            return default

    def usable(self) -> bool:
        """Open the cache if needed; whether it can be used (False once disabled)."""
        return self._store() is not None

    # -- counting -------------------------------------------------------------------------------
    def count(self, hit: bool) -> None:
        """Count one lookup in :attr:`hits` or :attr:`misses` (also for lookups made by a
        copy of this cache in a check worker process)."""
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1

    def _lookup(self, key: str) -> Any:
        if self._store() is None:
            return None  # a disabled cache looks nothing up: not a miss
        raw = self._queued.get(key) if self._queued else None
        if raw is None:
            raw = self._run("read", lambda c: c.get(key), None)
        if not self.disabled:
            self.count(raw is not None)
        return raw

    def _save(self, key: str, value: str) -> bool:
        # text no UTF-8 encoder accepts is stored with U+FFFD: a bad value must not
        # look like a broken cache
        value = clean_text(value)
        if self._batching:
            if self._store() is None:
                return False
            with self._queue_lock:
                if not self._queued:
                    self._queued_since = time.monotonic()
                self._queued[key] = value
                full = (
                    len(self._queued) >= BATCH_SIZE
                    or time.monotonic() - self._queued_since >= BATCH_DELAY
                )
            if full:
                self.flush()
            return not self.disabled
        return self._run("write", lambda c: c.set(key, value, expire=self.ttl), False) is True

    # -- write-behind ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def batched(self) -> Iterator[DiskCache]:
        """Within the block, queue writes and store them a batch per transaction
        (:data:`BATCH_SIZE` entries); what is queued when the block ends is written then,
        whatever ends it (Ctrl-C included). Lookups see queued entries. Nests."""
        with self._queue_lock:
            self._batching += 1
        try:
            yield self
        finally:
            with self._queue_lock:
                self._batching -= 1
            self.flush()

    def flush(self) -> int:
        """Write the queued entries in one transaction; returns how many were written."""
        with self._flush_lock:
            with self._queue_lock:
                batch = list(self._queued.items())
            if not batch:
                return 0
            ttl = self.ttl

            def write(c: Any) -> int:
                # one transaction, and one cull (expired entries, then the size limit) per
                # batch instead of per entry: diskcache culls on every set, which cost as
                # much as the writes themselves
                limit = c.cull_limit
                c.reset("cull_limit", 0, update=False)  # this handle only, not the database
                try:
                    with c.transact():
                        for key, value in batch:
                            c.set(key, value, expire=ttl)
                finally:
                    c.reset("cull_limit", limit, update=False)
                c.cull()
                return len(batch)

            written = self._run("write", write, 0)
            with self._queue_lock:
                # entries stay visible to lookups until written; a newer value stays queued
                for key, value in batch:
                    if self._queued.get(key) is value:
                        del self._queued[key]
                if not self._queued:
                    self._queued_since = time.monotonic()
            return written

    # -- results ----------------------------------------------------------------------------------
    def get_check(self, key: str) -> Check | None:
        """The cached support check under ``key`` (marked ``cached=True``), or ``None``.

        An entry that no longer reads as a check (written by another version) is a miss.
        """
        from judgeguard.schema import Check

        return self._read(key, Check)

    def put_check(self, key: str, check: Check) -> bool:
        """Store a successful support check; returns whether it was stored."""
        if check.status not in ("consistent", "inconsistent"):
            return False
        text = _dump(check)
        return text is not None and self._save(key, text)

    def get_match(self, key: str) -> RationaleMatch | None:
        """The cached reference check under ``key`` (marked ``cached=True``), or ``None``."""
        from judgeguard.schema import RationaleMatch

        return self._read(key, RationaleMatch)

    def _read(self, key: str, model: type[R]) -> R | None:
        """The entry under ``key`` as a ``model`` marked ``cached=True``; ``None`` when
        missing or unreadable (written by another version)."""
        raw = self._lookup(key)
        if raw is None:
            return None
        try:
            return model.model_validate_json(raw).model_copy(update={"cached": True})
        except ValueError:
            return None

    def put_match(self, key: str, match: RationaleMatch) -> bool:
        """Store a successful reference check; returns whether it was stored."""
        if match.status != "ok":
            return False
        text = _dump(match)
        return text is not None and self._save(key, text)

    def get_record(self, key: str) -> str | None:
        """A stored text record (e.g. an audit line's result), counted as a lookup."""
        raw = self._lookup(key)
        return raw if isinstance(raw, str) else None

    def put_record(self, key: str, text: str) -> bool:
        """Store a text record under ``key`` (callers store only successful results);
        returns whether it was stored."""
        return self._save(key, text)

    def __len__(self) -> int:
        self.flush()
        return self._run("count entries", len, 0)

    def clear(self) -> None:
        """Remove every entry (queued ones included)."""
        with self._queue_lock:
            self._queued.clear()
        self._run("clear", lambda c: c.clear(), 0)

    def close(self) -> None:
        """Write what is queued, then close the underlying database handles (reopened on
        next use)."""
        self.flush()
        cache = self._cache
        if cache is not None:
            with contextlib.suppress(Exception):
                cache.close()


def _dump(result: Any) -> str | None:
    """The JSON text of a result, ``None`` when it cannot be stored (not a cache failure)."""
    try:
        return str(result.model_dump_json())
    except ValueError:
        return None


_default: DiskCache | None = None
_default_lock = threading.Lock()


def _reopen(
    directory: str, size_limit: int, ttl: float | None, disabled_reason: str | None = None
) -> DiskCache:
    cache = DiskCache(directory, size_limit=size_limit, ttl=ttl)
    if disabled_reason is not None:
        cache.disabled, cache.disabled_reason = True, disabled_reason
    return cache


#: What ``cache=`` accepts wherever checks are configured: ``True`` (the default
#: directory), ``False``/``None`` (off), a directory path, or a :class:`DiskCache`.
CacheOption = bool | str | os.PathLike[str] | DiskCache | None


def default_cache() -> DiskCache:
    """The process-wide cache in :func:`default_cache_dir` (created on first use)."""
    global _default
    with _default_lock:
        if _default is None or _default.directory != default_cache_dir():
            _default = DiskCache()
        return _default
