"""The types of the options every check front end takes (guard, Checker, LangChain).

One alias per option, so that the union is spelled out once; :class:`GuardOptions`
lists the keyword options of :func:`judgeguard.guard` for type checkers. Light: only
the standard library is imported at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Union

from judgeguard.cache import CacheOption
from judgeguard.gating import Gate

if TYPE_CHECKING:
    from judgeguard.metajudge import MetaJudge
    from judgeguard.schema import Check
    from judgeguard.telemetry import Telemetry
    from judgeguard.verdicts import VerdictSpec

__all__ = [
    "CacheOption",
    "CheckOptions",
    "ContextSource",
    "ContextSpec",
    "GuardOptions",
    "MetaJudgeOption",
    "OffloadOption",
    "OnResult",
    "OnUnparsed",
    "ResultCallback",
    "SettingsOptions",
    "VerdictOption",
]

#: ``context=`` of a guard: parameter names, ``{context_key: parameter}``, or a function
#: of the call's arguments; ``None``: common parameter names.
ContextSpec = Mapping[str, str] | Sequence[str] | Callable[..., Mapping[str, Any]] | None
#: The context of one submitted output: a mapping, or a function returning one.
ContextSource = Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None
#: ``metajudge=``: a MetaJudge, a litellm model string, or a list of them (an ensemble).
MetaJudgeOption = Union["MetaJudge", str, Sequence[str], None]
#: ``verdict=``: a :class:`judgeguard.VerdictSpec` or a spec string (``"pairwise"`` …).
VerdictOption = Union["VerdictSpec", str, None]
#: One ``on_result`` callable: called with every finished :class:`judgeguard.Check`.
ResultCallback = Callable[["Check"], object]
#: ``on_result=``: a callable (a function, a :mod:`judgeguard.sinks` sink) or a list of
#: them, each called with every finished check, each isolated from the others.
OnResult = ResultCallback | Sequence[ResultCallback]
#: ``offload=``: where checks run (``None``: ``$JUDGEGUARD_OFFLOAD``, else ``"thread"``).
OffloadOption = Literal["thread", "process"] | None
#: ``on_unparsed=``: record an output that does not parse (status ``unparsed``) or raise.
OnUnparsed = Literal["record", "raise"]


class CheckOptions(TypedDict, total=False):
    """The check settings every front end takes and passes to
    :meth:`judgeguard.pipeline.CheckSettings.resolve` (the one place that reads them)."""

    metajudge: MetaJudgeOption
    verdict: VerdictOption
    cache: CacheOption
    sample: float
    offload: OffloadOption
    gate: Gate | None
    check_timeout: float | None


class SettingsOptions(CheckOptions, total=False):
    """:class:`CheckOptions` and ``on_unparsed`` (front ends that can raise in the caller)."""

    on_unparsed: OnUnparsed


class GuardOptions(SettingsOptions, total=False):
    """The keyword options of :func:`judgeguard.guard` (see its docstring)."""

    context: ContextSpec
    on_result: OnResult | None
    wait: bool
    telemetry: Telemetry | None
    name: str | None
