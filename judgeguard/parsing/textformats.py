"""Free-text verdict formats of real judges (Arena-Hard, MT-Bench, Prometheus, Inspect, …)."""

from __future__ import annotations

import bisect
import functools
import itertools
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from judgeguard.errors import ParseError
from judgeguard.parsing.caseless import Caseless, aligned_lower, leading
from judgeguard.parsing.context import demotion
from judgeguard.verdicts import Verdict, VerdictKind, VerdictSpec

__all__ = [
    "BUILTIN_FORMATS",
    "Candidate",
    "Carried",
    "TextFormat",
    "carried_lookups",
    "cut_view",
    "find_candidates",
    "markup_spans",
    "nothing_left",
    "text_index",
]


_UNREAD: Any = object()  # a candidate's demotion not read yet


class Candidate:
    """One verdict found in a text: where, by which format, and how final it reads.

    ``final``: a final statement; ``stated``: a final statement says so in words ("my
    final verdict is …"), while ``final`` also covers tokens that are final by the
    format's construction (``[RESULT] 4``); ``demoted``: why this token is not the
    verdict ("rewrite", "hypothetical", "example", "negated", "options"), or ``None``.
    Given ``text`` instead of ``demoted``, the candidate reads its demotion from the
    text when first asked (:func:`~judgeguard.parsing.context.demotion`): a parse asks
    for the few tokens that can be its verdict only. Treat candidates as immutable.
    """

    __slots__ = ("_demoted", "_text", "end", "error", "final", "format", "quoted", "start",
                 "stated", "verdict")  # fmt: skip

    def __init__(
        self,
        verdict: Verdict | None,
        start: int,
        end: int,
        format: str,
        final: bool = False,
        quoted: bool = False,
        error: ParseError | None = None,
        stated: bool = False,
        demoted: str | None = None,
        *,
        text: str | None = None,
    ) -> None:
        self.verdict = verdict
        self.start = start
        self.end = end
        self.format = format
        self.final = final
        self.quoted = quoted
        self.error = error
        self.stated = stated
        self._demoted: str | None = demoted if text is None else _UNREAD
        self._text = text

    @property
    def demoted(self) -> str | None:
        """Why this token is not the verdict, or ``None`` (read once, when first asked)."""
        if self._demoted is _UNREAD:
            assert self._text is not None
            self._demoted = demotion(self._text, self.start, self.end)
        return self._demoted

    def _fields(self) -> tuple[Any, ...]:
        return (self.verdict, self.start, self.end, self.format, self.final, self.quoted,
                self.error, self.stated, self.demoted)  # fmt: skip

    def replace(self, **changes: Any) -> Candidate:
        """A copy with some fields changed (an unread demotion stays unread)."""
        new = Candidate.__new__(Candidate)
        for name in Candidate.__slots__:
            setattr(new, name, changes.get(name, getattr(self, name)))
        if "demoted" in changes:
            new._demoted, new._text = changes["demoted"], None
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Candidate):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        names = ("verdict", "start", "end", "format", "final", "quoted", "error", "stated",
                 "demoted")  # fmt: skip
        inner = ", ".join(f"{n}={v!r}" for n, v in zip(names, self._fields(), strict=True))
        return f"Candidate({inner})"


Converter = Callable[[re.Match[str], VerdictSpec, str], "Verdict | None"]


def _anchored_at_lines(pattern: re.Pattern[str]) -> bool:
    """Whether ``pattern`` is ``^``-anchored and MULTILINE (tried at line starts only)."""
    return bool(pattern.pattern.startswith("^") and pattern.flags & re.MULTILINE)


@dataclass(frozen=True)
class TextFormat:
    """A verdict format: a pattern, the kind it yields and how to read a match.

    ``inherently_final`` marks formats whose last occurrence is the final verdict by
    construction (``[RESULT] 4``, ``GRADE: C``); ``stated`` formats say "final" in their
    own words ("the final decision is Response 1"); ``last_line`` formats only count on the
    last non-empty line of the text.
    """

    name: str
    kind: VerdictKind
    pattern: re.Pattern[str]
    convert: Converter
    inherently_final: bool = False
    last_line: bool = False
    stated: bool = False
    hints: tuple[str, ...] = ()
    #: a lower-case literal every match starts with (case-insensitively): the scan jumps
    #: from one occurrence of it to the next (``str.find``) instead of letting the regex
    #: engine try every position, which under IGNORECASE costs far more
    anchor: str | None = None
    #: whether the pattern is ``^``-anchored and MULTILINE (tried at line starts only)
    line_anchored: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "line_anchored", _anchored_at_lines(self.pattern))

    def may_match(self, lowered: str) -> bool:
        """A cheap pre-check: one of the format's lower-case ``hints`` is in the text."""
        return not self.hints or any(h in lowered for h in self.hints)


def _pair_op(m: re.Match[str], spec: VerdictSpec, text: str) -> Verdict | None:
    a, op, b = m.group("a").upper(), m.group("op"), m.group("b").upper()
    if a == b:
        return None
    if op == "=":
        return Verdict.pairwise("tie")
    strength = 2 if op in (">>", "<<") else 1
    winner = a if op.startswith(">") else b
    return Verdict.pairwise("A" if winner == "A" else "B", 2 if strength == 2 else 1)


def _abc(m: re.Match[str], spec: VerdictSpec, text: str) -> Verdict | None:
    side = m.group("side").upper()
    return Verdict.pairwise("tie" if side == "C" else ("A" if side == "A" else "B"))


def _side(m: re.Match[str], spec: VerdictSpec, text: str) -> Verdict | None:
    side = m.group("side").lower()
    if side in ("tie", "draw"):
        return Verdict.pairwise("tie")
    return Verdict.pairwise("A" if side in ("a", "1") else "B")


def _score(scale: tuple[float, float] | None) -> Converter:
    def convert(m: re.Match[str], spec: VerdictSpec, text: str) -> Verdict | None:
        implied = scale
        if "of" in m.groupdict() and m.group("of"):
            implied = (0.0, float(m.group("of")))
        return spec.make_score(float(m.group("value")), implied, m.group(0))

    return convert


def _two_score(m: re.Match[str], spec: VerdictSpec, text: str) -> Verdict | None:
    scale = spec.scale or (1.0, 10.0)
    a = spec.make_score(float(m.group("a")), scale, m.group(0))
    b = spec.make_score(float(m.group("b")), scale, m.group(0))
    assert a.value is not None and b.value is not None
    winner = "A" if a.value > b.value else "B" if b.value > a.value else "tie"
    return Verdict.pairwise(winner, scores=(a.value, b.value))  # type: ignore[arg-type]


