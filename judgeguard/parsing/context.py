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

from judgeguard.parsing.caseless import Caseless, aligned_lower, leading

__all__ = ["CONTEXT_BEFORE", "demotion"]

#: How far back (characters) the clause of a token is read.
CONTEXT_BEFORE = 300
#: How far forward (characters) the rest of a token's sentence is read.
CONTEXT_AFTER = 120

_I = re.IGNORECASE

_SENTENCE_END = re.compile(r"\n|[.!?](?=\s|$)")
# "had the …", "were it …": an inverted condition (after the clause's start or "(,:")
_HAD_WERE = r"\s*(?:had|were)\s+(?:the|it|this|they|both|a|an|assistant|response|answer|model)\b"

# Patterns over the clause are Caseless (see judgeguard.parsing.caseless): written in
# lower case, each ``\b``-led word alternative written with ``leading`` so the engine skips
# to its first letters. Each matches where its plain ``\b…`` form with IGNORECASE does.

# the judge's own rewrite, or an ideal answer it imagines
_REWRITE = Caseless(
    leading(
        "revised|improved|rewritten|corrected|updated|enhanced|refined|polished|ideal|"
        "perfect|hypothetical"
    )
    + r"\s+(?:version|response|answer|draft|text|output|reply|solution|"
    r"explanation|code|poem|essay|summary|story|email|function)\b"
    r"|" + leading("my|this|that|the|a|an") + r"\s+(?:own\s+)?(?:rewrite|revision)\b"
    r"|" + leading("here") + r"\s+is\s+how\s+i\s+would\b"
    r"|" + leading("my") + r"\s+(?:own\s+)?(?:edits?|changes|version|revisions?|rewrites?|"
    r"corrections)\b"
)
# an evaluated answer's own revision is not the judge's rewrite: "the assistant's revised answer"
_POSSESSIVE = re.compile(r"(?:'s|’s|\bits|\btheir)\s+$", _I)

# a modal rating: "would earn", "could be raised to", "would have been";
# "might" is always a possibility ("a shallow grader might call this [[C]]"), never a verdict
_MODAL = Caseless(
    leading("would|could|might") + r"\s+(?:then\s+|likely\s+|probably\s+|easily\s+|also\s+|"
    r"even\s+|now\s+|certainly\s+|instead\s+)?(?:have\b|earn|receive|get\b|deserve|merit|"
    r"warrant|achieve|reach|rise|climb|jump|increase|improve|go\s+up|move\s+up|"
    r"make\s+(?:this|it|that)\b|call\s+(?:this|it|that)\b|"
    r"be\s+(?:rated|scored|graded|marked|labell?ed|called|considered|raised|worth|given|"
    r"increased|improved|bumped|upgraded|elevated|\[))"
    # not "I would score" / "we could score" (the judge scoring)
    r"|" + leading("would|could") + r"(?<!\bi would)(?<!\bi could)(?<!\bwe would)"
    r"(?<!\bwe could)\s+score\b"
    r"|" + leading("could") + r"\s+be\s+made\b"
    r"|" + leading("to") + r"\s+(?:get|earn|reach|achieve|deserve|merit)\b"
    r"|" + leading("might") + r"\b|" + leading("hypothetical") + r"(?:ly)?\b"
    r"|" + leading("could") + r"\s+argue\b"
    r"|" + leading("one|someone|somebody|some|others|other") + r"\s+(?:could|might|would|may)\b"
)
# a rule about answers in general: "an answer which ... should be marked GRADE: P"
_GENERAL_RULE = Caseless(
    leading("an|a|any") + r"\s+(?:[a-z]+\s+)?(?:answer|response|submission|output|solution)\s+"
    r"(?:which|that|with|where)\b"
)
# a condition, counted only with a modal or "then" in the same clause ("if we compare both,
# B is better" is no hypothetical); "if I had to choose" is the judge deciding, not imagining
_CONDITION = Caseless(
    leading("if") + r"\b(?<!even if)(?<!as if)"
    r"|" + leading("unless|once|assuming|whether") + r"\b"
    r"|" + leading("provided") + r"\s+that\b"
    r"|" + leading("suppos") + r"(?:e|ing)\b"
    r"|[(,:]" + _HAD_WERE
)
# the same "had the …" / "were it …" at the clause's start
_CONDITION_AT_START = Caseless(_HAD_WERE)
# "it would be [[A=B]]" is hypothetical; "my verdict would be [[A>B]]" is a hedged verdict
_WOULD_BE = Caseless(leading("would|could") + r"\s+be\s*$")
_MY_VERDICT = Caseless(
    leading("my")
    + r"\s+(?:final\s+|overall\s+)?(?:verdict|rating|score|decision|judge?ment|grade|choice)\b"
)
_IF_FORCED = Caseless(
    leading("if") + r"\s+(?:i|we)\s+(?:had|have|were)\s+to\b|" + leading("if") + r"\s+forced\b"
)
_MODAL_OR_THEN = Caseless(
    leading("would|could|might|should|had|were|then") + r"\b",
    hints=("would", "could", "might", "should", "had", "were", "then"),
)

