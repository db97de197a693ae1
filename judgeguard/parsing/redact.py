"""Redaction: cut the verdict, and the sentences that state it, out of a judge's reasoning."""

from __future__ import annotations

import bisect
import functools
import heapq
import itertools
import operator
import re
from typing import Literal

from judgeguard.parsing.caseless import Caseless, aligned_lower, leading
from judgeguard.schema import Redaction
from judgeguard.verdicts import Verdict

__all__ = ["Redactor", "conclusion_spans", "line_start", "statement_span"]

_Reason = Literal["verdict", "verdict_statement", "verdict_heading", "quoted_verdict"]
_validate_redaction = Redaction.__pydantic_validator__.validate_python


class Redactor:
    """Removes spans from a source text and remembers what went, in source offsets.

    Spans may be given in source offsets (:meth:`remove`) or in offsets of the current,
    already-redacted text (:meth:`remove_current`), so that a rescan of the redacted
    text can remove what earlier cuts made visible. Removals are queued and merged in one
    sort when the result is needed, so any number of them costs O(n log n), not O(n²).
    ``unscanned`` is how many leading characters of the full text were cut before it
    became ``source`` (see :func:`judgeguard.parsing.inputs.scan_window`).
    """

    def __init__(self, source: str, unscanned: int = 0) -> None:
        self.source = source
        self.unscanned = unscanned
        # removed runs, sorted and disjoint: (start, end, reason)
        self._runs: list[tuple[int, int, _Reason]] = []
        # removals not merged into _runs yet, in the order they were made
        self._pending: list[tuple[int, int, _Reason]] = []
        # the kept segments and text, until the next removal
        self._segments: list[tuple[int, int]] | None = None
        self._text: str | None = None

    def remove(self, start: int, end: int, reason: _Reason) -> None:
        """Remove ``source[start:end]`` (chars already removed keep their reason)."""
        if start < 0:
            start = 0
        if end > len(self.source):
            end = len(self.source)
        if start < end:
            self._pending.append((start, end, reason))
            self._segments = self._text = None

    def _merged(self) -> list[tuple[int, int, _Reason]]:
        """The removed runs, sorted, disjoint, adjacent runs of one reason joined."""
        if self._pending:
            self._runs = _paint(self._runs + self._pending)
            self._pending = []
        return self._runs

    def _kept_segments(self) -> list[tuple[int, int]]:
        if self._segments is None:
            self._segments = self._segments_now()
        return self._segments

    def _segments_now(self) -> list[tuple[int, int]]:
        segments, pos = [], 0
        for s, e, _ in self._merged():
            if s > pos:
                segments.append((pos, s))
            pos = max(pos, e)
        if pos < len(self.source):
            segments.append((pos, len(self.source)))
        return segments

    def text(self) -> str:
        """The source with every removed span cut out."""
        if self._text is None:
            if not self._merged():
                self._text = self.source
            else:
                self._text = "".join([self.source[s:e] for s, e in self._kept_segments()])
        return self._text

    def kept_pieces(self) -> list[tuple[int, int]]:
        """The spans of the source that :meth:`text` keeps, in order."""
        return self._kept_segments()

    def remove_current(self, start: int, end: int, reason: _Reason) -> None:
        """Remove ``text()[start:end]``, mapping it back to source offsets."""
        self.remove_current_many([(start, end)], reason)

    def remove_current_many(self, spans: list[tuple[int, int]], reason: _Reason) -> None:
        """Remove several spans of the current ``text()`` (all in its offsets) at once."""
        segments = self._kept_segments()
        offsets, total = [], 0
        for s, e in segments:
            offsets.append(total)
            total += e - s
        for start, end in spans:
            k = max(bisect.bisect_right(offsets, start) - 1, 0)
            while k < len(segments) and offsets[k] < end:
                s, e = segments[k]
                lo, hi = max(start - offsets[k], 0), min(end - offsets[k], e - s)
                if lo < hi:
                    self.remove(s + lo, s + hi, reason)
                k += 1

    def redactions(self) -> tuple[Redaction, ...]:
        """The removed runs, in source order, adjacent runs of one reason merged."""
        # the model's own validator, which Redaction(...) calls: the same validated
        # model, without BaseModel.__init__'s keyword handling in Python
        validate = _validate_redaction
        src = self.source
        return tuple(
            [
                validate({"start": s, "end": e, "text": src[s:e], "reason": r})
                for s, e, r in self._merged()
            ]
        )

    def absorb_whitespace(self) -> None:
        """Widen each cut over the blanks it leaves: spaces before it, the line breaks
        before a cut that removes whole lines, and whitespace left at the very end."""
        src = self.source
        # the blanks widen each run over what lies between it and the previous run only,
        # so runs and blanks stay disjoint: they are laid down directly (what _paint
        # makes of them), joining a blank to its run and touching runs of one reason
        runs: list[tuple[int, int, _Reason]] = []
        prev_end = 0
        for start, end, reason in self._merged():
            # the blanks between the previous cut and this one are not removed yet
            i = _strip_back(src, prev_end, start, " \t")
            whole_line = (i == 0 or src[i - 1] == "\n") and (end >= len(src) or src[end] in "\r\n")
            if whole_line:
                i = _strip_back(src, prev_end, i, "\r\n")
            if runs and runs[-1][1] == i and runs[-1][2] == reason:
                runs[-1] = (runs[-1][0], end, reason)
            else:
                runs.append((i, end, reason))
            prev_end = end
        # whitespace left at the end: everything after the last kept char that is no
        # blank is removed, the kept blanks there as "verdict_statement"
        last = 0  # one past the last kept non-blank char (0: there is none)
        for k in range(len(runs), -1, -1) if runs else ():
            # the kept gap before runs[k] (before the end of the text for k == len(runs))
            gap_start = runs[k - 1][1] if k else 0
            gap_end = runs[k][0] if k < len(runs) else len(src)
            last = _strip_back(src, gap_start, gap_end, None)
            if last > gap_start:
                break
        if runs and runs[-1][1] > last:
            # the runs after `last` (none holds it: it is kept), with the gaps between
            # them filled; touching runs of one reason joined
            k = bisect.bisect_left(runs, last, key=operator.itemgetter(0))
            out, pos = runs[:k], last
            for start, end, reason in runs[k:]:
                if pos < start:
                    _append_joined(out, pos, start, "verdict_statement")
                _append_joined(out, start, end, reason)
                pos = end
            if pos < len(src):
                _append_joined(out, pos, len(src), "verdict_statement")
            runs = out
        self._runs = runs
        self._segments = self._text = None


