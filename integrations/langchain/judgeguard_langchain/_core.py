"""The judgeguard names this package uses."""

from __future__ import annotations

from judgeguard.cache import CacheOption, DiskCache
from judgeguard.gating import Gate
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
    "CacheOption",
    "Checker",
    "ContextSource",
    "DiskCache",
    "Gate",
    "GuardConfigError",
    "GuardResult",
    "judge_span",
]
