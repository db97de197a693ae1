"""Typed errors raised by judgeguard: parse failures carry a reason code and an excerpt."""

from __future__ import annotations

__all__ = [
    "AmbiguousVerdict",
    "ContextError",
    "GuardConfigError",
    "InvalidVerdictSpec",
    "JudgeguardError",
    "ParseError",
    "ScoreOutOfRange",
    "UnsupportedOutput",
    "VerdictNotFound",
    "safe_str",
]

_EXCERPT_CHARS = 160


def excerpt(text: str, start: int | None = None, end: int | None = None) -> str:
    """A short, single-line excerpt of ``text`` around ``[start, end)`` (or its tail)."""
    if start is None or end is None:
        snippet = text[-_EXCERPT_CHARS:]
        prefix = "…" if len(text) > _EXCERPT_CHARS else ""
    else:
        pad = max(0, (_EXCERPT_CHARS - (end - start)) // 2)
        lo, hi = max(0, start - pad), min(len(text), end + pad)
        snippet = text[lo:hi]
        prefix = "…" if lo > 0 else ""
        if hi < len(text):
            snippet += "…"
    return prefix + " ".join(snippet.split())


class JudgeguardError(Exception):
    """Base class of every error judgeguard raises on purpose."""


class InvalidVerdictSpec(JudgeguardError, ValueError):
    """A ``verdict=`` spec that cannot be understood (e.g. ``"score:10-1"``)."""


class GuardConfigError(JudgeguardError, ValueError):
    """A guard option that cannot work (the message says which and why)."""


class ContextError(GuardConfigError):
    """A check's context cannot be built from a call or an input (the check ends
    ``bad_context``; the judge's own result is unaffected)."""


class ParseError(JudgeguardError):
    """The judge output could not be turned into a judgment.

    ``reason`` is a stable machine-readable code (``verdict_not_found``,
    ``ambiguous_verdict``, ``score_out_of_range``, ``unsupported_output``);
    ``excerpt`` is a short piece of the output around the problem. A parse error
    is never a negative verdict: callers record it as its own status.
    """

    reason: str = "parse_error"

    def __init__(self, message: str, *, excerpt: str = "", reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.excerpt = excerpt
        if reason is not None:
            self.reason = reason

    def __str__(self) -> str:
        if self.excerpt:
            return f"{self.message} [{self.reason}] near: {self.excerpt!r}"
        return f"{self.message} [{self.reason}]"


class VerdictNotFound(ParseError):
    """No verdict in any known or registered format was found in the output."""

    reason = "verdict_not_found"


class AmbiguousVerdict(ParseError):
    """The judge stated several different final verdicts; judgeguard will not guess."""

    reason = "ambiguous_verdict"

    def __init__(
        self, message: str, *, excerpt: str = "", candidates: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message, excerpt=excerpt)
        self.candidates = candidates


class ScoreOutOfRange(ParseError):
    """A score lies outside the declared or format-implied scale (never clamped)."""

    reason = "score_out_of_range"


class UnsupportedOutput(ParseError):
    """The judge returned an object judgeguard does not know how to read."""

    reason = "unsupported_output"


def safe_str(obj: object) -> str:
    """``str(obj)``, or a stand-in naming its type when its ``__str__`` raises."""
    try:
        return str(obj)
    except Exception:  # an object's own __str__ may do anything
        try:
            return f"<{type(obj).__name__} whose str() raised>"
        except Exception:
            return "<unprintable object>"