def _append_joined(
    runs: list[tuple[int, int, _Reason]], start: int, end: int, reason: _Reason
) -> None:
    """Append a run after ``runs``, joined to the last when they touch and share a reason."""
    if runs and runs[-1][1] == start and runs[-1][2] == reason:
        runs[-1] = (runs[-1][0], end, reason)
    else:
        runs.append((start, end, reason))


def _strip_back(text: str, lo: int, hi: int, chars: str | None) -> int:
    """``lo + len(text[lo:hi].rstrip(chars))``, stepping back over a few characters
    before slicing (cuts are usually preceded by a blank or two, not by a long run).
    ``chars=None`` strips whitespace, as ``rstrip()`` does (``str.isspace``)."""
    i = hi
    while i > lo and hi - i < 16:
        c = text[i - 1]
        if not (c.isspace() if chars is None else c in chars):
            return i
        i -= 1
    return lo + len(text[lo:i].rstrip(chars)) if i > lo else lo


def _paint(spans: list[tuple[int, int, _Reason]]) -> list[tuple[int, int, _Reason]]:
    """Disjoint sorted runs covering ``spans``; each char keeps the reason of the first
    span (in list order) that covers it. O(n log n) sweep over the span ends."""
    nested = _paint_nested(spans)
    if nested is not None:
        return nested
    starts = [s for s, _, _ in spans]
    order = sorted(range(len(spans)), key=starts.__getitem__)  # a C key: no Python frames
    points = sorted({p for s, e, _ in spans for p in (s, e)})
    active: list[tuple[int, int]] = []  # heap of (rank, end)
    out: list[tuple[int, int, _Reason]] = []
    j = 0
    for a, b in itertools.pairwise(points):
        while j < len(order) and spans[order[j]][0] <= a:
            heapq.heappush(active, (order[j], spans[order[j]][1]))
            j += 1
        while active and active[0][1] <= a:
            heapq.heappop(active)
        if not active:
            continue
        # the first-made span still open here decides (expired ones are popped lazily)
        reason = spans[active[0][0]][2]
        if out and out[-1][1] == a and out[-1][2] == reason:
            out[-1] = (out[-1][0], b, reason)
        else:
            out.append((a, b, reason))
    return out


