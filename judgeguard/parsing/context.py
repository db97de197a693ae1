"""Where a verdict token stands: a rating of a rewrite, a hypothetical, an example, a negation.

Judges do not only state their verdict: they rate the improved answer they wrote themselves
("the revised response ... earning a rating of [[10]]"), say what a fix would earn ("could be
raised to [[8]]", "if it had tests I would give [[9]]"), quote the format they were asked for
("for example [[A>>B]]"), or rule a label out ("not [[10]]"). Such a token is not the verdict.
:func:`demotion` reads the clause around a token and says why it is not one (or ``None``).

Every scan here is bounded (a fixed window before and after the token) and every pattern is
free of nested unbounded quantifiers, so the cost per token is constant.
"""

from __future__ import annotations

import re

__all__ = ["CONTEXT_BEFORE", "demotion"]

#: How far back (characters) the clause of a token is read.
CONTEXT_BEFORE = 300
#: How far forward (characters) the rest of a token's sentence is read.
CONTEXT_AFTER = 120

_I = re.IGNORECASE

# where a clause starts: a line break, a sentence end, a semicolon, a contrasting "but"
_CLAUSE_BREAK = re.compile(
    r"\n|(?<!\be\.g)(?<!\bi\.e)[.!?](?=\s)|;|,\s*but\b|\sbut\s|\swhereas\s|\swhile\s", _I
)
_SENTENCE_END = re.compile(r"\n|[.!?](?=\s|$)")

# the judge's own rewrite, or an ideal answer it imagines
_REWRITE = re.compile(
    r"\b(?:revised|improved|rewritten|corrected|updated|enhanced|refined|polished|ideal|"
    r"perfect|hypothetical)\s+(?:version|response|answer|draft|text|output|reply|solution|"
    r"explanation|code|poem|essay|summary|story|email|function)\b"
    r"|\b(?:my|this|that|the|a|an)\s+(?:own\s+)?(?:rewrite|revision)\b"
    r"|\bhere\s+is\s+how\s+i\s+would\b"
    r"|\bmy\s+(?:own\s+)?(?:edits?|changes|version|revisions?|rewrites?|corrections)\b",
    _I,
)
# an evaluated answer's own revision is not the judge's rewrite: "the assistant's revised answer"
_POSSESSIVE = re.compile(r"(?:'s|’s|\bits|\btheir)\s+$", _I)

# a modal rating: "would earn", "could be raised to", "would have been";
# "might" is always a possibility ("a shallow grader might call this [[C]]"), never a verdict
_MODAL = re.compile(
    r"\b(?:would|could|might)\s+(?:then\s+|likely\s+|probably\s+|easily\s+|also\s+|"
    r"even\s+|now\s+|certainly\s+|instead\s+)?(?:have\b|earn|receive|get\b|deserve|merit|"
    r"warrant|achieve|reach|rise|climb|jump|increase|improve|go\s+up|move\s+up|"
    r"make\s+(?:this|it|that)\b|call\s+(?:this|it|that)\b|"
    r"be\s+(?:rated|scored|graded|marked|labell?ed|called|considered|raised|worth|given|"
    r"increased|improved|bumped|upgraded|elevated|\[))"
    r"|(?<!\bI )(?<!\bwe )\b(?:would|could)\s+score\b|\bcould\s+be\s+made\b"
    r"|\bto\s+(?:get|earn|reach|achieve|deserve|merit)\b"
    r"|\bmight\b|\bhypothetical(?:ly)?\b|\bcould\s+argue\b"
    # a rule about answers in general: "an answer which ... should be marked GRADE: P"
    r"|\b(?:an?|any)\s+(?:[a-z]+\s+)?(?:answer|response|submission|output|solution)\s+"
    r"(?:which|that|with|where)\b"
    r"|\b(?:one|some(?:one|body)?|others?)\s+(?:could|might|would|may)\b",
    _I,
)
# a condition, counted only with a modal or "then" in the same clause ("if we compare both,
# B is better" is no hypothetical); "if I had to choose" is the judge deciding, not imagining
_CONDITION = re.compile(
    r"(?<!even )(?<!as )\bif\b|\bunless\b|\bonce\b|\bprovided\s+that\b|\bassuming\b|\bwhether\b|"
    r"\bsuppos(?:e|ing)\b|(?:^|[(,:])\s*(?:had|were)\s+(?:the|it|this|they|both|a|an|"
    r"assistant|response|answer|model)\b",
    _I,
)
# "it would be [[A=B]]" is hypothetical; "my verdict would be [[A>B]]" is a hedged verdict
_WOULD_BE = re.compile(r"\b(?:would|could)\s+be\s*$", _I)
_MY_VERDICT = re.compile(
    r"\bmy\s+(?:final\s+|overall\s+)?(?:verdict|rating|score|decision|judge?ment|grade|choice)\b",
    _I,
)
_IF_FORCED = re.compile(r"\bif\s+(?:i|we)\s+(?:had|have|were)\s+to\b|\bif\s+forced\b", _I)
_MODAL_OR_THEN = re.compile(r"\b(?:would|could|might|should|had|were|then)\b", _I)

