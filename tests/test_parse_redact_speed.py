"""The redaction's and the token context's fast paths give exactly what the code they replace gave.

Each test runs the plain reference (the code of judgeguard/parsing/redact.py and context.py
before the speed-up, kept here) and the fast path over random texts built from the
characters that matter (terminators, closers, blanks, line breaks, letters) and compares
the answers.
"""

from __future__ import annotations

import bisect
import random
import re

import pydantic
import pytest

from judgeguard.parsing import context, redact
from judgeguard.parsing.caseless import aligned_lower
from judgeguard.schema import Redaction

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


def _reference_statement_span(text: str, start: int, end: int) -> tuple[int, int, bool]:
    """statement_span with every lookup a plain search (no index, no shared line bounds)."""
    ls_start = text.rfind("\n", 0, start) + 1
    b_ws, b_end, _, _ = _reference_line(text, ls_start)
    k = bisect.bisect_left(b_ws, start) - 1
    s = min(b_end[k], start) if k >= 0 else ls_start
    le_end = text.find("\n", end)
    le_end = len(text) if le_end == -1 else le_end
    _, _, e_start, e_end = _reference_line(text, text.rfind("\n", 0, end) + 1)
    k = bisect.bisect_left(e_start, end)
    e = e_end[k] if k < len(e_start) and e_start[k] < le_end else le_end
    standalone = not text[ls_start:s].strip() and not text[e:le_end].strip()
    return s, e, standalone


@pytest.mark.parametrize("seed", range(60))
def test_statement_span_is_the_plain_lookups(seed: int) -> None:
    rng = random.Random(seed)
    text = "".join(rng.choice(_GEOMETRY_ALPHABET) for _ in range(rng.randint(1, 120)))
    # many spans of one text: past the first few lookups, the line index answers
    for _ in range(30):
        start = rng.randint(0, len(text))
        end = min(len(text), start + rng.choice([0, 1, 3, 8, 30]))
        expected = _reference_statement_span(text, start, end)
        assert redact.statement_span(text, start, end) == expected, (text, start, end)


# -- a token's context: demotion as it read the window before the speed-up ---------------


def _reference_demotion(text: str, start: int, end: int) -> str | None:
    c = context
    window = text[max(0, start - c.CONTEXT_BEFORE) : start]
    if "\u0130" not in window:
        head = max(window.rfind("\n"), window.rfind(";")) + 1
        tail = window[head:]
        aligned = aligned_lower(tail)
        low = tail.lower() if aligned is None else aligned
        cut = c._clause_start(low)
        clause, low = tail[cut:], low[cut:]
    else:
        aligned = aligned_lower(window)
        low = window.lower() if aligned is None else aligned
        cut = c._clause_start(low)
        clause, low = window[cut:], low[cut:]
    fast = None if aligned is None else low
    has = low.__contains__
    if any(map(has, c._REWRITE_HINTS)) and c._rewrite_in(clause, fast):
        return "rewrite"
    modal = any(map(has, c._MODAL_HINTS))
    if modal and c._MODAL.search(clause, fast):
        return "hypothetical"
    if (
        any(map(has, c._RULE_NOUNS))
        and any(map(has, c._RULE_LINKS))
        and c._GENERAL_RULE.search(clause, fast)
    ):
        return "hypothetical"
    if (
        any(map(has, c._CONDITION_HINTS))
        and c._MODAL_OR_THEN.search(clause, fast)
        and (c._CONDITION.search(clause, fast) or c._CONDITION_AT_START.match(clause, fast))
        and not c._IF_FORCED.search(clause, fast)
    ):
        return "hypothetical"
    if modal and c._WOULD_BE.search(clause, fast) and not c._MY_VERDICT.search(clause, fast):
        return "hypothetical"
    if c._TAIL.match(text, end, c._sentence_after_end(text, end)):
        return "hypothetical"
    tail, tail_low = clause[-c._EXAMPLE_WINDOW :], low[-c._EXAMPLE_WINDOW :]
    if any(map(tail_low.__contains__, c._EXAMPLE_HINTS)) and c._EXAMPLE.search(
        tail, None if fast is None else tail_low
    ):
        return "example"
    tail, tail_low = clause[-c._NEGATION_WINDOW :], low[-c._NEGATION_WINDOW :]
    if any(map(tail_low.__contains__, c._NEGATION_HINTS)) and c._NEGATION.search(
        tail, None if fast is None else tail_low
    ):
        return "negated"
    return None


