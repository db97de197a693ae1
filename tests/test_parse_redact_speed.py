"""The redaction's and the token context's fast paths give exactly what the code they replace gave.

Each test runs the plain reference (the code of judgeguard/parsing/redact.py and context.py
before the speed-up, kept here) and the fast path over random texts built from the
characters that matter (terminators, closers, blanks, line breaks, letters) and compares
the answers.
"""

from __future__ import annotations

import random
import re

import pytest

from judgeguard.parsing import redact

# -- sentence geometry: the two scans of a line that _LINE_BOUNDARY replaces -------------

_INLINE_BOUNDARY = re.compile(redact._TERMINATORS + redact._CLOSERS + r"[^\S\n]+")
_SENTENCE_END = re.compile(redact._TERMINATORS + redact._CLOSERS + r"(?=\s|\Z)")
_TERM_AND_CLOSERS = ".!?。！？\"')]*_"


def _reference_line(text: str, line_start: int) -> tuple[list[int], ...]:
    line_end = text.find("\n", line_start)
    line_end = len(text) if line_end == -1 else line_end
    b_ws, b_end = [], []
    for m in _INLINE_BOUNDARY.finditer(text, line_start, line_end):
        b_ws.append(m.end() - len(m.group().lstrip(_TERM_AND_CLOSERS)))
        b_end.append(m.end())
    e_start, e_end = [], []
    for m in _SENTENCE_END.finditer(text, line_start, line_end):
        e_start.append(m.start())
        e_end.append(m.end())
    return b_ws, b_end, e_start, e_end


_GEOMETRY_ALPHABET = [
    ".", "!", "?", "。", "！", "？", '"', "'", ")", "]", "*", "_", " ", "\t", "\n", "\r",
    "\x0b", "\u2028", "\u00a0", "a", "b", "x y", "e.g.", "...", "?!", ".)", '." ', "\n\n",
]  # fmt: skip


@pytest.mark.parametrize("seed", range(40))
def test_line_bounds_are_the_two_scans(seed: int) -> None:
    rng = random.Random(seed)
    text = "".join(rng.choice(_GEOMETRY_ALPHABET) for _ in range(rng.randint(0, 120)))
    geometry = redact._Geometry(text)
    line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    for line_start in line_starts:
        assert geometry._line(line_start) == _reference_line(text, line_start), (text, line_start)