# an example or a format description right before the token
_EXAMPLE = re.compile(
    r"\bfor\s+(?:example|instance)\b|\be\.g\.|\bsuch\s+as\b"
    r"|\bexample(?:\s+(?:output|rating|verdict|label|score|answer))?\s*:"
    r"|\b(?:format|template)(?:\s+(?:is|of|like|as))?\s*:?\s*[\"'`]?\s*$",
    _I,
)
_EXAMPLE_WINDOW = 48

# a label ruled out: "not [[10]]", "rather than [[9]]", "I would not pick [[A]]"
_NEGATION = re.compile(
    r"(?:\bnot|n't|\bnever|\brather\s+than|\binstead\s+of)\s+(?:[a-z]+\s+){0,2}$", _I
)
_NEGATION_WINDOW = 40

# right after the token: "[[9]] if it handled …", "[[10]] once the bug is fixed"
_TAIL = re.compile(r"[\s,;:)\-–—]*(?:if|unless|once|provided|assuming|would|could|might)\b", _I)


def _clause_before(text: str, start: int) -> str:
    """The clause a token sits in, up to the token (bounded by :data:`CONTEXT_BEFORE`)."""
    lo = max(0, start - CONTEXT_BEFORE)
    window = text[lo:start]
    cut = 0
    for m in _CLAUSE_BREAK.finditer(window):
        cut = m.end()
    return window[cut:]


def _sentence_after(text: str, end: int) -> str:
    """The rest of a token's sentence (bounded by :data:`CONTEXT_AFTER`)."""
    window = text[end : end + CONTEXT_AFTER]
    m = _SENTENCE_END.search(window)
    return window[: m.start()] if m else window


def _rewrite_in(clause: str) -> bool:
    for m in _REWRITE.finditer(clause):
        if not _POSSESSIVE.search(clause[max(0, m.start() - 12) : m.start()]):
            return True
    return False


def demotion(text: str, start: int, end: int) -> str | None:
    """Why the token at ``text[start:end]`` is not a verdict, or ``None`` if it may be one.

    Reasons: ``"rewrite"`` (a rating of the judge's own or an ideal rewrite),
    ``"hypothetical"`` (a modal or conditional rating), ``"example"`` (a format example),
    ``"negated"`` (a label ruled out).
    """
    clause = _clause_before(text, start)
    if _rewrite_in(clause):
        return "rewrite"
    if _MODAL.search(clause):
        return "hypothetical"
    conditional = _CONDITION.search(clause) is not None and not _IF_FORCED.search(clause)
    if conditional and _MODAL_OR_THEN.search(clause):
        return "hypothetical"
    if _WOULD_BE.search(clause) and not _MY_VERDICT.search(clause):
        return "hypothetical"
    if _TAIL.match(_sentence_after(text, end)):
        return "hypothetical"
    if _EXAMPLE.search(clause[-_EXAMPLE_WINDOW:]):
        return "example"
    if _NEGATION.search(clause[-_NEGATION_WINDOW:]):
        return "negated"
    return None
