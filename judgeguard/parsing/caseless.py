"""Case-insensitive patterns matched fast: on the lower-cased text wherever that is exact.

Python's engine matches ``re.IGNORECASE`` patterns several times slower than plain ones,
and a pattern opening with ``\\b`` makes it try every position of the text. The parser's
context patterns are therefore written in lower case, with each word alternative opening
with its first letter (``w(?<=\\bw)ould`` for ``\\bwould``, see :func:`leading`, so the
engine skips to the positions holding one of those letters), and matched case-sensitively
against the lower-cased text when lower-casing keeps every offset and maps every character
that ``IGNORECASE`` would match to an ASCII letter onto that letter (:func:`aligned_lower`;
``tests/test_parse_speed_paths.py`` checks this claim over every code point). Other texts
are matched with ``IGNORECASE``, as before.
"""

from __future__ import annotations

import re

__all__ = ["Caseless", "aligned_lower", "leading"]


def aligned_lower(text: str) -> str | None:
    """``text.lower()`` when a case-sensitive match of a lower-case pattern in it finds
    exactly what the ``IGNORECASE`` pattern finds in ``text`` (same offsets), else ``None``.

    ``str.lower()`` keeps offsets unless a character lowers to several ("İ"); the only
    characters ``IGNORECASE`` matches to an ASCII letter that ``lower()`` does not turn
    into it are "ı" (i) and "ſ" (s); ``\\w``, ``\\s`` and ``\\d`` read a character and its
    lower case alike.
    """
    low = text.lower()
    if text.isascii() or (len(low) == len(text) and "ı" not in low and "ſ" not in low):
        return low
    return None


def leading(words: str) -> str:
    """``\\b(?:w1|w2|…)`` with every alternative opening with its first letter:
    ``w(?<=\\bw)ould`` matches where ``\\bwould`` does (``words``: ``|``-separated words)."""
    parts = []
    for word in words.split("|"):
        assert re.fullmatch(r"[a-z][a-z']*", word), word
        parts.append(f"{word[0]}(?<=\\b{word[0]}){word[1:]}")
    return "(?:" + "|".join(parts) + ")"


class Caseless:
    """A case-insensitive pattern (written in lower case) matched as the module says.

    The methods take the text and its :func:`aligned_lower` (``None`` when it has none):
    matches in the lower-cased text have the text's offsets, but their ``group()`` is
    lower-cased.
    """

    __slots__ = ("exact", "folded", "hints")

    def __init__(self, source: str, hints: tuple[str, ...] = ()) -> None:
        # an upper-case letter would match nothing in the lower-cased text (escapes such
        # as \S, \W and \b are not letters of the text)
        assert not re.search(r"(?<!\\)[A-Z]", source), source
        self.folded = re.compile(source, re.IGNORECASE)
        self.exact = re.compile(source)
        #: literals one of which every match holds: :meth:`search` looks for them in the
        #: lower-cased text first (``in`` is far cheaper than a search)
        self.hints = hints

    def search(
        self, text: str, low: str | None, pos: int = 0, endpos: int | None = None
    ) -> re.Match[str] | None:
        """The first match in ``text`` (between ``pos`` and ``endpos``, as ``re`` has them)."""
        end = len(text) if endpos is None else endpos
        if low is None:
            return self.folded.search(text, pos, end)
        if self.hints:
            if pos == 0 and end == len(low):
                if not any(map(low.__contains__, self.hints)):
                    return None
            elif not any(low.find(h, pos, end) != -1 for h in self.hints):
                return None
        return self.exact.search(low, pos, end)

    def match(self, text: str, low: str | None, pos: int = 0) -> re.Match[str] | None:
        """A match starting at ``pos``."""
        return self.exact.match(low, pos) if low is not None else self.folded.match(text, pos)

    def starts(self, text: str, low: str | None) -> list[int]:
        """Where the matches of ``finditer`` start."""
        pattern, target = (self.exact, low) if low is not None else (self.folded, text)
        return [m.start() for m in pattern.finditer(target)]