def _label(
    options: tuple[str, ...] | None = None, values: dict[str, float] | None = None
) -> Converter:
    def convert(m: re.Match[str], spec: VerdictSpec, text: str) -> Verdict | None:
        return spec.make_label(m.group("label"), options, values, m.group(0))

    return convert


_NUM = r"(?P<value>-?\d+(?:\.\d+)?)"
_I = re.IGNORECASE
_IM = re.IGNORECASE | re.MULTILINE

_FORMATS: tuple[TextFormat, ...] = (
    TextFormat(
        "arena_hard",
        "pairwise",
        re.compile(r"\[\[\s*(?P<a>[AB])\s*(?P<op>>>|>|=|<<|<)\s*(?P<b>[AB])\s*\]\]"),
        _pair_op,
    ),
    TextFormat(
        "mtbench_two_score",
        "pairwise",
        re.compile(r"\[\[\s*(?P<a>-?\d+(?:\.\d+)?)\s*,\s*(?P<b>-?\d+(?:\.\d+)?)\s*\]\]"),
        _two_score,
    ),
    TextFormat("mtbench_pairwise", "pairwise", re.compile(r"\[\[\s*(?P<side>[ABC])\s*\]\]"), _abc),
    TextFormat(
        "mtbench_single",
        "score",
        re.compile(r"\[\[\s*" + _NUM + r"\s*\]\]"),
        _score((1.0, 10.0)),
    ),
    TextFormat(
        "prometheus_relative",
        "pairwise",
        re.compile(r"\[RESULT\]\s*:?\s*\(?\s*(?P<side>[AB])\b\)?"),
        _side,
        inherently_final=True,
    ),
    TextFormat(
        "prometheus_absolute",
        "score",
        re.compile(r"\[RESULT\]\s*:?\s*\(?\s*" + _NUM + r"\)?", _I),
        _score((1.0, 5.0)),
        inherently_final=True,
    ),
    TextFormat(
        "inspect_grade",
        "label",
        re.compile(r"G(?<=\bG)RADE\s*:\s*\**\s*(?P<label>[CPI])\b", _I),
        _label(("c", "p", "i"), {"c": 1.0, "p": 0.5, "i": 0.0}),
        inherently_final=True,
    ),
    TextFormat(
        "phoenix_label",
        "label",
        re.compile(
            r"^[ \t*#>-]*LABEL\s*:\**\s*[\"'`]?(?P<label>[A-Za-z][\w -]{0,38}?)[\"'`]?[ \t*.]*$",
            _IM,
        ),
        _label(),
        inherently_final=True,
    ),
    TextFormat(
        "autoj",
        "pairwise",
        re.compile(
            r"final\s+decision\s+is\s*:?\s*[\"'*]*\s*(?:Response\s*(?P<side>[12])|(?P<tie>tie))\b"
            # not the instruction's list "Response 1 / Response 2 / Tie"
            r"(?!\s*(?:/|,|or\b|and\b))",
            _I,
        ),
        lambda m, s, t: Verdict.pairwise(
            "tie" if m.group("tie") else ("A" if m.group("side") == "1" else "B")
        ),
        inherently_final=True,
        stated=True,
    ),
    TextFormat(
        "trulens_score",
        "score",
        re.compile(
            r"^[ \t*#>-]*(?:final\s+|overall\s+|total\s+)?score\**\s*:\**\s*"
            + _NUM
            + r"(?:\s*(?:/|out\s+of)\s*(?P<of>\d+(?:\.\d+)?))?\b",
            _IM,
        ),
        _score(None),
    ),
    TextFormat(
        "score_line",
        "score",
        re.compile(
            r"^[ \t*#>-]*(?:final\s+|overall\s+|total\s+)?(?:rating|grade)\**\s*:\**\s*"
            + _NUM
            + r"(?:\s*(?:/|out\s+of)\s*(?P<of>\d+(?:\.\d+)?))?\b",
            _IM,
        ),
        _score(None),
    ),
    TextFormat(
        "output_ab",
        "pairwise",
        re.compile(
            r"^[ \t*#>\"'`]*(?:(?:the\s+)?(?:better|best|preferred)\s+output\s+is\s*:?\s*)?"
            r"Output\s*\((?P<side>[ab])\)[ \t*.\"'`]*$",
            _IM,
        ),
        _side,
        last_line=True,
    ),
    TextFormat(
        "yes_no_last_line",
        "label",
        re.compile(r"^[ \t*#>\"'`]*(?P<label>Y|N|Yes|No)[ \t*.\"'`]*$", _IM),
        _label(("y", "n"), {"y": 1.0, "n": 0.0, "yes": 1.0, "no": 0.0}),
        last_line=True,
    ),
    TextFormat(
        "final_statement",
        "pairwise",
        re.compile(
            r"final\s+(?:verdict|decision|answer|choice|judgment|judgement)\s*(?:is|:)\s*:?\s*"
            r"(?:that\s+)?[\"'*]*\s*(?:(?:Assistant|Response|Output|Answer|Model)\s*\(?"
            r"(?P<side>[AB12])\b\)?(?:(?:'s|’s)(?:\s+(?:answer|response|output))?)?"
            # the side must be the one said to win, not the first of "A and B are equal"
            r"(?=\s*(?:is|was)\s+(?:(?:slightly|significantly|much|clearly|marginally|"
            r"somewhat|far|substantially|considerably|overall|noticeably)\s+)?(?:better|"
            r"superior|preferred|preferable|stronger|the\s+(?:winner|better))\b"
            r"|[ \t*\"']*(?:[.!:(\[\n]|$))"
            r"|(?P<tie>tie|a\s+tie)\b)",
            _I,
        ),
        lambda m, s, t: Verdict.pairwise(
            "tie" if m.group("tie") else ("A" if m.group("side") in ("A", "1") else "B")
        ),
        inherently_final=True,
        stated=True,
    ),
)

