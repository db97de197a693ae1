"""The audit's input contract: the JSONL file, its field names, the run's settings."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judgeguard.cache import DiskCache
from judgeguard.errors import JudgeguardError
from judgeguard.gating import Gate

__all__ = [
    "FIELDS",
    "NO_OUTPUT",
    "STDIN",
    "AuditConfig",
    "AuditError",
    "check_config",
    "dig",
    "is_stdin",
    "read_lines",
    "truthy",
]

#: Input paths that mean "read standard input".
STDIN = ("-", "/dev/stdin")

#: The contract's input field names (remappable with ``--field name=dotted.path``).
FIELDS = (
    "output",
    "rationale",
    "verdict",
    "judge",
    "label",
    "pair_id",
    "swapped",
    "reference",
    "question",
    "response_a",
    "response_b",
    "id",
)
#: The message of a line without the judge's output.
NO_OUTPUT = "no 'output' (or 'rationale' + 'verdict') field"


class AuditError(JudgeguardError, ValueError):
    """An audit that cannot start (bad file, bad field mapping); the message says why."""


@dataclass
class AuditConfig:
    """Settings of one audit run (see ``judgeguard audit --help``)."""

    metajudge: Any = None
    verdict: str = "auto"
    fields: dict[str, str] = field(default_factory=dict)
    concurrency: int = 16
    limit: int | None = None
    workers: int = 1
    cache: DiskCache | None = None
    telemetry: Any = None
    #: turns each MetaJudge answer into a reward (default: the MetaJudge's default gate);
    #: not part of any cache key, so a rerun with another gate makes no MetaJudge call
    gate: Gate | None = None
    #: bounds each line's check (seconds; ``None``: no bound of its own)
    check_timeout: float | None = None
    #: called with each finished line's result record (``--sink``: a
    #: :class:`judgeguard.sinks.base.Sink`'s ``log_audit_line``), in input order
    on_line: list[Callable[[dict[str, Any]], object]] = field(default_factory=list)


def check_config(path: str | Path, config: AuditConfig) -> None:
    """Raise :class:`AuditError` when the audit cannot start: run before any output
    file is opened, so a refused run changes nothing."""
    if not is_stdin(path):
        p = Path(path)
        if not p.exists():
            raise AuditError(f"no such file: {p}")
        if p.is_dir():
            raise AuditError(f"{p} is a directory; give a JSONL file (or - for stdin)")
        if not os.access(p, os.R_OK):
            raise AuditError(f"cannot read {p}: permission denied")
    for name, dotted in config.fields.items():
        if name not in FIELDS:
            raise AuditError(f"--field {name}=…: unknown field; known fields: {list(FIELDS)}")
        if not dotted:
            raise AuditError(f"--field {name}= needs a path, e.g. {name}=judgment.response")
    if config.workers < 1:
        raise AuditError("--workers must be at least 1")
    if config.concurrency < 1:
        raise AuditError("--concurrency must be at least 1")
    if config.limit is not None and config.limit < 0:
        raise AuditError("--limit must be 0 or more")
    if config.check_timeout is not None and not config.check_timeout > 0:
        raise AuditError("--check-timeout must be a positive number of seconds")


def is_stdin(path: str | Path) -> bool:
    """Whether ``path`` names standard input (``-`` or ``/dev/stdin``)."""
    return str(path) in STDIN


def read_lines(path: str | Path, limit: int | None = None) -> Iterator[tuple[int, bytes]]:
    """Non-empty lines of a JSONL file (``-``: standard input) with their 1-based
    numbers, streamed."""
    if str(path) == "-":
        yield from _numbered(sys.stdin.buffer, limit)
        return
    with open(path, "rb") as f:
        yield from _numbered(f, limit)


def _numbered(f: Any, limit: int | None) -> Iterator[tuple[int, bytes]]:
    count = 0
    for number, raw in enumerate(f, 1):
        if not raw.strip():
            continue
        if limit is not None and count >= limit:
            return
        count += 1
        yield number, raw


def dig(obj: Any, path: str) -> Any:
    """The value at a dotted path (``judgment.text``, ``outputs.0``), or ``None``."""
    for part in path.split("."):
        if isinstance(obj, Mapping) and part in obj:
            obj = obj[part]
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


def truthy(value: Any) -> bool | None:
    """A ``swapped`` flag: booleans, 0/1 and true/false/yes/no strings, missing = not
    swapped; anything else ``None`` (the line is left out of swap agreement)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "yes", "1", "y"):
            return True
        if low in ("false", "no", "0", "n", ""):
            return False
    return None