# an example or a format description right before the token
_EXAMPLE = Caseless(
    leading("for") + r"\s+(?:example|instance)\b|e(?<=\be)\.g\.|" + leading("such") + r"\s+as\b"
    r"|" + leading("example") + r"(?:\s+(?:output|rating|verdict|label|score|answer))?\s*:"
    r"|" + leading("format|template") + r"(?:\s+(?:is|of|like|as))?\s*:?\s*[\"'`]?\s*$"
)
_EXAMPLE_WINDOW = 48

# a label ruled out: "not [[10]]", "rather than [[9]]", "I would not pick [[A]]"
_NEGATION = Caseless(
    r"(?:n(?<=\bn)ot|n't|n(?<=\bn)ever|r(?<=\br)ather\s+than|i(?<=\bi)nstead\s+of)"
    r"\s+(?:[a-z]+\s+){0,2}$"
)
_NEGATION_WINDOW = 40

# right after the token: "[[9]] if it handled …", "[[10]] once the bug is fixed"
_TAIL = re.compile(r"[\s,;:)\-–—]*(?:if|unless|once|provided|assuming|would|could|might)\b", _I)


# Literal hints, one of which must be in the (lower-cased) clause for a pattern to be tried:
# most tokens sit in clauses with none of them, and ``in`` is far cheaper than a search.
_REWRITE_HINTS = (
    "revis", "improv", "rewrit", "correct", "updat", "enhanc", "refin", "polish", "ideal",
    "perfect", "hypothet", "here is how", "edit", "change", "version",
)  # fmt: skip
_MODAL_HINTS = (
    "would", "could", "might", "hypothet", " may", "to get", "to earn", "to reach",
    "to achieve", "to deserve", "to merit",
)  # fmt: skip
_RULE_NOUNS = ("answer", "response", "submission", "output", "solution")
_RULE_LINKS = ("which", "that", "with", "where")
_CONDITION_HINTS = (
    "if", "unless", "once", "provided", "assum", "whether", "suppos", "had", "were",
)  # fmt: skip
_EXAMPLE_HINTS = ("example", "instance", "e.g.", "such as", "format", "template")
_NEGATION_HINTS = ("not", "n't", "never", "rather", "instead")
# the shortest hint of each list: a clause shorter than that holds none of them
_REWRITE_MIN = min(map(len, _REWRITE_HINTS))
_MODAL_MIN = min(map(len, _MODAL_HINTS))
_RULE_MIN = min(map(len, _RULE_NOUNS))
_CONDITION_MIN = min(map(len, _CONDITION_HINTS))
_EXAMPLE_MIN = min(map(len, _EXAMPLE_HINTS))
_NEGATION_MIN = min(map(len, _NEGATION_HINTS))
# a sentence end inside these is no clause break
_ABBREVIATIONS = ("e.g", "i.e")


def _clause_start(low: str) -> int:
    """Where the token's clause starts in ``low`` (a lower-cased window ending at the token).

    Breaks: a line break, a semicolon, a sentence end (``.!?`` then a space, not in
    "e.g."), a contrasting "but", "whereas" or "while". A handful of reverse ``find``
    calls over the bounded window, no regex.
    """
    return _clause_start_after(low, max(low.rfind("\n"), low.rfind(";")) + 1)


def _clause_start_after(low: str, cut: int) -> int:
    """:func:`_clause_start` given ``cut``: where the last line break or semicolon
    of ``low`` ends (0 when it has none)."""
    for word in (" but ", " whereas ", " while "):
        k = low.rfind(word, cut)
        if k != -1:
            cut = max(cut, k + len(word))
    if "." not in low and "!" not in low and "?" not in low:
        return cut  # no sentence mark can be found (three memchr calls, not four rfinds)
    for mark in (". ", "! ", "? ", ".\t"):
        k = low.rfind(mark, cut)
        while k != -1 and low[max(0, k - 3) : k] in _ABBREVIATIONS:
            k = low.rfind(mark, cut, k)
        if k != -1:
            cut = max(cut, k + 1)
    return cut


