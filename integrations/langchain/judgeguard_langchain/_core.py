"""The judgeguard names this package uses."""

from __future__ import annotations

from judgeguard.cache import CacheOption, DiskCache
from judgeguard.gating import Gate
from judgeguard.guarding import (
    Checker,
    GuardConfigError,
    GuardResult,
    judge_span,
)
from judgeguard.options import (
    ContextSource,
    MetaJudgeOption,
    OffloadOption,
    OnResult,
    OnUnparsed,
    VerdictOption,
)
from judgeguard.pipeline import CheckSettings
from judgeguard.telemetry import Telemetry

__all__ = [
    "CacheOption",
    "CheckSettings",
    "Checker",
    "ContextSource",
    "DiskCache",
    "Gate",
    "GuardConfigError",
    "GuardResult",
    "MetaJudgeOption",
    "OffloadOption",
    "OnResult",
    "OnUnparsed",
    "Telemetry",
    "VerdictOption",
    "judge_span",
]