# lower-case substrings one of which must occur for a format to be tried at all
_HINTS: dict[str, tuple[str, ...]] = {
    "arena_hard": ("[[",),
    "mtbench_two_score": ("[[",),
    "mtbench_pairwise": ("[[",),
    "mtbench_single": ("[[",),
    "prometheus_relative": ("[result]",),
    "prometheus_absolute": ("[result]",),
    "inspect_grade": ("grade",),
    "phoenix_label": ("label",),
    "autoj": ("final decision",),
    "trulens_score": ("score",),
    "score_line": ("rating", "grade"),
    "output_ab": ("output",),
    "final_statement": ("final",),
}
# the literal each match starts with, for formats whose pattern starts with one (under
# IGNORECASE: formats matched case-sensitively already get the engine's literal search)
_ANCHORS: dict[str, str] = {
    "prometheus_absolute": "[result]",
    "inspect_grade": "grade",
    "autoj": "final",
    "final_statement": "final",
}
# the lower-case literal every match of a built-in format opens with (its anchor, or the
# "[[" of the bracketed formats, which the regex engine would look for once per format)
_LEADS: dict[str, str] = {
    **dict.fromkeys(
        ("arena_hard", "mtbench_two_score", "mtbench_pairwise", "mtbench_single"), "[["
    ),
    **_ANCHORS,
}
BUILTIN_FORMATS: tuple[TextFormat, ...] = tuple(
    replace(f, hints=_HINTS.get(f.name, ()), anchor=_ANCHORS.get(f.name)) for f in _FORMATS
)

# The bracketed formats ("[[A>B]]", "[[3, 7]]", "[[A]]", "[[7]]"): a match is "[[", then
# no "[", then "]]", so none holds another's "[[" and no two overlap; what follows the
# brackets tells them apart, so at most one matches at a "[[" (tests/test_parse_speed_paths.py)
_BRACKETED = ("arena_hard", "mtbench_two_score", "mtbench_pairwise", "mtbench_single")
_BRACKETED_FORMATS = tuple(f for f in BUILTIN_FORMATS if f.name in _BRACKETED)

# "final verdict is …", "my verdict:", "overall score …" in the same sentence, before a token
_FINAL_PHRASE = re.compile(
    r"(?:\bfinal\s+(?:verdict|decision|answer|judge?ment|rating|score|grade|label|choice|"
    r"evaluation|assessment|result)|\bmy\s+(?:overall\s+)?(?:verdict|decision|rating|score|"
    r"grade|judge?ment)|\bverdict\s*(?:is|:)|\bin\s+conclusion|\boverall\s+(?:score|rating|"
    r"verdict|grade))",
    re.IGNORECASE,
)
# the same, Caseless (see judgeguard.parsing.caseless), for a search in a token's sentence
_FINAL_PHRASE_FAST = Caseless(
    leading("final") + r"\s+(?:verdict|decision|answer|judge?ment|rating|score|grade|label|choice|"
    r"evaluation|assessment|result)"
    r"|" + leading("my") + r"\s+(?:overall\s+)?(?:verdict|decision|rating|score|"
    r"grade|judge?ment)"
    r"|" + leading("verdict") + r"\s*(?:is|:)"
    r"|" + leading("in") + r"\s+conclusion"
    r"|" + leading("overall") + r"\s+(?:score|rating|verdict|grade)",
    hints=("final", "my", "verdict", "conclusion", "overall"),
)
# the same phrases one alternative at a time, ``\b`` moved behind the first letter: each
# then starts with a literal, which the regex engine skips to quickly (a leading ``\b``
# under IGNORECASE makes it try every position: ~10x slower on long texts)
_FINAL_PHRASE_PARTS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"f(?<=\bf)inal\s+(?:verdict|decision|answer|judge?ment|rating|score|grade|label|"
        r"choice|evaluation|assessment|result)",
        r"m(?<=\bm)y\s+(?:overall\s+)?(?:verdict|decision|rating|score|grade|judge?ment)",
        r"v(?<=\bv)erdict\s*(?:is|:)",
        r"i(?<=\bi)n\s+conclusion",
        r"o(?<=\bo)verall\s+(?:score|rating|verdict|grade)",
    )
)
# each part's anchor (the literal its matches start with) and the literals one of which
# must occur for it to match at all (``None``: the anchor is enough)
_PHRASE_ANCHORS: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("final", None),
    ("my", ("verdict", "decision", "rating", "score", "grade", "judg")),
    ("verdict", None),
    ("in", ("conclusion",)),
    ("overall", None),
)
_ANY = VerdictSpec.coerce("auto")  # the instance parse("…") gets (one per process)
_QUOTES = {'"': '"', "'": "'", "`": "`", "“": "”", "‘": "’", "«": "»"}


#: How far around a token its sentence and line are read (for the final phrase before
#: it, quotes around it, what opens its line): bounds the work per token on long lines.
NEAR = 4096


def _line_start_near(text: str, start: int) -> int:
    """Just after the last line break before ``start`` (within :data:`NEAR`)."""
    floor = start - NEAR if start > NEAR else 0
    return text.rfind("\n", floor, start) + 1 or floor


def _sentence_before_start(text: str, start: int, line_start: int | None = None) -> int:
    """Just after the last line break or ``". "``, ``"! "``, ``"? "`` before ``start``
    (within :data:`NEAR`; ``line_start``: :func:`_line_start_near`, when known)."""
    # the marks are looked for on the token's line only: one before its start cannot be
    # the last (a line break at ``line`` holds no ". ", so nothing starting there counts)
    line = (_line_start_near(text, start) if line_start is None else line_start) - 1
    lo = max(
        text.rfind(". ", line + 1, start),
        text.rfind("! ", line + 1, start),
        text.rfind("? ", line + 1, start),
        line,
    )
    return lo + 1


# an apostrophe with no word character before it, or none after it (written to start
# with the literal, which the engine finds fast; same matches as (?<!\w)'|'(?!\w))
# the characters other than ASCII letters that IGNORECASE matches to an ASCII letter
# (tests/test_parse_speed_paths.py finds them all): "İ" (i), "ı" (i), "ſ" (s), Kelvin "K" (k)
_ASCII_FOLDING = ("\u0130", "\u0131", "\u017f", "\u212a")
_APOSTROPHE_QUOTE = re.compile(r"'(?:(?<![\w]')|(?![\w]))")


