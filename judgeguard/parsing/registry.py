"""User-registered verdict formats: a regex pattern or a function, tried before the built-ins."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from judgeguard.errors import ParseError
from judgeguard.parsing.context import demotion
from judgeguard.parsing.textformats import Candidate
from judgeguard.verdicts import Verdict, VerdictKind, VerdictSpec, interpret_value

__all__ = [
    "FormatMatch",
    "UserFormat",
    "register_format",
    "registered_formats",
    "unregister_format",
]


@dataclass(frozen=True)
class FormatMatch:
    """What a format function returns: the verdict and the span of its markup."""

    verdict: Verdict
    start: int
    end: int


FormatFunction = Callable[[str], "Verdict | FormatMatch | None"]


@dataclass(frozen=True)
class UserFormat:
    """A registered format (see :func:`register_format`)."""

    name: str
    pattern: re.Pattern[str] | None
    function: FormatFunction | None
    kind: VerdictKind | None
    scale: tuple[float, float] | None

    def candidates(self, text: str, spec: VerdictSpec) -> list[Candidate]:
        """The verdicts this format finds in ``text``.

        The last match counts as final, unless it is a hypothetical, an example or a
        negation (see :func:`judgeguard.parsing.context.demotion`): then the last one that
        is not counts.
        """
        if self.kind is not None and not spec.allows(self.kind):
            return []
        narrowed = (
            spec
            if self.kind is None or spec.kind != "auto"
            else VerdictSpec(kind=self.kind, scale=self.scale)
        )
        found: list[Candidate] = []
        if self.pattern is not None:
            for m in self.pattern.finditer(text):
                group = (
                    "verdict"
                    if "verdict" in self.pattern.groupindex
                    else (1 if self.pattern.groups else 0)
                )
                error: ParseError | None = None
                try:
                    v = interpret_value(
                        m.group(group), narrowed, key="verdict", implied_scale=self.scale
                    )
                except ParseError as exc:
                    v, error = None, exc
                if v is not None or error is not None:
                    why = demotion(text, m.start(), m.end())
                    found.append(
                        Candidate(v, m.start(), m.end(), self.name, error=error, demoted=why)
                    )
        else:
            assert self.function is not None
            result = self.function(text)
            if isinstance(result, FormatMatch):
                found.append(Candidate(result.verdict, result.start, result.end, self.name))
            elif isinstance(result, Verdict):
                found.append(Candidate(result, len(text), len(text), self.name))
        # the last match the judge stands by (not a hypothetical or an example) is final
        live = [i for i, c in enumerate(found) if c.demoted is None]
        if live:
            found[live[-1]] = found[live[-1]].replace(final=True, stated=True)
        return found


_lock = threading.Lock()
_formats: dict[str, UserFormat] = {}
_generation = 0  # bumped on every change, so copies elsewhere know when they are stale
# (generation, formats) as of the last change: every parse reads it (a reference read
# needs no lock), every change publishes a new one under the lock
_published: tuple[int, tuple[UserFormat, ...]] = (0, ())


def _publish() -> None:
    """After a change (with ``_lock`` held): bump the generation, publish the formats."""
    global _generation, _published
    _generation += 1
    _published = (_generation, tuple(_formats.values()))


def register_format(
    name: str,
    pattern: str | re.Pattern[str] | None = None,
    *,
    function: FormatFunction | None = None,
    kind: VerdictKind | None = None,
    scale: tuple[float, float] | None = None,
) -> None:
    """Teach :func:`judgeguard.parse` a new verdict format, tried before the built-ins.

    Give either a regex ``pattern`` whose group ``verdict`` (or first group) holds the
    verdict text — read like a rendered verdict (``A>B``, ``7``, ``pass``), narrowed to
    ``kind`` and ``scale`` when given — or a ``function(text)`` returning a
    :class:`judgeguard.Verdict`, a :class:`FormatMatch` (verdict plus the span of its
    markup, which is then redacted) or ``None``. The last match of a pattern is the
    final verdict, unless it is a hypothetical, an example or a negation ("an improved
    answer would earn Stars: 5/5"). Registering a name again replaces it.
    """
    if (pattern is None) == (function is None):
        raise TypeError("register_format needs exactly one of pattern= or function=")
    compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
    fmt = UserFormat(
        name,
        compiled,
        function,
        kind,
        None if scale is None else (float(scale[0]), float(scale[1])),
    )
    with _lock:
        _formats[name] = fmt
        _publish()


def unregister_format(name: str) -> None:
    """Forget a registered format (no error if it is unknown)."""
    with _lock:
        if _formats.pop(name, None) is not None:
            _publish()


def registered_formats() -> tuple[UserFormat, ...]:
    """The registered formats, in registration order."""
    return _published[1]


def snapshot() -> tuple[int, tuple[UserFormat, ...]]:
    """The registry's generation and formats (for a check worker process)."""
    return _published


def install(formats: tuple[UserFormat, ...]) -> None:
    """Replace the registered formats by ``formats`` (in a check worker process)."""
    with _lock:
        _formats.clear()
        _formats.update((f.name, f) for f in formats)
        _publish()
