"""The judgeguard names this package uses."""

from __future__ import annotations

from judgeguard.cache import DiskCache
from judgeguard.guarding import (
    AUTO_CONTEXT,
    Checker,
    ContextSource,
    GuardConfigError,
    GuardResult,
    judge_span,
)

__all__ = [
    "AUTO_CONTEXT",
    "Checker",
    "ContextSource",
    "DiskCache",
    "GuardConfigError",
    "GuardResult",
    "judge_span",
]