#: What :func:`carried_lookups` hands the rescan: the cut text lower-cased, and where
#: some literals occur in it
Carried = tuple[str, dict[str, list[int] | None]]
#: Most occurrences of a literal :meth:`_Index.positions` lists (past this many, the
#: scans that would visit each fall back to a search of the whole text)
MOST_POSITIONS = 16
# a literal -> a shorter one it starts with, whose occurrences are looked among rather
# than making a pass over the text: the longest other hint ("final decision" -> "final"),
# or "[", which a search for one character finds far faster than any longer literal
_HINT_PREFIX: dict[str, str] = {
    h: max(shorter, key=len)
    for h in {h for hs in _HINTS.values() for h in hs}
    if (shorter := [o for hs in _HINTS.values() for o in hs if o != h and h.startswith(o)])
    or (shorter := ["["] if h.startswith("[") else [])
}


# the hints of the built-in formats a spec's kind allows (but those of the last-line
# formats, looked for on the last line only), in the order the formats are listed
_HINTS_BY_KIND: dict[str, tuple[str, ...]] = {
    kind: tuple(
        dict.fromkeys(
            h
            for f in _FORMATS
            if (kind == "auto" or f.kind == kind) and not f.last_line
            for h in _HINTS.get(f.name, ())
        )
    )
    for kind in ("auto", "pairwise", "score", "label")
}
# what every match of the formats a keyword is a hint of has right after it (IGNORECASE
# as theirs): "LABEL\s*:" (phoenix_label), "SCORE\**\s*:" (trulens_score), "RATING" or
# "GRADE" then "\**\s*:" (score_line; inspect_grade's "GRADE\s*:" is one of those)
_FOLLOWS: dict[str, re.Pattern[str]] = {
    "label": re.compile(r"\s*:", re.IGNORECASE),
    "score": re.compile(r"\**\s*:", re.IGNORECASE),
    "rating": re.compile(r"\**\s*:", re.IGNORECASE),
    "grade": re.compile(r"\**\s*:", re.IGNORECASE),
}
# the literals the scans look up themselves (hints, and the literals formats open with)
_SCANNED_LITERALS = frozenset({h for hs in _HINTS.values() for h in hs} | set(_LEADS.values()))
_LONGEST_LITERAL = max(map(len, _SCANNED_LITERALS))
# the built-in last-line formats (all ^-anchored: tried at the last line's start)
_LAST_LINE_FORMATS = tuple(f for f in BUILTIN_FORMATS if f.last_line)
assert all(f.line_anchored for f in _LAST_LINE_FORMATS)
_NOT_LOOKED_UP: Any = object()


def _occurrences(lowered: str, literal: str) -> list[int] | None:
    """Where ``literal`` occurs in ``lowered`` (``None`` past :data:`MOST_POSITIONS`)."""
    find = lowered.find
    i = find(literal)
    out: list[int] = []
    while i != -1:
        if len(out) == MOST_POSITIONS:
            return None
        out.append(i)
        i = find(literal, i + 1)
    return out


