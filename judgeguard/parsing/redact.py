"""Redaction: cut the verdict, and the sentences that state it, out of a judge's reasoning."""

from __future__ import annotations

import bisect
import re
from typing import Any, Literal

from judgeguard.schema import Redaction
from judgeguard.verdicts import Verdict

__all__ = ["Redactor", "conclusion_spans", "statement_span"]

_Reason = Literal["verdict", "verdict_statement", "verdict_heading", "quoted_verdict"]


class Redactor:
    """Removes spans from a source text and remembers what went, in source offsets.

    Spans may be given in source offsets (:meth:`remove`) or in offsets of the current,
    already-redacted text (:meth:`remove_current`), so that a rescan of the redacted
    text can remove what earlier cuts made visible.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        # removed runs, sorted and disjoint: (start, end, reason)
        self._runs: list[tuple[int, int, _Reason]] = []

    def _is_removed(self, i: int) -> bool:
        k = bisect.bisect_right(self._runs, (i, len(self.source) + 1)) - 1
        return k >= 0 and self._runs[k][0] <= i < self._runs[k][1]

    def remove(self, start: int, end: int, reason: _Reason) -> None:
        """Remove ``source[start:end]`` (chars already removed keep their reason)."""
        start, end = max(0, start), min(end, len(self.source))
        if start >= end:
            return
        gaps: list[tuple[int, int, _Reason]] = []
        pos = start
        for s, e, _ in self._runs:
            if e <= pos:
                continue
            if s >= end:
                break
            if s > pos:
                gaps.append((pos, s, reason))
            pos = max(pos, e)
        if pos < end:
            gaps.append((pos, end, reason))
        if gaps:
            self._runs = sorted(self._runs + gaps)

    def _kept_segments(self) -> list[tuple[int, int]]:
        segments, pos = [], 0
        for s, e, _ in self._runs:
            if s > pos:
                segments.append((pos, s))
            pos = max(pos, e)
        if pos < len(self.source):
            segments.append((pos, len(self.source)))
        return segments

    def text(self) -> str:
        """The source with every removed span cut out."""
        if not self._runs:
            return self.source
        return "".join(self.source[s:e] for s, e in self._kept_segments())

    def remove_current(self, start: int, end: int, reason: _Reason) -> None:
        """Remove ``text()[start:end]``, mapping it back to source offsets."""
        offset = 0
        for s, e in self._kept_segments():
            length = e - s
            lo, hi = max(start - offset, 0), min(end - offset, length)
            if lo < hi:
                self.remove(s + lo, s + hi, reason)
            offset += length
            if offset >= end:
                break

    def redactions(self) -> tuple[Redaction, ...]:
        """The removed runs, in source order, adjacent runs of one reason merged."""
        merged: list[list[Any]] = []
        for s, e, reason in self._runs:
            if merged and merged[-1][1] == s and merged[-1][2] == reason:
                merged[-1][1] = e
            else:
                merged.append([s, e, reason])
        return tuple(
            Redaction(start=s, end=e, text=self.source[s:e], reason=r) for s, e, r in merged
        )

    def absorb_whitespace(self) -> None:
        """Widen each cut over the blanks it leaves: spaces before it, the line breaks
        before a cut that removes whole lines, and whitespace left at the very end."""
        src = self.source
        for r in self.redactions():
            i = r.start
            while i > 0 and src[i - 1] in " \t" and not self._is_removed(i - 1):
                i -= 1
            whole_line = (i == 0 or src[i - 1] == "\n") and (
                r.end >= len(src) or src[r.end] in "\r\n"
            )
            if whole_line:
                while i > 0 and src[i - 1] in "\r\n" and not self._is_removed(i - 1):
                    i -= 1
            self.remove(i, r.start, r.reason)
        segments = self._kept_segments()
        last_kept = -1
        for s, e in reversed(segments):
            stripped = src[s:e].rstrip()
            if stripped:
                last_kept = s + len(stripped) - 1
                break
        if self._runs and self._runs[-1][1] > last_kept + 1:
            self.remove(last_kept + 1, len(src), "verdict_statement")


# -- sentence geometry ------------------------------------------------------------------

_BOUNDARY = re.compile(r"[.!?。！？][\"')\]*_]*\s+|[:;]\s*\n|\n")


def _sentence_start(text: str, pos: int) -> int:
    """Start of the sentence containing ``pos`` (line starts are sentence starts)."""
    line_start = text.rfind("\n", 0, pos) + 1
    start = line_start
    for m in _BOUNDARY.finditer(text, line_start, pos):
        start = m.end()
    return start


def _sentence_end(text: str, pos: int) -> int:
    """End of the sentence containing ``pos`` (terminator included, line end at most)."""
    line_end = text.find("\n", pos)
    line_end = len(text) if line_end == -1 else line_end
    m = re.compile(r"[.!?。！？][\"')\]*_]*(?=\s|$)").search(text, pos, line_end)
    return m.end() if m else line_end


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
_PAIR_STATEMENT = re.compile(
    r"\b(?:assistant|response|output|answer|model|candidate)\s*\(?[ab12]\)?"
    r"(?:['’]s\s+(?:answer|response|output))?\s+(?:is|was|seems|appears|performs|does|"
    r"provides\s+a)\s+(?:\w+\s+){0,3}?(?:better|superior|stronger|preferable|preferred|worse|"
    r"weaker|inferior|the\s+winner|the\s+better|more\s+\w+|less\s+\w+)|\b(?:it['’]?s|it\s+is|this\s+is|a|result\s+"
    r"is\s+a)\s+tie\b|\bequally\s+(?:good|bad|strong|weak|helpful|matched)|\brelatively\s+the"
    r"\s+same\b|\bI\s+(?:prefer|choose|pick|select)\b",
    re.IGNORECASE,
)
_SCORE_WORDS = r"(?:score|rating|grade|rate|rated|give|giving|assign|award|deserves?|earns?)"


def _states_verdict(sentence: str, verdict: Verdict) -> bool:
    """Whether a sentence states ``verdict`` (winner, score or label) in words."""
    if verdict.kind == "pairwise":
        return bool(_PAIR_STATEMENT.search(sentence))
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
    return bool(_CONCLUDING_WORD.search(sentence)) and bool(
        re.search(rf"(?<![\w]){re.escape(label)}(?![\w])", sentence, re.IGNORECASE)
        or _CRITERIA_WORDS.search(sentence)
    )


_CONCLUDING_WORD = re.compile(
    r"\b(?:therefore|thus|hence|so|overall|consequently|accordingly|in\s+conclusion|"
    r"in\s+summary|ultimately)\b",
    re.IGNORECASE,
)
_CRITERIA_WORDS = re.compile(
    r"\b(?:meets?|does\s+not\s+meet|satisf(?:y|ies)|fails?|pass(?:es)?|correct|incorrect|"
    r"relevant|irrelevant|grounded|hallucinat\w*|factual)\b",
    re.IGNORECASE,
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
        sentence = text[s:e]
        # the sentence right before a bare verdict token that names a side is its conclusion
        is_closing = (
            closing and not spans and verdict.kind == "pairwise" and bool(_SIDE.search(sentence))
        )
        if not is_closing and not (
            _states_verdict(sentence, verdict)
            or (
                _MARKER.search(sentence)
                and verdict.kind != "label"
                and _mentions_verdict(sentence, verdict)
            )
        ):
            break
        spans.append((s, e))
        pos = s
    return spans


def _mentions_verdict(sentence: str, verdict: Verdict) -> bool:
    if verdict.kind == "pairwise":
        return bool(
            re.search(
                r"\b(?:better|prefer\w*|winner|wins?|tie|superior|worse)\b", sentence, re.IGNORECASE
            )
        )
    return bool(re.search(rf"(?<![\d.]){re.escape(verdict.render())}(?![\d])", sentence))


def statement_span(text: str, start: int, end: int) -> tuple[int, int, bool]:
    """The whole sentence around a final verdict token; whether it stands on its own line."""
    s = _sentence_start(text, start)
    e = _sentence_end(text, end)
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end == -1 else line_end
    standalone = not text[line_start:s].strip() and not text[e:line_end].strip()
    return s, e, standalone


def heading_span(text: str, start: int) -> tuple[int, int] | None:
    """A verdict heading ("### Final Verdict", "**Conclusion:**") on the line above."""
    end = start
    while end > 0 and text[end - 1].isspace():
        end -= 1
    if end == 0 or "\n" not in text[end:start]:
        return None
    line_start = text.rfind("\n", 0, end) + 1
    line = text[line_start:end]
    if _HEADING.match(line) and (
        line.lstrip().startswith(("#", "**", "__")) or line.rstrip().endswith(":")
    ):
        return line_start, end
    return None
