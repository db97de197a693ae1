"""Redaction: cut the verdict, and the sentences that state it, out of a judge's reasoning."""

from __future__ import annotations

import re
from typing import Literal

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
        self._reasons: dict[int, _Reason] = {}

    def remove(self, start: int, end: int, reason: _Reason) -> None:
        """Remove ``source[start:end]`` (chars already removed keep their reason)."""
        for i in range(max(0, start), min(end, len(self.source))):
            self._reasons.setdefault(i, reason)

    def kept(self) -> list[int]:
        """Source offsets of the characters still in the text."""
        return [i for i in range(len(self.source)) if i not in self._reasons]

    def text(self) -> str:
        """The source with every removed span cut out."""
        if not self._reasons:
            return self.source
        return "".join(c for i, c in enumerate(self.source) if i not in self._reasons)

    def remove_current(self, start: int, end: int, reason: _Reason) -> None:
        """Remove ``text()[start:end]``, mapping it back to source offsets."""
        kept = self.kept()
        for i in kept[start:end]:
            self._reasons.setdefault(i, reason)

    def redactions(self) -> tuple[Redaction, ...]:
        """The removed runs, in source order, each with its reason."""
        out: list[Redaction] = []
        for i in sorted(self._reasons):
            reason = self._reasons[i]
            if out and out[-1].end == i and out[-1].reason == reason:
                last = out[-1]
                out[-1] = Redaction(
                    start=last.start,
                    end=i + 1,
                    text=self.source[last.start : i + 1],
                    reason=last.reason,
                )
            else:
                out.append(Redaction(start=i, end=i + 1, text=self.source[i], reason=reason))
        return tuple(out)

    def absorb_whitespace(self) -> None:
        """Widen each cut over the blanks it leaves: spaces before it, the line breaks
        before a cut that removes whole lines, and whitespace left at the very end."""
        src, removed = self.source, self._reasons
        for r in self.redactions():
            i = r.start
            while i > 0 and src[i - 1] in " \t" and (i - 1) not in removed:
                i -= 1
            whole_line = (i == 0 or src[i - 1] == "\n") and (
                r.end >= len(src) or src[r.end] in "\r\n"
            )
            if whole_line:
                while i > 0 and src[i - 1] in "\r\n" and (i - 1) not in removed:
                    i -= 1
            self.remove(i, r.start, r.reason)
        last_kept = max(
            (i for i in range(len(src)) if i not in removed and not src[i].isspace()), default=-1
        )
        if any(i > last_kept for i in removed):
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
    r"weaker|inferior|the\s+winner|the\s+better)|\b(?:it['’]?s|it\s+is|this\s+is|a|result\s+"
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
    return bool(_MARKER.search(sentence)) and bool(
        re.search(rf"(?<![\w]){re.escape(label)}(?![\w])", sentence, re.IGNORECASE)
        or re.search(
            r"\b(?:meets?|does\s+not\s+meet|satisf(?:y|ies)|fails?|pass(?:es)?|"
            r"correct|incorrect|relevant|irrelevant)\b",
            sentence,
            re.IGNORECASE,
        )
    )


def conclusion_spans(
    text: str, start: int, verdict: Verdict, standalone: bool, limit: int = 3
) -> list[tuple[int, int]]:
    """Sentences just before ``start`` that conclude the verdict ("Therefore A is better.").

    Walks back over at most ``limit`` sentences, stopping at the first one that is not
    a conclusion; crosses one blank line only when the statement stands on its own line.
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
        if not (
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
