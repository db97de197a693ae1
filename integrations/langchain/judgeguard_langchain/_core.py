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
    CheckOptions,
    ContextSource,
    MetaJudgeOption,
    OffloadOption,
    OnResult,
    OnUnparsed,
    SettingsOptions,
    VerdictOption,
)
from judgeguard.pipeline import CheckSettings
from judgeguard.telemetry import Telemetry

__all__ = [
    "CacheOption",
    "CheckOptions",
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
    "SettingsOptions",
    "Telemetry",
    "VerdictOption",
    "judge_span",
]