class _Index:
    """Per-text lookups, each built when first needed, so the work per token stays bounded.

    One index serves every scan of a text and its redaction (:func:`text_index`).
    ``quote_apostrophes``: positions of apostrophes that are not inside a word;
    ``phrases``: spans of final-verdict phrases (``_FINAL_PHRASE`` over the whole text);
    ``lowered``: the text lower-cased; ``aligned``: whether its offsets are the text's
    and every case-insensitive match of an ASCII literal is that literal in it (then a
    ``str.find`` in ``lowered`` finds every place a case-insensitive pattern starting
    with the literal can match); ``positions``: where a literal occurs (the format hints,
    and the literals formats open with), up to a few occurrences.
    """

    __slots__ = ("_apostrophes", "_at", "_line_starts", "_phrases", "_prefix_max",
                 "_slice_budget", "aligned", "exact_lower", "lowered", "text")  # fmt: skip

    def __init__(self, text: str, carried: Carried | None = None) -> None:
        self.text = text
        # literal -> where it occurs in ``lowered`` (see :meth:`positions`)
        self._at: dict[str, list[int] | None] = {}
        #: whether ``lowered`` is ``text.lower()`` itself (else it equals it in length and
        #: in every ASCII character, and its other characters are "?")
        self.exact_lower = True
        if carried is not None:
            # the lowered text and where some literals occur in it, known from the text
            # ``text`` was cut from (see :func:`carried_lookups`): ``text`` is aligned
            self.lowered, known = carried
            self._at.update(known)
            self.aligned = True
            self.exact_lower = False
        elif text.isascii():
            self.lowered = text.lower()
            self.aligned = True
        elif not any(map(text.__contains__, _ASCII_FOLDING)):
            # no character IGNORECASE matches to an ASCII letter but the ASCII ones: the
            # ASCII characters lower-cased and "?" for the others find every ASCII literal
            # where a lower-cased text would, with its offsets, and far faster
            self.lowered = text.encode("ascii", "replace").lower().decode("ascii")
            self.aligned = True
            self.exact_lower = False
        else:
            self.lowered = lowered = text.lower()
            # str.lower() keeps offsets unless a character lowers to several ("İ"); the
            # only characters IGNORECASE matches to an ASCII letter that lower() does not
            # turn into it are "ı" (i) and "ſ" (s) (tests/test_parse_speed_paths.py checks)
            self.aligned = len(lowered) == len(text) and "ı" not in lowered and "ſ" not in lowered
        self._apostrophes: list[int] | None = None
        self._phrases: tuple[list[int], list[int]] | None = None
        self._prefix_max: list[int] | None = None
        self._line_starts: list[int] | None = None
        self._slice_budget = 2 * len(text) + 1024

    def may_match(self, fmt: TextFormat) -> bool:
        """``fmt.may_match(self.lowered)``: where each hint occurs is looked up once per
        text (one pass), and the anchored and line-start scans and the rescan's carried
        lookups read the same positions."""
        for h in fmt.hints:
            at = self.positions(h)
            if at is None or at:
                return True
        return not fmt.hints

    def plan(self, kind: str) -> tuple[TextFormat, ...]:
        """The built-in formats a scan under a spec of ``kind`` tries, in order: those
        of that kind some hint of which occurs (each hint looked up once per text), and
        the last-line formats (their hints are looked for on the last line). One plan
        per kind and set of hints that occur is kept (a few hundred at most)."""
        hints = _HINTS_BY_KIND[kind]
        at_map = self._at
        seen = []
        for h in hints:
            at = at_map[h] if h in at_map else self.positions(h)
            if at and self.aligned and (follow := _FOLLOWS.get(h)) is not None:
                # a keyword counts only where what every match has after it follows
                # ("label" in "five labels" starts no "Label: …"); read in the text
                # itself (its blanks may not be ASCII), whose offsets an aligned
                # ``lowered`` keeps
                n, match, text, followed = len(h), follow.match, self.text, False
                for p in at:
                    if match(text, p + n):
                        followed = True
                        break
                seen.append(followed)
            else:
                seen.append(at is None or at != _NONE)  # (None: very many; []: none)
        occurs = tuple(seen)
        plan = _PLANS.get((kind, occurs))
        if plan is None:
            present = {h for h, yes in zip(hints, occurs, strict=True) if yes}
            plan = _PLANS[kind, occurs] = tuple(
                f
                for f in BUILTIN_FORMATS
                if (kind == "auto" or f.kind == kind)
                and (f.last_line or not f.hints or not present.isdisjoint(f.hints))
            )
        return plan

    def line_starts(self) -> list[int]:
        """0 and every position just after a line break."""
        if self._line_starts is None:
            lines = self.text.split("\n")
            # line k starts after the k lines before it and their k line breaks
            lengths = itertools.accumulate(map(len, lines[:-1]), initial=0)
            self._line_starts = list(map(operator.add, lengths, itertools.count()))
        return self._line_starts

    def positions(self, literal: str) -> list[int] | None:
        """Where ``literal`` (lower case) occurs in ``lowered``, in order; ``None`` past
        :data:`MOST_POSITIONS` occurrences. Do not modify the list."""
        at_map = self._at
        if literal in at_map:
            return at_map[literal]
        prefix = _HINT_PREFIX.get(literal)
        at: list[int] | None
        if prefix is None:
            at = _occurrences(self.lowered, literal)
        else:
            within = at_map[prefix] if prefix in at_map else self.positions(prefix)
            if within is None:
                at = _occurrences(self.lowered, literal)
            else:
                # every occurrence starts with one of the shorter literal's
                starts = self.lowered.startswith
                at = [p for p in within if starts(literal, p)] if within else []
        at_map[literal] = at
        return at

    def apostrophes(self) -> list[int]:
        if self._apostrophes is None:
            self._apostrophes = [m.start() for m in _APOSTROPHE_QUOTE.finditer(self.text)]
        return self._apostrophes

    def count_quote_apostrophes(self, lo: int, hi: int) -> int:
        """``len(_APOSTROPHE_QUOTE.findall(text[lo:hi]))`` without slicing or rescanning."""
        if lo >= hi:
            return 0
        pos = self.apostrophes()
        n = bisect.bisect_left(pos, hi) - bisect.bisect_left(pos, lo)
        # in the slice, an apostrophe at either end has no word beside it on that side
        for edge in {lo, hi - 1}:
            if self.text[edge] == "'" and not _in(pos, edge):
                n += 1
        return n

    def final_phrase_in(self, lo: int, hi: int) -> bool:
        """``bool(_FINAL_PHRASE.search(text[lo:hi]))``: searched in the slice while the
        slices searched stay within a budget of a few times the text's length (a text's
        few tokens), then by lookup in the whole-text matches (built once), so that many
        tokens in one long sentence cost linear time."""
        if lo >= hi:
            return False
        if self._phrases is None and hi - lo <= self._slice_budget and self._word_edge(lo):
            # a slice starting at a word's edge holds a match iff the lookup finds one
            self._slice_budget -= hi - lo
            if self.aligned and self.exact_lower:
                return _FINAL_PHRASE_FAST.search(self.text, self.lowered, lo, hi) is not None
            part = self.text[lo:hi]  # (\b must read the text's other characters as they are)
            return _FINAL_PHRASE_FAST.search(part, aligned_lower(part)) is not None
        if self._phrases is None:
            # every match of every alternative: a slice holds a match of _FINAL_PHRASE iff
            # one of these lies inside it, or one crossing its edges hides one
            spans = sorted(self._phrase_spans())
            self._phrases = [a for a, _ in spans], [b for _, b in spans]
        starts, ends = self._phrases
        k = bisect.bisect_left(starts, lo)
        # spans may overlap (alternatives are scanned apart): check every span starting
        # before lo that reaches past it via a running maximum of ends
        straddles = (k > 0 and self._max_end(k - 1) > lo) or (
            k < len(starts) and starts[k] < hi < ends[k]
        )
        if straddles:
            # a match across the slice's edges may hide one inside it: search the slice
            # (slices start after a line break or ". ", so a word is never cut, except
            # at the NEAR floor of an overlong sentence, where this is approximate)
            return bool(_FINAL_PHRASE.search(self.text[lo:hi]))
        while k < len(starts) and starts[k] < hi:
            if ends[k] <= hi:
                return True
            k += 1
        return False

    def _word_edge(self, lo: int) -> bool:
        """Whether ``lo`` is not inside a word (``\\b`` reads the same in the slice)."""
        if lo == 0:
            return True
        c = self.text[lo - 1]
        return not (c.isalnum() or c == "_")

    def _phrase_spans(self) -> list[tuple[int, int]]:
        """Every match of every part of ``_FINAL_PHRASE`` (what ``finditer`` of each finds)."""
        if not self.aligned:
            return [m.span() for p in _FINAL_PHRASE_PARTS for m in p.finditer(self.text)]
        spans: list[tuple[int, int]] = []
        low = self.lowered
        for pattern, (anchor, needs) in zip(_FINAL_PHRASE_PARTS, _PHRASE_ANCHORS, strict=True):
            if needs is not None and not any(n in low for n in needs):
                continue
            spans.extend(m.span() for m in anchored_matches(pattern, self.text, low, anchor))
        return spans

    def _max_end(self, k: int) -> int:
        """The largest end among phrase spans ``0..k`` (prefix maxima, built once)."""
        if self._prefix_max is None:
            assert self._phrases is not None
            running, out = -1, []
            for e in self._phrases[1]:
                running = max(running, e)
                out.append(running)
            self._prefix_max = out
        return self._prefix_max[k]


class _CutView:
    """A text made of pieces of a source text (a redacted text), as the source's
    lookups see it: the text lower-cased (the pieces of ``source.lowered``), where each
    piece starts in it, and the text around each junction of two pieces, as far as the
    longest scanned literal reaches over it ("\\0", in no literal, keeps two junctions'
    windows from making one between them). For an aligned source."""

    __slots__ = ("around", "low", "offsets", "pieces", "starts")

    def __init__(self, source: _Index, pieces: list[tuple[int, int]]) -> None:
        lowered = source.lowered
        self.pieces = pieces
        self.low = low = "".join([lowered[s:e] for s, e in pieces])
        self.offsets = list(itertools.accumulate([e - s for s, e in pieces[:-1]], initial=0))
        self.starts = [s for s, _ in pieces]
        n = _LONGEST_LITERAL - 1
        self.around = "\0".join([low[j - n if j > n else 0 : j + n] for j in self.offsets[1:]])