def _paint_nested(
    spans: list[tuple[int, int, _Reason]],
) -> list[tuple[int, int, _Reason]] | None:
    """:func:`_paint` of spans that are disjoint or nested in a span made before them (a
    statement, then the token inside it: the usual case), else ``None``.

    In start order (longest first, then list order), each span either starts at or
    after the end of the outer spans so far (it is painted whole) or lies inside the last
    of them and comes after it in the list (that span already painted every char of it).
    """
    out: list[tuple[int, int, _Reason]] = []
    outer_end, outer_rank = -1, -1
    for rank in _nested_order(spans):
        start, end, _ = spans[rank]
        if start >= outer_end:
            reason = spans[rank][2]
            if out and out[-1][1] == start and out[-1][2] == reason:
                out[-1] = (out[-1][0], end, reason)  # touching runs of one reason join
            else:
                out.append((start, end, reason))
            outer_end, outer_rank = end, rank
        elif end > outer_end or rank < outer_rank:
            return None  # overlaps the outer span's end, or is painted before it
    return out


def _nested_order(spans: list[tuple[int, int, _Reason]]) -> list[int]:
    """The spans' indices by start, then longest first, then list order."""
    if len(spans) <= 64:
        return [i for _, _, i in sorted([(s, -e, i) for i, (s, e, _) in enumerate(spans)])]
    # sorted on one int per span: thousands of key tuples would be objects the garbage
    # collector tracks (and pauses for) on a text of many tokens
    n, most = len(spans), max(e for _, e, _ in spans) + 1
    keys = [(s * most + most - 1 - e) * n + i for i, (s, e, _) in enumerate(spans)]
    return sorted(range(n), key=keys.__getitem__)


# -- sentence geometry ------------------------------------------------------------------

_TERMINATORS = "[.!?。！？]"
_CLOSERS = "[\"')\\]*_]*"
# a line's sentence ends: terminator and closing marks followed by blanks (group 1: they
# end the cut of a sentence starting there) or by the line's end (``\Z``: the scan's
# ``endpos`` is the line break). One scan of the line where there were two, of
# ``_TERMINATORS + _CLOSERS`` followed by ``[^\S\n]+`` (in-line boundaries) and by
# ``(?=\s|\Z)`` (sentence ends): they matched at the same terminators with the same
# maximal run of closers (closers are neither terminators nor blanks), and inside a line
# the whitespace after a sentence end is blanks. tests/test_parse_redact_speed.py checks.
_LINE_BOUNDARY = re.compile(_TERMINATORS + _CLOSERS + r"(?:([^\S\n]+)|\Z)")


#: Line lookups of a text answered by searching it directly, before its line breaks are
#: indexed (each may read a whole line: a bound keeps many tokens on a long line linear)
_DIRECT_LOOKUPS = 16
#: one line's in-line boundaries (blanks start, blanks end) and sentence ends (start, end)
_LineBounds = tuple[list[int], list[int], list[int], list[int]]