_CONTEXT_ALPHABET = [
    "[[8]]", "[[A>B]]", " ", "  ", "\n", "\n\n", ";", ",", ".", ". ", ".\t", "!", "? ", ":",
    ")", "-", "\u2013", "\u2014", "e.g. ", "i.e. ", " but ", " whereas ", " while ", "if",
    " if ", "IF ", "unless ", "once ", "provided ", "assuming ", "would ", "Could ", "might",
    "mightily", "iffy", "then ", "had the ", "were it ", "the revised answer ", "its revised ",
    "would earn ", "could be raised to ", "would be ", "my verdict ", "an answer which ",
    "for example ", "such as ", "format: ", "not ", "rather than ", "instead of ", "never ",
    "n't ", "I had to choose ", "İ", "ı", "ſ", "é", "Assistant B ", "x", "word", "Word ",
    "a long clause with no breaks in it at all ",
]  # fmt: skip


@pytest.mark.parametrize("seed", range(200))
def test_demotion_is_the_window_read_whole(seed: int) -> None:
    rng = random.Random(seed)
    # half the texts have no line break or semicolon: windows that start mid-clause
    alphabet = [p for p in _CONTEXT_ALPHABET if seed % 2 or not set(p) & {"\n", ";"}]
    # a third of them short: clauses of a few characters
    parts = [rng.choice(alphabet) for _ in range(rng.randint(1, 6 if seed % 3 else 400))]
    text = "".join(parts)
    for m in re.finditer(r"\[\[[^\]]*\]\]", text):
        start, end = m.span()
        assert context.demotion(text, start, end) == _reference_demotion(text, start, end), (
            text,
            start,
        )


# -- the redactor: painting removed spans -------------------------------------------------


