"""The disk cache of finished checks (diskcache: SQLite-backed, safe across processes).

Only successful results are stored (support checks ``consistent``/``inconsistent``,
reference checks ``ok``); errors are never cached, so a rerun retries them. The key is
a SHA-256 over everything that changes a result: the cache schema version, the check
kind, the MetaJudge models, prompt version and sampling parameters, the gate settings,
the redacted rationale, the verdict and its options, the context, the gold label and the
reference. The default directory is ``$JUDGEGUARD_CACHE_DIR`` or the platform's user
cache directory (``platformdirs.user_cache_dir("judgeguard")``).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported on use: a warm audit reads text records without pydantic
    from judgeguard.schema import Check, RationaleMatch

__all__ = ["CACHE_SCHEMA_VERSION", "DiskCache", "default_cache", "default_cache_dir"]

#: Bump when the stored result layout changes.
CACHE_SCHEMA_VERSION = 1


def default_cache_dir() -> Path:
    """``$JUDGEGUARD_CACHE_DIR``, else the platform user cache dir for judgeguard."""
    env = os.environ.get("JUDGEGUARD_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("judgeguard"))


def cache_key(kind: str, **parts: Any) -> str:
    """A stable hex key of ``kind`` and JSON-serialisable ``parts``."""
    payload = json.dumps(
        {"v": CACHE_SCHEMA_VERSION, "kind": kind, **parts},
        sort_keys=True,
        ensure_ascii=False,
        default=str,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class DiskCache:
    """A size-bounded, optionally expiring disk cache of check results.

    ``directory`` defaults to :func:`default_cache_dir`; ``size_limit`` is in bytes
    (default 1 GiB, least-recently-stored entries go first); ``ttl`` (seconds) makes
    entries expire. ``hits`` and ``misses`` count lookups in this process.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        size_limit: int = 2**30,
        ttl: float | None = None,
    ) -> None:
        import diskcache

        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.ttl = ttl
        self.size_limit = size_limit
        self._cache = diskcache.Cache(str(self.directory), size_limit=size_limit)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"DiskCache({str(self.directory)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles as its settings: the copy opens the same directory (counters start at 0)."""
        return (_reopen, (str(self.directory), self.size_limit, self.ttl))

    def count(self, hit: bool) -> None:
        """Count one lookup in :attr:`hits` or :attr:`misses` (also for lookups made by a
        copy of this cache in a check worker process)."""
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1

    def get_check(self, key: str) -> Check | None:
        """The cached support check under ``key`` (marked ``cached=True``), or ``None``."""
        raw = self._cache.get(key)
        self.count(raw is not None)
        if raw is None:
            return None
        from judgeguard.schema import Check

        return Check.model_validate_json(raw).model_copy(update={"cached": True})

    def put_check(self, key: str, check: Check) -> bool:
        """Store a successful support check; returns whether it was stored."""
        if check.status not in ("consistent", "inconsistent"):
            return False
        self._cache.set(key, check.model_dump_json(), expire=self.ttl)
        return True

    def get_match(self, key: str) -> RationaleMatch | None:
        """The cached reference check under ``key`` (marked ``cached=True``), or ``None``."""
        raw = self._cache.get(key)
        self.count(raw is not None)
        if raw is None:
            return None
        from judgeguard.schema import RationaleMatch

        return RationaleMatch.model_validate_json(raw).model_copy(update={"cached": True})

    def put_match(self, key: str, match: RationaleMatch) -> bool:
        """Store a successful reference check; returns whether it was stored."""
        if match.status != "ok":
            return False
        self._cache.set(key, match.model_dump_json(), expire=self.ttl)
        return True

    def get_record(self, key: str) -> str | None:
        """A stored text record (e.g. an audit line's result), counted as a lookup."""
        raw = self._cache.get(key)
        self.count(raw is not None)
        return raw if isinstance(raw, str) else None

    def put_record(self, key: str, text: str) -> None:
        """Store a text record under ``key`` (callers store only successful results)."""
        self._cache.set(key, text, expire=self.ttl)

    def __len__(self) -> int:
        return len(self._cache)

    def clear(self) -> None:
        """Remove every entry."""
        self._cache.clear()

    def close(self) -> None:
        """Close the underlying database handles (reopened on next use)."""
        self._cache.close()


_default: DiskCache | None = None
_default_lock = threading.Lock()


def _reopen(directory: str, size_limit: int, ttl: float | None) -> DiskCache:
    return DiskCache(directory, size_limit=size_limit, ttl=ttl)


def default_cache() -> DiskCache:
    """The process-wide cache in :func:`default_cache_dir` (created on first use)."""
    global _default
    with _default_lock:
        if _default is None or _default.directory != default_cache_dir():
            _default = DiskCache()
        return _default