class _Geometry:
    """Line and sentence boundaries of one text, queried by bisect.

    Replaces per-call scans back to the line start (quadratic on long lines holding many
    verdict tokens) with O(log n) lookups that give the same answers. The first few line
    lookups search the text directly (a verdict touches a few lines); past
    :data:`_DIRECT_LOOKUPS`, the line breaks are found in one pass. A line's sentence
    boundaries are read when a query first reaches it (the rest are never scanned).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.length = len(text)
        self._newlines: list[int] | None = None
        self._direct = 0
        self._lines: dict[int, _LineBounds] = {}

    @property
    def newlines(self) -> list[int]:
        """The positions of the text's line breaks."""
        if self._newlines is None:
            parts = self.text.split("\n")
            # the k-th line break sits after the first k+1 lines and k earlier breaks
            self._newlines = list(
                map(operator.add, itertools.accumulate(map(len, parts[:-1])), itertools.count())
            )
        return self._newlines

    def _line(self, line_start: int, line_end: int | None = None) -> _LineBounds:
        """The bounds of the line starting at ``line_start`` (ending at ``line_end``, when
        the caller knows it)."""
        found = self._lines.get(line_start)
        if found is None:
            if line_end is None:
                line_end = self.line_end(line_start)
            # no boundary spans a line break, so each line's are its own scan's
            b_ws: list[int] = []
            b_end: list[int] = []
            e_start: list[int] = []
            e_end: list[int] = []
            for m in _LINE_BOUNDARY.finditer(self.text, line_start, line_end):
                e_start.append(m.start())
                blanks = m.start(1)  # -1 at the line's end
                if blanks >= 0:
                    e_end.append(blanks)
                    b_ws.append(blanks)
                    b_end.append(m.end())
                else:
                    e_end.append(m.end())
            found = self._lines[line_start] = (b_ws, b_end, e_start, e_end)
        return found

    def line_start(self, pos: int) -> int:
        """``text.rfind("\n", 0, pos) + 1``."""
        if self._newlines is None and self._direct < _DIRECT_LOOKUPS:
            self._direct += 1  # one of the first few lookups: searched directly
            return self.text.rfind("\n", 0, pos) + 1
        newlines = self.newlines
        k = bisect.bisect_left(newlines, pos) - 1
        return newlines[k] + 1 if k >= 0 else 0

    def line_end(self, pos: int) -> int:
        """``text.find("\n", pos)``, or the text's length."""
        if self._newlines is None and self._direct < _DIRECT_LOOKUPS:
            self._direct += 1  # one of the first few lookups: searched directly
            end = self.text.find("\n", pos)
            return self.length if end == -1 else end
        newlines = self.newlines
        k = bisect.bisect_left(newlines, pos)
        return newlines[k] if k < len(newlines) else self.length

    def sentence_start(
        self, pos: int, line_start: int | None = None, line_end: int | None = None
    ) -> int:
        """Start of the sentence holding ``pos`` (``line_start``, ``line_end``: its line's
        bounds, when the caller knows them)."""
        if line_start is None:
            line_start = self.line_start(pos)
        # the last in-line boundary whose blanks begin before pos; its blanks end the cut
        b_ws, b_end, _, _ = self._line(line_start, line_end)
        k = bisect.bisect_left(b_ws, pos) - 1
        if k >= 0:
            return min(b_end[k], pos)
        return line_start

    def sentence_end(
        self, pos: int, line_start: int | None = None, line_end: int | None = None
    ) -> int:
        """End of the sentence holding ``pos`` (its line's bounds as for
        :meth:`sentence_start`)."""
        if line_end is None:
            line_end = self.line_end(pos)
        if line_start is None:
            line_start = self.line_start(pos)
        _, _, e_start, e_end = self._line(line_start, line_end)
        k = bisect.bisect_left(e_start, pos)
        if k < len(e_start) and e_start[k] < line_end:
            return e_end[k]
        return line_end


@functools.lru_cache(maxsize=8)
def _geometry(text: str) -> _Geometry:
    return _Geometry(text)


def line_start(text: str, pos: int) -> int:
    """``text.rfind("\\n", 0, pos) + 1``, by lookup in the text's cached line index."""
    return _geometry(text).line_start(pos)


