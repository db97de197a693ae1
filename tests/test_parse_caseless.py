"""The parser's Caseless patterns find what the plain IGNORECASE patterns they replace find.

judgeguard.parsing.caseless matches the context patterns case-sensitively in the lower-cased
text where that is exact, with ``\\b``-led words rewritten to open with their first letter
(speed: the engine skips to those letters). The reference patterns below are the ones the
parser used before, verbatim; each rewritten pattern must agree with its reference, through
both of its paths (lower-cased text and IGNORECASE), on random clauses.
"""

from __future__ import annotations

import random
import re

import pytest

from judgeguard.parsing import context, redact, textformats
from judgeguard.parsing.caseless import Caseless, aligned_lower, leading

_I = re.IGNORECASE

# -- the reference patterns (judgeguard/parsing/context.py before the rewrite) ------------
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
    r"|\b(?:one|some(?:one|body)?|others?)\s+(?:could|might|would|may)\b",
    _I,
)
# a rule about answers in general: "an answer which ... should be marked GRADE: P"
_GENERAL_RULE = re.compile(
    r"\b(?:an?|any)\s+(?:[a-z]+\s+)?(?:answer|response|submission|output|solution)\s+"
    r"(?:which|that|with|where)\b",
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


# judgeguard/parsing/redact.py before the rewrite
_PAIR_STATEMENT = re.compile(
    r"\b(?:assistant|response|output|answer|model|candidate)\s*\(?[ab12]\)?"
    r"(?:['’]s\s+(?:answer|response|output))?\s+(?:is|was|seems|appears|performs|does|"
    r"provides\s+a)\s+(?:\w+\s+){0,3}?(?:better|superior|stronger|preferable|preferred|worse|"
    r"weaker|inferior|the\s+winner|the\s+better|more\s+\w+|less\s+\w+)|\b(?:it['’]?s|it\s+is|"
    r"this\s+is|a|result\s+is\s+a)\s+tie\b|\bequally\s+(?:good|bad|strong|weak|helpful|matched)"
    r"|\brelatively\s+the\s+same\b|\bI\s+(?:prefer|choose|pick|select)\b",
    re.IGNORECASE,
)
_CONCLUDING_WORD = re.compile(
    r"\b(?:therefore|thus|hence|so|overall|consequently|accordingly|in\s+conclusion|"
    r"in\s+summary|ultimately)\b",
    re.IGNORECASE,
)
# judgeguard/parsing/textformats.py keeps its plain pattern (its lookup path searches with
# it): the Caseless rewrite is checked against that one, not a copy
_FINAL_PHRASE = textformats._FINAL_PHRASE
_CRITERIA_WORDS = re.compile(
    r"\b(?:meets?|does\s+not\s+meet|satisf(?:y|ies)|fails?|pass(?:es)?|correct|incorrect|"
    r"relevant|irrelevant|grounded|hallucinat\w*|factual)\b",
    re.IGNORECASE,
)


# (pattern, reference, how it is used: "starts" = every match start, "any" = whether one)
def _conditions(text: str, low: str | None) -> bool:
    return bool(
        context._CONDITION.search(text, low) or context._CONDITION_AT_START.match(text, low)
    )


_PAIRS = [
    ("_REWRITE", _REWRITE, "starts"),
    ("_MODAL", _MODAL, "any"),
    ("_GENERAL_RULE", _GENERAL_RULE, "any"),
    ("_CONDITION", _CONDITION, "condition"),
    ("_WOULD_BE", _WOULD_BE, "any"),
    ("_MY_VERDICT", _MY_VERDICT, "any"),
    ("_IF_FORCED", _IF_FORCED, "any"),
    ("_MODAL_OR_THEN", _MODAL_OR_THEN, "any"),
    ("_EXAMPLE", _EXAMPLE, "any"),
    ("_NEGATION", _NEGATION, "any"),
    ("redact._PAIR_STATEMENT", _PAIR_STATEMENT, "any"),
    ("redact._CONCLUDING_WORD", _CONCLUDING_WORD, "any"),
    ("redact._CRITERIA_WORDS", _CRITERIA_WORDS, "any"),
    ("textformats._FINAL_PHRASE_FAST", _FINAL_PHRASE, "any"),
]

_WORDS = [
    'would', 'could', 'might', 'should', 'had', 'were', 'then', 'have', 'earn', 'receive',
    'get', 'deserve', 'merit', 'be', 'rated', 'scored', 'raised', 'worth', 'given', '[',
    'made', 'score', 'argue', 'to', 'reach', 'hypothetical', 'hypothetically', 'one',
    'someone', 'somebody', 'some', 'others', 'other', 'may', 'if', 'even', 'as', 'unless',
    'once', 'provided', 'that', 'assuming', 'whether', 'suppose', 'supposing', 'the', 'it',
    'this', 'they', 'both', 'a', 'an', 'assistant', 'response', 'answer', 'model', 'revised',
    'improved', 'ideal', 'perfect', 'version', 'draft', 'code', 'my', 'own', 'rewrite',
    'revision', 'here', 'is', 'how', 'i', 'we', 'edits', 'changes', 'corrections', 'which',
    'with', 'where', 'any', 'submission', 'output', 'solution', 'for', 'example', 'instance',
    'e.g.', 'such', 'format', 'template', 'like', 'of', ':', 'not', "n't", 'never', 'rather',
    'than', 'instead', 'final', 'verdict', 'rating', 'choice', 'forced', 'WOULD', 'Could',
    'MIGHT', 'If', 'IF', 'Not', 'I', 'We', 'My', 'İf', 'ıf', 'ſuch', 'K', 'Kould', 'é', '—',
    '’s', "'s", 'its', 'their', '(', ',', '.', ';',
]  # fmt: skip
_PHRASES = [
    "would be", "Could be", "my final verdict", "My rating", "if I had to", "if we were to",
    "If forced", "an answer which", "any response that", "a short output with",
    "for example:", "e.g.", "such as", "example output:", "format is:", "not", "rather than",
    "instead of", "I would score", "we could score", "could score", "even if", "as if",
    "had the", "were it", "(had both", "provided that", "my own rewrite", "the revision",
    "here is how I would", "my edits", "the assistant's revised answer", "one could",
    "Assistant A is better", "response (b) was much more detailed", "Model 2's answer is the",
    "output 1 performs", "it's a tie", "It’s", "result is a tie", "equally good",
    "relatively the same", "I prefer", "i choose", "therefore", "Thus", "in conclusion",
    "in summary", "ultimately", "meets", "does not meet", "satisfies", "fails", "passes",
    "hallucinated", "factual", "incorrect", "so", "also", "iso", "seems", "better", "worse",
    "final verdict", "Final Decision", "my overall rating", "verdict is", "Verdict:",
    "In conclusion", "overall score", "finally", "my judgement", "semifinal verdict",
]  # fmt: skip


def _clause(rng: random.Random) -> str:
    seps = [" ", " ", " ", "  ", "\t", "", ", ", "(", ": "]
    pick = [_WORDS, _WORDS, _PHRASES]
    return "".join(
        rng.choice(rng.choice(pick)) + rng.choice(seps) for _ in range(rng.randint(1, 14))
    )


def _outcome(pattern: Caseless, use: str, text: str, low: str | None) -> object:
    if use == "starts":
        return pattern.starts(text, low)
    if use == "condition":
        return _conditions(text, low)
    return pattern.search(text, low) is not None


def _reference(ref: re.Pattern[str], use: str, text: str) -> object:
    if use == "starts":
        return [m.start() for m in ref.finditer(text)]
    return ref.search(text) is not None


@pytest.mark.parametrize(("name", "ref", "use"), _PAIRS, ids=[p[0] for p in _PAIRS])
def test_rewritten_pattern_finds_what_the_reference_finds(name, ref, use):
    module, _, attr = name.rpartition(".")
    pattern = getattr({"redact": redact, "textformats": textformats}.get(module, context), attr)
    rng = random.Random(name)
    found = 0
    for _ in range(3000):
        text = _clause(rng)
        want = _reference(ref, use, text)
        found += bool(want)
        assert _outcome(pattern, use, text, None) == want, (name, text)
        low = aligned_lower(text)
        if low is not None:
            assert _outcome(pattern, use, text, low) == want, (name, text)
    assert found > 10  # the clauses exercise the pattern


def test_leading_words_match_where_their_b_form_does():
    led = re.compile(leading("if|in|once"), _I)
    plain = re.compile(r"\b(?:if|in|once)", _I)
    for text in ("if", "gif", "In", "once upon", "ifonce", "a-if", "_if", "1if", "é if"):
        assert [m.span() for m in led.finditer(text)] == [m.span() for m in plain.finditer(text)]


def test_caseless_sources_are_lower_case():
    with pytest.raises(AssertionError):
        Caseless(r"\bWould")
    Caseless(r"\S\W\b\Bwould")  # escapes are no letters of the text


def test_lower_case_keeps_word_space_and_digit_classes():
    """The rest of :func:`aligned_lower`'s claim: ``\\w``, ``\\s`` and ``\\d`` read each
    character that lowers to one other character as they read its lower case."""
    classes = [re.compile(r"\w"), re.compile(r"\s"), re.compile(r"\d")]
    for cp in range(0x110000):
        c = chr(cp)
        low = c.lower()
        if low != c and len(low) == 1:
            for cls in classes:
                assert bool(cls.match(c)) == bool(cls.match(low)), (hex(cp), cls.pattern)


def test_a_windowed_search_finds_what_a_search_of_the_slice_finds():
    """The final-phrase search reads a token's sentence as ``pos``/``endpos`` of the text
    (no copy), from a word's edge: the same as searching the slice."""
    rng = random.Random(11)
    found = 0
    for _ in range(2000):
        text = _clause(rng)
        low = aligned_lower(text)
        edges = [0] + [
            i for i in range(1, len(text)) if not (text[i - 1].isalnum() or text[i - 1] == "_")
        ]
        lo = rng.choice(edges)
        hi = rng.randint(lo, len(text))
        want = _FINAL_PHRASE.search(text[lo:hi]) is not None
        found += want
        pattern = textformats._FINAL_PHRASE_FAST
        assert (pattern.search(text, None, lo, hi) is not None) == want, (text, lo, hi)
        if low is not None:
            assert (pattern.search(text, low, lo, hi) is not None) == want, (text, lo, hi)
    assert found > 10


def test_the_index_finds_ascii_literals_where_the_lower_cased_text_has_them():
    """A text with other characters than ASCII (but none IGNORECASE folds onto an ASCII
    letter) is lower-cased as ASCII with "?" for the rest: each literal's positions are
    those in ``text.lower()``, and final phrases read the same."""
    rng = random.Random(5)
    pieces = ["Final", " VERDICT", " is", "é", "—", "✅", "Σ", "ß", "[[", "A>B", "]]", "\n",
              " label", ": ", "Score", "ü", "grade", "my", " overall", " rating", "Ø"]  # fmt: skip
    for _ in range(500):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 30)))
        index = textformats._Index(text)
        assert index.aligned
        low = text.lower()
        for literal in ("final", "[[", "label", "score", "grade", "verdict", "my"):
            want = [i for i in range(len(low)) if low.startswith(literal, i)]
            assert index.positions(literal) == (want if len(want) <= 16 else None), text
        for lo in range(len(text)):
            if index._word_edge(lo):
                want_phrase = textformats._FINAL_PHRASE.search(text[lo:]) is not None
                assert index.final_phrase_in(lo, len(text)) == want_phrase, (text, lo)
                index._slice_budget = 1 << 30