def cut_view(source: _Index, pieces: list[tuple[int, int]]) -> _CutView | None:
    """What :func:`carried_lookups` and :func:`nothing_left` read of the text made of
    ``source``'s ``pieces`` (built once for both); ``None`` unless ``source`` is aligned."""
    return _CutView(source, pieces) if source.aligned else None


def carried_lookups(
    source: _Index, pieces: list[tuple[int, int]], view: _CutView | None = None
) -> Carried | None:
    """What the lookups of ``source`` tell of the text made of its ``pieces`` (spans,
    in order): that text lower-cased (the pieces of ``source.lowered``), and for each
    literal looked up in ``source``, where it occurs in that text: an occurrence inside
    one piece is one of ``source``'s, and any other spans a junction of two pieces
    (then the literal is left out, to be looked up in the text if asked). ``None``
    unless ``source`` is aligned. ``view``: :func:`cut_view` of them, when built."""
    if view is None:
        view = cut_view(source, pieces)
        if view is None:
            return None
    looked = source._at
    known: dict[str, list[int] | None] = {}
    around, starts, offsets = view.around, view.starts, view.offsets
    for literal, at in looked.items():
        if at is None or literal in around or literal not in _SCANNED_LITERALS:
            # too many to map one by one, or one may span a junction (or one that only
            # helps find others): looked up in the new text if asked
            continue
        if not at:
            known[literal] = at  # (an empty list: nothing to map)
            continue
        mapped = []
        for p in at:  # an occurrence inside one piece is one of the new text's
            k = bisect.bisect_right(starts, p) - 1
            if k >= 0 and pieces[k][1] >= p + len(literal):
                mapped.append(offsets[k] + p - pieces[k][0])
        known[literal] = mapped
    return view.low, known


def nothing_left(
    source: _Index, pieces: list[tuple[int, int]], text: str, view: _CutView | None = None
) -> bool:
    """Whether no built-in format can match in ``text``, which is ``source.text`` cut
    to its ``pieces`` (a redacted text), told from what ``source``'s lookups know:
    ``markup_spans(text)`` would then be ``[]``. ``False`` means it cannot tell.
    ``view``: :func:`cut_view` of them, when built.

    A format of the scan's plan needs a hint occurring in ``text`` (a keyword with what
    follows it): one spanning a junction of two pieces, or one of ``source``'s inside a
    piece. With neither, only the last-line formats are left to try.
    """
    if view is None:
        view = cut_view(source, pieces)
        if view is None:
            return False
    if any(map(view.around.__contains__, _SCANNED_LITERALS)):
        return False  # a scanned literal may span a junction
    at_map = source._at
    low, starts, offsets = view.low, view.starts, view.offsets
    for hint in _HINTS_BY_KIND["auto"]:
        at = at_map.get(hint, _NOT_LOOKED_UP)
        if at is None or at is _NOT_LOOKED_UP:
            return False  # very many, or not looked up: cannot tell
        for p in at:
            k = bisect.bisect_right(starts, p) - 1
            if k >= 0 and pieces[k][1] >= p + len(hint):  # it is in the text too
                follow = _FOLLOWS.get(hint)
                if follow is None or follow.match(text, offsets[k] + p - pieces[k][0] + len(hint)):
                    return False
    # the last-line formats, as the scan tries them (a match of any: cannot tell)
    last = _last_line_span(text)
    start, end = last
    for fmt in _LAST_LINE_FORMATS:
        for h in fmt.hints:
            if low.find(h, start, end) != -1:
                break
        else:
            if fmt.hints:
                continue  # none of its hints on the last line
        if fmt.pattern.match(text, start, end) is not None:
            return False
    return True


@functools.lru_cache(maxsize=8)
def text_index(text: str) -> _Index:
    """The lookups of ``text`` (shared by the scans and the redaction of one text)."""
    return _Index(text)


def anchored_matches(
    pattern: re.Pattern[str], text: str, lowered: str, anchor: str
) -> Iterator[re.Match[str]]:
    """What ``pattern.finditer(text)`` yields, for a pattern whose every match starts
    with ``anchor`` (lower case; case-insensitively): it is only tried where ``anchor``
    occurs in ``lowered`` (``text`` lower-cased, offsets aligned, see :class:`_Index`)."""
    find, match = lowered.find, pattern.match
    i = find(anchor)
    while i != -1:
        m = match(text, i)
        if m is None:
            i = find(anchor, i + 1)
        else:
            yield m
            start, end = m.span()
            i = find(anchor, end if end > start else end + 1)


