"""The judgeguard names this package uses."""

from __future__ import annotations

from judgeguard.cache import DiskCache
from judgeguard.guarding import (
    Checker,
    ContextSource,
    GuardConfigError,
    GuardResult,
    judge_span,
)

__all__ = [
    "Checker",
    "ContextSource",
    "DiskCache",
    "GuardConfigError",
    "GuardResult",
    "judge_span",
]