def _painted_char_by_char(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Each char keeps the reason of the first span covering it; runs of one reason."""
    reasons: dict[int, str] = {}
    for s, e, reason in spans:
        for i in range(s, e):
            reasons.setdefault(i, reason)
    runs: list[tuple[int, int, str]] = []
    for i in sorted(reasons):
        if runs and runs[-1][1] == i and runs[-1][2] == reasons[i]:
            runs[-1] = (runs[-1][0], i + 1, reasons[i])
        else:
            runs.append((i, i + 1, reasons[i]))
    return runs


def _random_spans(rng: random.Random, most: int = 12) -> list[tuple[int, int, str]]:
    reasons = ["verdict", "verdict_statement", "verdict_heading", "quoted_verdict"]
    spans: list[tuple[int, int, str]] = []
    for _ in range(rng.randint(0, most)):
        if spans and rng.random() < 0.5:  # nested in (or equal to) an earlier span
            s0, e0, _ = rng.choice(spans)
            s = rng.randint(s0, e0 - 1)
            spans.append((s, rng.randint(s + 1, e0), rng.choice(reasons)))
        else:
            s = rng.randint(0, 5 * most)
            spans.append((s, s + rng.randint(1, 12), rng.choice(reasons)))
    if spans and rng.random() < 0.2:  # a span made before the one it lies in
        s0, e0, r0 = spans.pop()
        spans.insert(0, (s0, e0, r0))
    return spans


@pytest.mark.parametrize("seed", range(300))
def test_paint_is_first_span_wins(seed: int) -> None:
    spans = _random_spans(random.Random(seed))
    expected = _painted_char_by_char(spans)
    assert redact._paint(spans) == expected  # type: ignore[arg-type]
    nested = redact._paint_nested(spans)  # type: ignore[arg-type]
    assert nested is None or nested == expected


@pytest.mark.parametrize("seed", range(40))
def test_paint_of_many_spans_is_first_span_wins(seed: int) -> None:
    """Past 64 spans the nested path orders them by one int each (no key tuples)."""
    spans = _random_spans(random.Random(seed), most=300)
    expected = _painted_char_by_char(spans)
    assert redact._paint(spans) == expected  # type: ignore[arg-type]
    order = sorted(range(len(spans)), key=lambda i: (spans[i][0], -spans[i][1], i))
    assert redact._nested_order(spans) == order  # type: ignore[arg-type]


def test_paint_takes_the_nested_path_for_a_statement_and_its_token() -> None:
    spans = [(10, 20, "verdict"), (40, 90, "verdict_statement"), (60, 68, "verdict")]
    assert redact._paint_nested(spans) == [(10, 20, "verdict"), (40, 90, "verdict_statement")]  # type: ignore[arg-type]


# -- the redactor: absorbing the blanks a cut leaves ---------------------------------------


def _reference_absorb(red: redact.Redactor) -> list[tuple[int, int, str]]:
    """Redactor.absorb_whitespace before the speed-up; returns the runs it made."""
    src = red.source
    runs: list[tuple[int, int, str]] = []
    prev_end = 0
    for start, end, reason in red._merged():
        i = redact._strip_back(src, prev_end, start, " \t")
        whole_line = (i == 0 or src[i - 1] == "\n") and (end >= len(src) or src[end] in "\r\n")
        if whole_line:
            i = redact._strip_back(src, prev_end, i, "\r\n")
        if runs and runs[-1][1] == i and runs[-1][2] == reason:
            runs[-1] = (runs[-1][0], end, reason)
        else:
            runs.append((i, end, reason))
        prev_end = end
    segments, pos = [], 0
    for s, e, _ in runs:
        if s > pos:
            segments.append((pos, s))
        pos = max(pos, e)
    if pos < len(src):
        segments.append((pos, len(src)))
    last_kept = -1
    for s, e in reversed(segments):
        stripped = src[s:e].rstrip()
        if stripped:
            last_kept = s + len(stripped) - 1
            break
    if runs and runs[-1][1] > last_kept + 1:
        cut = last_kept + 1
        tail = [(max(s, cut), e, "verdict_statement") for s, e in segments if e > cut]
        joined: list[tuple[int, int, str]] = []
        for a, b, reason in sorted(runs + tail):
            if joined and joined[-1][1] == a and joined[-1][2] == reason:
                joined[-1] = (joined[-1][0], b, reason)
            else:
                joined.append((a, b, reason))
        runs = joined
    return runs


_BLANKS_ALPHABET = [" ", "  ", "\t", "\n", "\r\n", "\n\n", "\u00a0", "\u2003", "x", "word", "."]


@pytest.mark.parametrize("seed", range(300))
def test_absorb_whitespace_is_the_plain_rstrip(seed: int) -> None:
    rng = random.Random(seed)
    # long blank runs now and then: past the few characters stepped over before slicing
    parts = [rng.choice(_BLANKS_ALPHABET) * rng.choice([1, 1, 1, 20]) for _ in range(40)]
    source = "".join(parts)
    spans = [
        (s, s + rng.randint(1, 15), rng.choice(["verdict", "verdict_statement", "verdict_heading"]))
        for s in (rng.randint(0, len(source)) for _ in range(rng.randint(0, 6)))
    ]
    fast, plain = redact.Redactor(source), redact.Redactor(source)
    for red in (fast, plain):
        for s, e, reason in spans:
            red.remove(s, e, reason)  # type: ignore[arg-type]
    fast.absorb_whitespace()
    expected = _reference_absorb(plain)
    assert fast._merged() == expected, (source, spans)
    starts = [0] + [e for _, e, _ in expected]
    ends = [s for s, _, _ in expected] + [len(source)]
    segments = [(a, b) for a, b in zip(starts, ends, strict=True) if a < b]
    assert fast.kept_pieces() == segments
    assert fast.text() == "".join(source[a:b] for a, b in segments)


def test_redactions_are_the_models_they_were() -> None:
    red = redact.Redactor("My verdict: [[A>B]] because A is right.")
    red.remove(12, 19, "verdict")
    red.remove(0, 11, "verdict_heading")
    got = red.redactions()
    assert got == (
        Redaction(start=0, end=11, text="My verdict:", reason="verdict_heading"),
        Redaction(start=12, end=19, text="[[A>B]]", reason="verdict"),
    )
    assert all(
        type(r) is Redaction and r.model_fields_set == set(Redaction.model_fields) for r in got
    )
    with pytest.raises(pydantic.ValidationError):  # frozen, as before
        got[0].start = 3  # type: ignore[misc]


def _reference_clause_start(low: str) -> int:
    cut = max(low.rfind("\n"), low.rfind(";")) + 1
    for word in (" but ", " whereas ", " while "):
        k = low.rfind(word, cut)
        if k != -1:
            cut = max(cut, k + len(word))
    for mark in (". ", "! ", "? ", ".\t"):
        k = low.rfind(mark, cut)
        while k != -1 and low[max(0, k - 3) : k] in ("e.g", "i.e"):
            k = low.rfind(mark, cut, k)
        if k != -1:
            cut = max(cut, k + 1)
    return cut


_CLAUSE_ALPHABET = [" ", "a", "b", ".", "!", "?", "\t", "\n", ";", " but ", " while ", "e.g", "i.e"]


@pytest.mark.parametrize("seed", range(100))
def test_clause_start_is_the_plain_rfinds(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = rng.sample(_CLAUSE_ALPHABET, rng.randint(2, len(_CLAUSE_ALPHABET)))
    low = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
    assert context._clause_start(low) == _reference_clause_start(low), low


@pytest.mark.parametrize(
    "low", ["a? b", "a! b", "a. b", "a.\tb", "x but y? z", "e.g. x", "see e.g. a. b", "a?b", ""]
)
def test_clause_start_after_a_sentence_mark(low: str) -> None:
    assert context._clause_start(low) == _reference_clause_start(low)