def _sentence_after_end(text: str, end: int) -> int:
    """Where the rest of a token's sentence ends (bounded by :data:`CONTEXT_AFTER`): a
    search with ``pos``/``endpos`` of the text, which reads like one of the window."""
    stop = min(end + CONTEXT_AFTER, len(text))
    m = _SENTENCE_END.search(text, end, stop)
    return m.start() if m else stop


def _rewrite_in(clause: str, low: str | None) -> bool:
    for start in _REWRITE.starts(clause, low):
        if not _POSSESSIVE.search(clause[max(0, start - 12) : start]):
            return True
    return False


def demotion(text: str, start: int, end: int) -> str | None:
    """Why the token at ``text[start:end]`` is not a verdict, or ``None`` if it may be one.

    Reasons: ``"rewrite"`` (a rating of the judge's own or an ideal rewrite),
    ``"hypothetical"`` (a modal or conditional rating), ``"example"`` (a format example),
    ``"negated"`` (a label ruled out).
    """
    lo = max(0, start - CONTEXT_BEFORE)  # the window: text[lo:start]
    if text.find("\u0130", lo, start) == -1:  # "İ", the one character lower() turns into two
        # lower() keeps offsets: a clause starts after the window's last line break or
        # semicolon (no case), so only what follows them is lower-cased (and read)
        head = max(text.rfind("\n", lo, start), text.rfind(";", lo, start), lo - 1) + 1
        tail = text[head:start]
        aligned = aligned_lower(tail)
        low = tail.lower() if aligned is None else aligned
        cut = _clause_start_after(low, 0)  # low holds no line break, no semicolon
        clause, low = tail[cut:], low[cut:]
    else:
        window = text[lo:start]
        aligned = aligned_lower(window)
        low = window.lower() if aligned is None else aligned
        cut = _clause_start(low)
        clause, low = window[cut:], low[cut:]
    # the lower-cased clause for the Caseless patterns, when exact (see caseless)
    fast = None if aligned is None else low
    has = low.__contains__  # the hint tests below: C-level loops over one bound method
    n = len(low)  # (a short clause, "My " before "final verdict", skips most hint tests)
    if n >= _REWRITE_MIN and any(map(has, _REWRITE_HINTS)) and _rewrite_in(clause, fast):
        return "rewrite"
    modal = n >= _MODAL_MIN and any(map(has, _MODAL_HINTS))
    if modal and _MODAL.search(clause, fast):
        return "hypothetical"
    if (
        n >= _RULE_MIN
        and any(map(has, _RULE_NOUNS))
        and any(map(has, _RULE_LINKS))
        and _GENERAL_RULE.search(clause, fast)
    ):
        return "hypothetical"
    if (
        n >= _CONDITION_MIN
        and any(map(has, _CONDITION_HINTS))
        and _MODAL_OR_THEN.search(clause, fast)  # the rarest of the three first
        and (_CONDITION.search(clause, fast) or _CONDITION_AT_START.match(clause, fast))
        and not _IF_FORCED.search(clause, fast)
    ):
        return "hypothetical"
    if modal and _WOULD_BE.search(clause, fast) and not _MY_VERDICT.search(clause, fast):
        return "hypothetical"
    # _TAIL read up to the sentence's end: a match up to CONTEXT_AFTER ending there at
    # the latest (exact: the match is a run of non-letters then one word, which neither a
    # shorter endpos nor one at a line break or .!? that ends the sentence can change),
    # so the sentence's end is searched for only when there is a match
    tail_match = _TAIL.match(text, end, min(end + CONTEXT_AFTER, len(text)))
    if tail_match and tail_match.end() <= _sentence_after_end(text, end):
        return "hypothetical"
    tail_low = low[-_EXAMPLE_WINDOW:]
    if (
        n >= _EXAMPLE_MIN
        and any(map(tail_low.__contains__, _EXAMPLE_HINTS))
        and _EXAMPLE.search(clause[-_EXAMPLE_WINDOW:], None if fast is None else tail_low)
    ):
        return "example"
    tail_low = low[-_NEGATION_WINDOW:]
    if (
        n >= _NEGATION_MIN
        and any(map(tail_low.__contains__, _NEGATION_HINTS))
        and _NEGATION.search(clause[-_NEGATION_WINDOW:], None if fast is None else tail_low)
    ):
        return "negated"
    return None