def _line_matches(pattern: re.Pattern[str], text: str, index: _Index) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)`` for a ``^``-anchored MULTILINE pattern, tried only at
    line starts (the engine would try, and fail, at every other position too)."""
    return _matches_at(pattern, text, index.line_starts())


def _keyword_line_matches(
    pattern: re.Pattern[str], text: str, index: _Index, keywords: tuple[str, ...]
) -> Iterator[re.Match[str]] | None:
    """:func:`_line_matches`, tried only at the line starts a match could start from: the
    pattern (``^[ \\t*#>-]*``, maybe a word and blanks, then one of ``keywords``) needs
    a keyword on the line, or on the next non-blank line when the blanks after the word
    run over line breaks. ``None`` past :data:`MOST_POSITIONS` hits (try every line then)."""
    found: list[int] = []
    rfind = text.rfind
    for keyword in keywords:
        at = index.positions(keyword)
        if at is None:
            return None
        for p in at:
            start = rfind("\n", 0, p) + 1
            found.append(start)
            # blank lines right before: the match may start on the line above them
            while start > 0 and (start == p or text[start:p].isspace()):
                p = start
                start = rfind("\n", 0, p - 1) + 1
                found.append(start)
                if not text[start:p].isspace():
                    break
    if len(found) > 1:
        found = sorted(set(found))
    return _matches_at(pattern, text, found)


def _matches_at(
    pattern: re.Pattern[str], text: str, starts: Iterable[int]
) -> Iterator[re.Match[str]]:
    """The matches of ``pattern`` tried at ``starts`` (ascending) only, skipping starts
    inside the previous match."""
    end = 0
    for start in starts:
        if start < end:
            continue  # inside the previous match
        m = pattern.match(text, start)
        if m is not None:
            end = max(m.end(), start + 1)
            yield m


def _bracketed_matches(
    text: str, at: list[int], formats: list[TextFormat]
) -> dict[str, list[re.Match[str]]]:
    """Each bracketed format's matches at the ``"[["`` positions ``at``: one pass tries
    ``formats`` (in their order) at each, instead of one pass per format."""
    out: dict[str, list[re.Match[str]]] = {}
    end = 0
    for p in at:
        if p < end:
            continue  # inside the previous match
        for fmt in formats:
            m = fmt.pattern.match(text, p)
            if m is not None:
                out.setdefault(fmt.name, []).append(m)
                end = m.end()
                break
    return out


def _matched(m: re.Match[str] | None) -> tuple[re.Match[str], ...]:
    return () if m is None else (m,)


def _in(sorted_list: list[int], x: int) -> bool:
    k = bisect.bisect_left(sorted_list, x)
    return k < len(sorted_list) and sorted_list[k] == x


def _is_quoted(
    text: str, start: int, end: int, index: _Index | None = None, line_start: int | None = None
) -> bool:
    """Whether a token sits inside quotes or inline code on its line (``line_start``:
    :func:`_line_start_near`, when known)."""
    index = index or _Index(text)
    if line_start is None:
        line_start = _line_start_near(text, start)
    line_end = text.find("\n", end, end + NEAR)
    line_end = min(len(text), end + NEAR) if line_end == -1 else line_end
    if line_end == end:
        return False  # nothing after the token on its line can close a quote
    # the line before the token is text[line_start:start], after it text[end:line_end]:
    # searched in place (slicing a non-ASCII text costs a pass over the slice)
    find, rfind = text.find, text.rfind
    for open_q, close_q in _QUOTES.items():
        if find(close_q, end, line_end) == -1:
            continue
        if open_q == close_q:
            if open_q == "'":
                # apostrophes in words ("Assistant A's") are not quotes
                if find("'", line_start, start) == -1:
                    continue
                n = index.count_quote_apostrophes(line_start, start)
                if n % 2 == 1 and index.count_quote_apostrophes(end, line_end) > 0:
                    return True
                continue
            if text.count(open_q, line_start, start) % 2 == 1:
                return True
        elif rfind(open_q, line_start, start) > rfind(close_q, line_start, start):
            # (both -1, or offsets in the text: ordered as in the slice)
            return True
    return False


def _opens_line(text: str, start: int) -> bool:
    """Whether only whitespace or markdown decoration precedes ``start`` on its line."""
    line_start = text.rfind("\n", max(start - NEAR, 0), start) + 1 or max(start - NEAR, 0)
    return not text[line_start:start].strip(" \t*#>-_")


def _last_line_span(text: str) -> tuple[int, int]:
    """Start and end of the last non-empty line (trailing whitespace excluded)."""
    stripped_end = len(text)
    # ``len(text.rstrip())``, stepping back over a few blanks before copying the text
    while stripped_end and text[stripped_end - 1].isspace():
        stripped_end -= 1
        if len(text) - stripped_end > 64:
            stripped_end = len(text.rstrip())
            break
    start = text.rfind("\n", 0, stripped_end) + 1
    return start, stripped_end


#: spec -> (format name, token) -> the token's reading; built-in converters read only the
#: matched token and the spec, so equal tokens read alike (verdicts are frozen)
_READINGS: dict[VerdictSpec, dict[tuple[str, str], Verdict | None]] = {}
_READINGS_MAX = 4096
_LAST_READINGS: tuple[VerdictSpec | None, dict[tuple[str, str], Verdict | None]] = (None, {})
_UNREAD_TOKEN: Any = object()


# the built-in formats a scan tries, by the spec's kind and which of its hints occur:
# those whose hints occur and the last-line formats (their hints are looked for on the
# last line), in order (see _Index.plan: one per kind and set of hints, a few hundred)
_PLANS: dict[tuple[str, tuple[bool, ...]], tuple[TextFormat, ...]] = {}
_NONE: list[int] = []  # (compared with, never changed)


def _readings(spec: VerdictSpec) -> dict[tuple[str, str], Verdict | None]:
    """The readings of tokens under ``spec`` (the last spec asked for is remembered by
    identity: a spec's hash is a call over its fields)."""
    global _LAST_READINGS
    last = _LAST_READINGS
    if last[0] is spec:
        return last[1]
    readings = _READINGS.get(spec)
    if readings is None:
        if len(_READINGS) >= 64:
            _READINGS.clear()
        readings = _READINGS.setdefault(spec, {})
    _LAST_READINGS = (spec, readings)
    return readings


_Hit = tuple[re.Match[str], "Verdict | None", "ParseError | None"]


def _scan(
    text: str, spec: VerdictSpec, formats: tuple[TextFormat, ...], index: _Index
) -> list[tuple[TextFormat, list[_Hit]]]:
    """Each format's readable matches in ``text`` (format by format, in text order),
    without those overlapping an earlier-listed format's."""
    out: list[tuple[TextFormat, list[_Hit]]] = []
    # spans of earlier formats' matches: disjoint, kept sorted for bisect lookups
    taken: list[tuple[int, int]] = []
    last_line: tuple[int, int] | None = None
    bracketed: dict[str, list[re.Match[str]]] | None = None
    lowered = index.lowered
    builtin = formats is BUILTIN_FORMATS
    any_kind = spec.kind == "auto"
    readings = _readings(spec)
    # the built-in formats the spec allows and whose hints occur (each looked up once)
    plan = index.plan(spec.kind) if builtin else formats
    for fmt in plan:
        if not (builtin or any_kind or spec.kind == fmt.kind):  # spec.allows(fmt.kind)
            continue
        matches: Iterable[re.Match[str]]
        if fmt.last_line:
            if last_line is None:
                last_line = _last_line_span(text)
            if fmt.hints:
                # its hints are looked for on the last line only (where offsets agree)
                if not index.aligned:
                    if not index.may_match(fmt):
                        continue
                else:
                    for h in fmt.hints:
                        if lowered.find(h, *last_line) != -1:
                            break
                    else:
                        continue
            # the last line holds one line start, its own: a ``^``-anchored pattern can
            # match there only (finditer would try, and fail, at every other position)
            matches = (
                _matched(fmt.pattern.match(text, *last_line))
                if fmt.line_anchored
                else fmt.pattern.finditer(text, *last_line)
            )
        elif not builtin and fmt.hints and not index.may_match(fmt):
            continue
        elif fmt.line_anchored:
            keyed = (
                _keyword_line_matches(fmt.pattern, text, index, fmt.hints)
                if fmt.hints and index.aligned and builtin
                else None
            )
            matches = _line_matches(fmt.pattern, text, index) if keyed is None else keyed
        elif (
            builtin
            and index.aligned
            and (literal := _LEADS.get(fmt.name)) is not None
            and (at := index.positions(literal)) is not None
        ):
            if literal == "[[":
                if bracketed is None:
                    allowed = [f for f in _BRACKETED_FORMATS if any_kind or spec.kind == f.kind]
                    bracketed = _bracketed_matches(text, at, allowed)
                matches = bracketed.get(fmt.name, ())
            else:
                # the few places the literal every match opens with occurs (found once
                # per text for every format opening with it)
                matches = _matches_at(fmt.pattern, text, at)
        elif fmt.anchor is not None and index.aligned:
            matches = anchored_matches(fmt.pattern, text, lowered, fmt.anchor)
        else:
            matches = fmt.pattern.finditer(text)
        hits: list[_Hit] = []
        for m in matches:
            start, end = m.span()
            if taken:
                # the last span starting before this match ends ((end,) sorts before
                # every span starting at end)
                k = bisect.bisect_left(taken, (end,)) - 1
                if k >= 0 and taken[k][1] > start:
                    continue
            error: ParseError | None = None
            key = (fmt.name, m.group(0))
            # the same token again: one verdict serves all
            verdict = readings.get(key, _UNREAD_TOKEN) if builtin else _UNREAD_TOKEN
            if verdict is _UNREAD_TOKEN:
                try:
                    verdict = fmt.convert(m, spec, text)
                except ParseError as exc:
                    verdict, error = None, exc
                if error is None and builtin:
                    if len(readings) >= _READINGS_MAX:
                        readings.clear()
                    readings[key] = verdict
            if verdict is None and error is None:
                continue
            hits.append((m, verdict, error))
        if hits:
            out.append((fmt, hits))
            taken.extend([m.span() for m, _, _ in hits])
            taken.sort()
    return out


def markup_spans(
    text: str,
    formats: tuple[TextFormat, ...] = BUILTIN_FORMATS,
    carried: Carried | None = None,
) -> list[tuple[int, int]]:
    """The spans of :func:`find_candidates` ``(text, VerdictSpec())``, in text order, without
    reading each token's context (what a rescan for leftover markup needs). ``carried``:
    what :func:`carried_lookups` knows of ``text`` from the text it was cut from."""
    index = _Index(text, carried)
    spans = [m.span() for _, hits in _scan(text, _ANY, formats, index) for m, _, _ in hits]
    spans.sort()
    return spans


def find_candidates(
    text: str,
    spec: VerdictSpec,
    formats: tuple[TextFormat, ...] = BUILTIN_FORMATS,
) -> list[Candidate]:
    """Every verdict the given formats find in ``text``, in text order.

    Overlapping matches keep the earlier-listed format. A token that cannot be read
    (a score outside its scale) becomes a candidate carrying the error, raised only if
    that token turns out to be the final verdict.
    """
    found: list[Candidate] = []
    index = text_index(text)
    for fmt, hits in _scan(text, spec, formats, index):
        per_format: list[Candidate] = []
        name, by_format = fmt.name, fmt.stated
        for m, verdict, error in hits:
            start, end = m.span()
            line_start = _line_start_near(text, start)
            quoted = _is_quoted(text, start, end, index, line_start)
            stated = by_format or index.final_phrase_in(
                _sentence_before_start(text, start, line_start), start
            )
            per_format.append(
                # (verdict, start, end, format, final, quoted, error, stated; its demotion
                # read from the text when asked)
                Candidate(verdict, start, end, name, stated, quoted, error, stated, text=text)
            )
        if fmt.inherently_final and not all(c.final for c in per_format):
            # a final-by-construction token is final when it opens its line, or is the last
            live = [c for c in per_format if not c.quoted and c.demoted is None]
            live_ids = {id(c) for c in live}
            for i, c in enumerate(per_format):
                if c.final:
                    continue  # a final statement already
                if id(c) in live_ids and (c is live[-1] or _opens_line(text, c.start)):
                    per_format[i] = c.replace(final=True)
        found.extend(per_format)
    found.sort(key=operator.attrgetter("start"))
    return _demote_option_lists(text, found)


#: this many different verdicts in one paragraph are a list of the options, not a verdict
OPTION_LIST_MIN = 3


def _demote_option_lists(text: str, found: list[Candidate]) -> list[Candidate]:
    """Demote the tokens of a line or list that spells out the options ("[[A]], [[B]] or [[C]]").

    A judge echoing its instructions lists three or more different verdicts of one format
    on one line or in one run of list items ("1. … [[A>>B]]" / "2. … [[A>B]]" …); none of
    them is the judge's verdict.
    """
    if len(found) < OPTION_LIST_MIN:
        return found
    out: list[Candidate] = []
    group: list[Candidate] = [found[0]]
    for c in found[1:]:
        if not _same_list(text, group[-1].end, c.start):
            out.extend(_options_demoted(group))
            group = []
        group.append(c)
    out.extend(_options_demoted(group))
    return out


_LIST_ITEM = re.compile(r"[ \t]*(?:\d{1,2}[.)]|[-*•])[ \t]")


def _same_list(text: str, end: int, start: int) -> bool:
    """Whether the text between two tokens keeps them on one line or in one list."""
    first = text.find("\n", end, start)
    if first == -1:
        return True
    if text.find("\n", first + 1, start) != -1:
        return False
    return _LIST_ITEM.match(text, first + 1, start) is not None


def _options_demoted(group: list[Candidate]) -> list[Candidate]:
    if len(group) < OPTION_LIST_MIN:
        return group  # too few to list OPTION_LIST_MIN different verdicts
    per_format: dict[str, set[str]] = {}
    for c in group:
        if c.verdict is not None:
            per_format.setdefault(c.format, set()).add(c.verdict.render())
    listed = {f for f, seen in per_format.items() if len(seen) >= OPTION_LIST_MIN}
    if not listed:
        return group
    return [
        c.replace(demoted=c.demoted or "options", final=False) if c.format in listed else c
        for c in group
    ]