def _sentence_start(text: str, pos: int) -> int:
    """Start of the sentence containing ``pos`` (line starts are sentence starts)."""
    return _geometry(text).sentence_start(pos)


def _sentence_end(text: str, pos: int) -> int:
    """End of the sentence containing ``pos`` (terminator included, line end at most)."""
    return _geometry(text).sentence_end(pos)


def _previous_sentence(text: str, start: int) -> tuple[int, int, bool] | None:
    """The sentence ending just before ``start``: (start, end, crossed_blank_line)."""
    end = start
    while end > 0 and text[end - 1].isspace():
        end -= 1
    if end == 0:
        return None
    crossed = text.count("\n", end, start) >= 2
    return _sentence_start(text, end - 1), end, crossed


_HEADING = re.compile(
    r"^\s*(?:#{1,6}\s*|\*\*|__)?[^\n]{0,40}?\b(?:verdict|decision|conclusion|score|rating|"
    r"result|final|label|grade|answer|judge?ment|evaluation|summary)\b[^\n]{0,20}?"
    r"(?:\*\*|__)?\s*:?\s*(?:\*\*|__)?\s*$",
    re.IGNORECASE,
)

_MARKER = re.compile(
    r"^[\s*_>#-]*(?:therefore|thus|hence|so|overall|in\s+conclusion|in\s+summary|to\s+sum\s+up|"
    r"to\s+summari[sz]e|to\s+conclude|all\s+in\s+all|consequently|accordingly|ultimately|"
    r"based\s+on\s+(?:this|that|these|the\s+above|my\s+analysis|the\s+analysis|the\s+evaluation)|"
    r"given\s+(?:this|these|the\s+above)|for\s+these\s+reasons|taking\s+(?:everything|all)\s+"
    r"into\s+account|considering\s+(?:everything|all))\b",
    re.IGNORECASE,
)
# a pairwise verdict in words (Caseless: see judgeguard.parsing.caseless)
_PAIR_STATEMENT = Caseless(
    leading("assistant|response|output|answer|model|candidate") + r"\s*\(?[ab12]\)?"
    r"(?:['’]s\s+(?:answer|response|output))?\s+(?:is|was|seems|appears|performs|does|"
    r"provides\s+a)\s+(?:\w+\s+){0,3}?(?:better|superior|stronger|preferable|preferred|worse|"
    r"weaker|inferior|the\s+winner|the\s+better|more\s+\w+|less\s+\w+)"
    r"|(?:i(?<=\bi)t['’]?s|i(?<=\bi)t\s+is|t(?<=\bt)his\s+is|a(?<=\ba)|r(?<=\br)esult\s+is\s+a)"
    r"\s+tie\b|" + leading("equally") + r"\s+(?:good|bad|strong|weak|helpful|matched)"
    r"|" + leading("relatively") + r"\s+the\s+same\b"
    r"|" + leading("i") + r"\s+(?:prefer|choose|pick|select)\b",
    hints=(
        "assistant",
        "response",
        "output",
        "answer",
        "model",
        "candidate",
        "tie",
        "equally",
        "relatively",
        "prefer",
        "choose",
        "pick",
        "select",
    ),
)
_SCORE_WORDS = r"(?:score|rating|grade|rate|rated|give|giving|assign|award|deserves?|earns?)"


def _states_verdict(sentence: str, verdict: Verdict, low: str | None = None) -> bool:
    """Whether a sentence states ``verdict`` (winner, score or label) in words (``low``:
    the sentence's :func:`~judgeguard.parsing.caseless.aligned_lower`)."""
    if verdict.kind == "pairwise":
        return bool(_PAIR_STATEMENT.search(sentence, low))
    if verdict.kind == "score":
        v = re.escape(verdict.render())
        return bool(
            re.search(
                rf"\b{_SCORE_WORDS}\b[^.\n]{{0,60}}?(?<![\d.]){v}(?:\.0)?(?![\d])",
                sentence,
                re.IGNORECASE,
            )
            or re.search(rf"(?<![\d.]){v}(?:\.0)?\s*(?:/|out\s+of)\s*\d", sentence, re.IGNORECASE)
        )
    label = verdict.render()
    return bool(_CONCLUDING_WORD.search(sentence, low)) and bool(
        re.search(rf"(?<![\w]){re.escape(label)}(?![\w])", sentence, re.IGNORECASE)
        or _CRITERIA_WORDS.search(sentence, low)
    )


