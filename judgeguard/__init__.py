"""judgeguard: check that an LLM judge's rationale supports its verdict, and gate the reward.

Importing the package is cheap: pydantic, litellm, LangChain and OpenTelemetry are only
imported when the names that need them are first used (``jg.parse``, ``jg.MetaJudge`` …).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from judgeguard._version import __version__
from judgeguard.errors import (
    AmbiguousVerdict,
    InvalidVerdictSpec,
    JudgeguardError,
    ParseError,
    ScoreOutOfRange,
    UnsupportedOutput,
    VerdictNotFound,
)

if TYPE_CHECKING:
    from judgeguard.cache import CacheUnavailableWarning, DiskCache
    from judgeguard.dispatch import Dispatcher, flush, set_dispatcher
    from judgeguard.gating import Gate, outcome_reward
    from judgeguard.guarding import Checker, GuardConfigError, GuardedJudge, GuardResult, guard
    from judgeguard.metajudge import CheckFailed, InvalidCheckInput, MetaJudge, SelfGradingWarning
    from judgeguard.metajudge.agreement import fleiss_kappa
    from judgeguard.metajudge.metrics import RationaleScores, rationale_metrics
    from judgeguard.parsing import (
        FormatMatch,
        find_markup,
        judgment_from_parts,
        parse,
        register_format,
        registered_formats,
        unregister_format,
    )
    from judgeguard.rewards import LLMJudge, RewardFunction, reward_fn
    from judgeguard.schema import Check, Judgment, MatchPair, RationaleMatch, Redaction, Usage
    from judgeguard.telemetry import Telemetry, configure_telemetry, get_telemetry
    from judgeguard.verdicts import Verdict, VerdictSpec

_LAZY: dict[str, str] = {
    "parse": "judgeguard.parsing",
    "find_markup": "judgeguard.parsing",
    "judgment_from_parts": "judgeguard.parsing",
    "register_format": "judgeguard.parsing",
    "unregister_format": "judgeguard.parsing",
    "registered_formats": "judgeguard.parsing",
    "FormatMatch": "judgeguard.parsing",
    "Judgment": "judgeguard.schema",
    "Check": "judgeguard.schema",
    "RationaleMatch": "judgeguard.schema",
    "MatchPair": "judgeguard.schema",
    "Redaction": "judgeguard.schema",
    "Usage": "judgeguard.schema",
    "Verdict": "judgeguard.verdicts",
    "VerdictSpec": "judgeguard.verdicts",
    "rationale_metrics": "judgeguard.metajudge.metrics",
    "MetaJudge": "judgeguard.metajudge",
    "CheckFailed": "judgeguard.metajudge",
    "InvalidCheckInput": "judgeguard.metajudge",
    "SelfGradingWarning": "judgeguard.metajudge",
    "Gate": "judgeguard.gating",
    "guard": "judgeguard.guarding",
    "Checker": "judgeguard.guarding",
    "GuardResult": "judgeguard.guarding",
    "GuardedJudge": "judgeguard.guarding",
    "GuardConfigError": "judgeguard.guarding",
    "flush": "judgeguard.dispatch",
    "Dispatcher": "judgeguard.dispatch",
    "set_dispatcher": "judgeguard.dispatch",
    "DiskCache": "judgeguard.cache",
    "CacheUnavailableWarning": "judgeguard.cache",
    "Telemetry": "judgeguard.telemetry",
    "get_telemetry": "judgeguard.telemetry",
    "configure_telemetry": "judgeguard.telemetry",
    "fleiss_kappa": "judgeguard.metajudge.agreement",
    "outcome_reward": "judgeguard.gating",
    "RationaleScores": "judgeguard.metajudge.metrics",
    "reward_fn": "judgeguard.rewards",
    "LLMJudge": "judgeguard.rewards",
    "RewardFunction": "judgeguard.rewards",
}

__all__ = [
    "AmbiguousVerdict",
    "CacheUnavailableWarning",
    "Check",
    "CheckFailed",
    "Checker",
    "DiskCache",
    "Dispatcher",
    "FormatMatch",
    "Gate",
    "GuardConfigError",
    "GuardResult",
    "GuardedJudge",
    "InvalidCheckInput",
    "InvalidVerdictSpec",
    "JudgeguardError",
    "Judgment",
    "LLMJudge",
    "MatchPair",
    "MetaJudge",
    "ParseError",
    "RationaleMatch",
    "RationaleScores",
    "Redaction",
    "RewardFunction",
    "ScoreOutOfRange",
    "SelfGradingWarning",
    "Telemetry",
    "UnsupportedOutput",
    "Usage",
    "Verdict",
    "VerdictNotFound",
    "VerdictSpec",
    "__version__",
    "configure_telemetry",
    "find_markup",
    "fleiss_kappa",
    "flush",
    "get_telemetry",
    "guard",
    "judgment_from_parts",
    "outcome_reward",
    "parse",
    "rationale_metrics",
    "register_format",
    "registered_formats",
    "reward_fn",
    "set_dispatcher",
    "unregister_format",
]


def __getattr__(name: str) -> Any:
    if name == "sinks":  # ``jg.sinks.Phoenix(...)``: the subpackage, loaded on first use
        return importlib.import_module("judgeguard.sinks")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'judgeguard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
