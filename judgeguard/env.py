"""The ``JUDGEGUARD_*`` environment variables, read in one place (one function each).

Each function reads its variable when called (so a change in ``os.environ`` is seen by
the next check) and falls back to the documented default on an unset or unreadable
value. Only the standard library is imported: ``import judgeguard`` stays light.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "cache_dir",
    "exit_timeout",
    "memoized",
    "metajudge_models",
    "nice",
    "offload",
    "reward_config_path",
    "reward_overrides",
    "transport",
]


T = TypeVar("T")

#: Most values :func:`memoized` keeps at once (all are dropped when it fills up).
MEMO_SIZE = 4096

# (a copy of the environment's data, {key: value}): the values last computed from it
_memo: tuple[dict[Any, Any] | None, dict[Hashable, Any]] = (None, {})


def memoized(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, remembered under ``key`` for as long as ``os.environ`` is unchanged.

    For values read from the environment on every check (endpoints, API keys, proxies):
    reading a dozen variables per call costs more than the rest of the work, while
    telling a changed environment is one dictionary comparison (done in C). Any change to
    ``os.environ`` (through it, not ``os.putenv``) drops every remembered value.
    ``compute`` must depend only on ``key`` and the environment; an exception is raised
    and nothing is remembered.
    """
    global _memo
    data = getattr(os.environ, "_data", None)  # os._Environ's own mapping
    if not isinstance(data, dict):
        return compute()
    snapshot, values = _memo
    if snapshot is None or snapshot != data:
        # no lock (nothing to inherit held across a fork): two threads that both see a
        # change each start a fresh memo, and the later one stays
        values = {}
        _memo = (dict(data), values)
    try:
        return values[key]  # type: ignore[no-any-return]
    except KeyError:
        pass
    value = compute()
    if len(values) >= MEMO_SIZE:
        values.clear()
    values[key] = value
    return value


def metajudge_models() -> list[str]:
    """``$JUDGEGUARD_METAJUDGE``: the MetaJudge model(s), comma-separated (an ensemble).

    Default: none (checks end ``skipped``, reason ``no_metajudge``; the audit computes
    what needs no MetaJudge).
    """
    return [m.strip() for m in os.environ.get("JUDGEGUARD_METAJUDGE", "").split(",") if m.strip()]


def offload() -> str:
    """``$JUDGEGUARD_OFFLOAD``: where guard checks run, ``thread`` or ``process``.

    Default ``thread``. Returned lower-cased as written; the guard rejects other values.
    """
    return os.environ.get("JUDGEGUARD_OFFLOAD", "").strip().lower() or "thread"


def transport() -> str:
    """``$JUDGEGUARD_TRANSPORT``: how MetaJudges that set no ``transport`` send calls,
    ``auto``, ``openai`` or ``litellm`` (:mod:`judgeguard.metajudge.transport`).

    Default ``auto``. Returned lower-cased as written; the MetaJudge rejects other values.
    """
    return os.environ.get("JUDGEGUARD_TRANSPORT", "").strip().lower() or "auto"


def nice() -> int:
    """``$JUDGEGUARD_NICE``: how many nice levels lower background checks run.

    Default 10; 0 runs them at the caller's priority; a negative or unreadable value is 10
    (negative: 0).
    """
    try:
        return max(0, int(os.environ.get("JUDGEGUARD_NICE", "10")))
    except ValueError:
        return 10


def sink_close_timeout() -> float:
    """``$JUDGEGUARD_SINK_TIMEOUT``: seconds ``judgeguard audit --sink`` waits at the end
    for its sinks to post what they hold. Default 60."""
    try:
        return float(os.environ.get("JUDGEGUARD_SINK_TIMEOUT", "60"))
    except ValueError:
        return 60.0


def exit_timeout() -> float:
    """``$JUDGEGUARD_EXIT_TIMEOUT``: seconds the exit hook waits for pending checks.

    Default 10.
    """
    try:
        return float(os.environ.get("JUDGEGUARD_EXIT_TIMEOUT", "10"))
    except ValueError:
        return 10.0


def cache_dir() -> Path | None:
    """``$JUDGEGUARD_CACHE_DIR``: the check cache's directory (``~`` expanded).

    Default ``None``: the platform's user cache directory for judgeguard
    (:func:`judgeguard.cache.default_cache_dir`).
    """
    env = os.environ.get("JUDGEGUARD_CACHE_DIR")
    return Path(env).expanduser() if env else None


def reward_config_path() -> str | None:
    """``$JUDGEGUARD_REWARD_CONFIG``: a JSON or TOML file with the verl reward's settings
    (``judge``, ``judge_model``, ``judge_prompt``, ``metajudge`` …). Default: none."""
    return os.environ.get("JUDGEGUARD_REWARD_CONFIG") or None


def reward_overrides() -> dict[str, str]:
    """The verl reward's settings from the environment, over the config file:
    ``$JUDGEGUARD_JUDGE`` (``module:function``), ``$JUDGEGUARD_JUDGE_MODEL``,
    ``$JUDGEGUARD_JUDGE_PROMPT`` and ``$JUDGEGUARD_METAJUDGE`` (those set and non-empty)."""
    names = {
        "judge": "JUDGEGUARD_JUDGE",
        "judge_model": "JUDGEGUARD_JUDGE_MODEL",
        "judge_prompt": "JUDGEGUARD_JUDGE_PROMPT",
        "metajudge": "JUDGEGUARD_METAJUDGE",
    }
    return {key: os.environ[var] for key, var in names.items() if os.environ.get(var)}