_CONCLUDING_WORD = Caseless(
    leading("therefore|thus|hence|so|overall|consequently|accordingly|ultimately")
    + r"\b|"
    + leading("in")
    + r"\s+(?:conclusion|summary)\b",
    hints=(
        "therefore",
        "thus",
        "hence",
        "so",
        "overall",
        "consequently",
        "accordingly",
        "ultimately",
        "conclusion",
        "summary",
    ),
)
_CRITERIA_WORDS = Caseless(
    r"(?:m(?<=\bm)eets?|d(?<=\bd)oes\s+not\s+meet|s(?<=\bs)atisf(?:y|ies)|f(?<=\bf)ails?|"
    r"p(?<=\bp)ass(?:es)?|c(?<=\bc)orrect|i(?<=\bi)ncorrect|r(?<=\br)elevant|"
    r"i(?<=\bi)rrelevant|g(?<=\bg)rounded|h(?<=\bh)allucinat\w*|f(?<=\bf)actual)\b",
    hints=(
        "meet",
        "satisf",
        "fail",
        "pass",
        "correct",
        "relevant",
        "grounded",
        "hallucinat",
        "factual",
    ),
)
_SIDE = re.compile(
    r"\b(?:assistant|response|output|answer|model|candidate)\s*\(?[ab12]\)?(?![\w])", re.IGNORECASE
)


def conclusion_spans(
    text: str,
    start: int,
    verdict: Verdict,
    standalone: bool,
    limit: int = 3,
    closing: bool = False,
) -> list[tuple[int, int]]:
    """Sentences just before ``start`` that conclude the verdict ("Therefore A is better.").

    Walks back over at most ``limit`` sentences, stopping at the first one that is not
    a conclusion; crosses one blank line only when the statement stands on its own line.
    ``closing`` says the statement is a bare token (``[[A]]``) that states nothing in
    words: then the sentence right before it counts as its conclusion when it names a
    side ("Assistant A handled both requests well.").
    """
    spans: list[tuple[int, int]] = []
    pos = start
    crossed_once = False
    for _ in range(limit):
        prev = _previous_sentence(text, pos)
        if prev is None:
            break
        s, e, crossed = prev
        if crossed:
            if not standalone or crossed_once:
                break
            crossed_once = True
        if e - s > _MAX_CONCLUSION:
            break  # a "sentence" this long is a wall of text, not a concluding remark
        sentence = text[s:e]
        low = aligned_lower(sentence)
        # the sentence right before a bare verdict token that names a side is its conclusion
        is_closing = (
            closing and not spans and verdict.kind == "pairwise" and bool(_SIDE.search(sentence))
        )
        if not is_closing and not _concludes(sentence, verdict, low):
            break
        spans.append((s, e))
        pos = s
    return spans


def _concludes(sentence: str, verdict: Verdict, low: str | None) -> bool:
    """Whether a sentence before a statement of ``verdict`` concludes it: it states the
    verdict, or opens with a concluding marker and mentions it (not for labels), or
    concludes a verdict of its kind (:func:`_concludes_any_verdict`)."""
    if _states_verdict(sentence, verdict, low):
        return True
    if verdict.kind == "pairwise":
        # _concludes_any_verdict is always False for a pairwise verdict: not called
        return bool(_MARKER.search(sentence)) and _mentions_verdict(sentence, verdict)
    return bool(
        verdict.kind != "label"
        and _MARKER.search(sentence)
        and _mentions_verdict(sentence, verdict)
    ) or _concludes_any_verdict(sentence, verdict, low)


