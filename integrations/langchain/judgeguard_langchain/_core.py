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
from judgeguard.pipeline import CacheOption, CheckSettings

__all__ = [
    "CacheOption",
    "CheckSettings",
    "Checker",
    "ContextSource",
    "DiskCache",
    "GuardConfigError",
    "GuardResult",
    "judge_span",
]