# "the score should be: 0.9", "the label is fail", "rate it 8 out of 10": a verdict of
# the kind, whatever its value (a conclusion stating another value still gives one away)
_ANY_SCORE_STATEMENT = re.compile(
    rf"\b{_SCORE_WORDS}\b[^.\n]{{0,60}}?(?<![\d.])-?\d+(?:\.\d+)?(?![\d])"
    r"|(?<![\d.])\d+(?:\.\d+)?\s*(?:/|out\s+of)\s*\d",
    re.IGNORECASE,
)
_ANY_VERDICT_VALUE = re.compile(
    r"\b(?:score|rating|grade|label|verdict|result|decision)\s+(?:should\s+be|would\s+be|is|"
    r"of|=)\s*:?\s*[\"'*`]*(?:-?\d+(?:\.\d+)?|true|false|yes|no|pass|fail|correct|incorrect|"
    r"[A-Za-z][\w-]{0,30}[\"'*`]*\s*[.!]?\s*$)",
    re.IGNORECASE,
)


def _concludes_any_verdict(sentence: str, verdict: Verdict, low: str | None = None) -> bool:
    """A concluding sentence ("Thus, the score should be: 0.9.") stating a verdict of
    ``verdict``'s kind, whatever the value: it gives a verdict away even when it differs."""
    if not (_CONCLUDING_WORD.search(sentence, low) or _MARKER.search(sentence)):
        return False
    if verdict.kind == "score":
        return bool(_ANY_SCORE_STATEMENT.search(sentence) or _ANY_VERDICT_VALUE.search(sentence))
    if verdict.kind == "label":
        return bool(_ANY_VERDICT_VALUE.search(sentence))
    return False  # pairwise statements are matched whatever side they name already


def _mentions_verdict(sentence: str, verdict: Verdict) -> bool:
    if verdict.kind == "pairwise":
        return bool(
            re.search(
                r"\b(?:better|prefer\w*|winner|wins?|tie|superior|worse)\b", sentence, re.IGNORECASE
            )
        )
    return bool(re.search(rf"(?<![\d.]){re.escape(verdict.render())}(?![\d])", sentence))


_BLANKS = re.compile(r"\s*")
#: Longest line read as a verdict heading, longest sentence read as a conclusion.
_MAX_HEADING = 1000
_MAX_CONCLUSION = 4000


def statement_span(text: str, start: int, end: int) -> tuple[int, int, bool]:
    """The whole sentence around a final verdict token; whether it stands on its own line."""
    g = _geometry(text)
    line_start = g.line_start(start)
    line_end = g.line_end(end)
    if text.find("\n", start, end) == -1:
        # start and end on one line: its bounds are both lookups' (no more searches)
        s = g.sentence_start(start, line_start, line_end)
        e = g.sentence_end(end, line_start, line_end)
    else:
        s = g.sentence_start(start, line_start)
        e = g.sentence_end(end, line_end=line_end)
    # blank-only checks that read just the leading blanks, not the whole line
    standalone = (
        _BLANKS.match(text, line_start, s).end() == s  # type: ignore[union-attr]
        and _BLANKS.match(text, e, line_end).end() == line_end  # type: ignore[union-attr]
    )
    return s, e, standalone


def heading_span(text: str, start: int) -> tuple[int, int] | None:
    """A verdict heading ("### Final Verdict", "**Conclusion:**") on the line above."""
    end = start
    while end > 0 and text[end - 1].isspace():
        end -= 1
    if end == 0 or "\n" not in text[end:start]:
        return None
    line_start = _geometry(text).line_start(end)
    if end - line_start > _MAX_HEADING:
        return None
    line = text[line_start:end]
    # the shape first: far cheaper than the pattern, and most lines above are no heading
    if (
        line.lstrip().startswith(("#", "**", "__")) or line.rstrip().endswith(":")
    ) and _HEADING.match(line):
        return line_start, end
    return None
