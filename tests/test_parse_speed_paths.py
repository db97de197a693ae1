"""The parser's fast paths give exactly what the plain scans they replace give.

The text scan jumps between occurrences of a literal in the lower-cased text instead of
letting the regex engine try every position under IGNORECASE (:func:`anchored_matches`),
and the rescan for leftover markup reads spans only (:func:`markup_spans`). Both rest on
one claim about Unicode, checked here over every code point.
"""

from __future__ import annotations

import random
import re
import string

import pytest

import judgeguard as jg
from judgeguard.parsing import textformats
from judgeguard.parsing.core import _markup_spans, find_markup
from judgeguard.parsing.textformats import (
    _BRACKETED_FORMATS,
    _FINAL_PHRASE_PARTS,
    _FOLLOWS,
    _HINTS,
    _PHRASE_ANCHORS,
    BUILTIN_FORMATS,
    _bracketed_matches,
    _Index,
    _occurrences,
    anchored_matches,
    carried_lookups,
    markup_spans,
)
from judgeguard.verdicts import VerdictSpec


def test_lower_finds_every_case_insensitive_ascii_letter_but_dotless_i_and_long_s():
    """The claim behind ``_Index.aligned``: a character IGNORECASE matches to an ASCII
    letter lowers to that letter, or lowers to several characters (the text's length
    then changes), or is one of the two the index checks for."""
    letter = re.compile("[a-z]", re.IGNORECASE)
    odd = set()
    for cp in range(0x110000):
        c = chr(cp)
        low = c.lower()
        if letter.fullmatch(c) and low not in string.ascii_lowercase and len(low) == 1:
            odd.add(c)
    assert odd == {"ı", "ſ"}


def test_anchors_are_what_every_match_starts_with():
    for fmt in BUILTIN_FORMATS:
        if fmt.anchor is not None:
            assert fmt.pattern.flags & re.IGNORECASE
            assert re.sub(r"\\(.)", r"\1", fmt.pattern.pattern).lower().startswith(fmt.anchor[0]), (
                fmt.name
            )
    for pattern, (anchor, _) in zip(_FINAL_PHRASE_PARTS, _PHRASE_ANCHORS, strict=True):
        assert pattern.pattern.lower().startswith(anchor[0])


_WORDS = [
    "final", "FINAL", "Final", "verdict", "VERDICT is", "decision", "my", "My", "MY overall",
    "rating", "in", "In", "conclusion", "overall", "Overall score", "grade", "GRADE: C",
    "[RESULT] 4", "[result] 3", "final decision is Response 1", "Final verdict: Assistant A.",
    "ı", "İ", "ſ", "K", "ß", "ﬁ", "é", " ", "\n", ":", ".", "[[A>B]]", "x", "fi", "nal",
]  # fmt: skip


@pytest.mark.parametrize("seed", range(40))
def test_anchored_scans_equal_the_engines_scans(seed):
    rng = random.Random(seed)
    text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 80)))
    index = _Index(text)
    if not index.aligned:
        assert len(text.lower()) != len(text) or "ı" in text or "ſ" in text
        return
    for fmt in BUILTIN_FORMATS:
        if fmt.anchor is not None:
            fast = [
                m.span() for m in anchored_matches(fmt.pattern, text, index.lowered, fmt.anchor)
            ]
            assert fast == [m.span() for m in fmt.pattern.finditer(text)], fmt.name
    slow = sorted(m.span() for p in _FINAL_PHRASE_PARTS for m in p.finditer(text))
    assert sorted(index._phrase_spans()) == slow


@pytest.mark.parametrize(
    "text",
    [
        "Fınal verdict is: [[A>B]]",  # dotless i: the engine's IGNORECASE path
        "İn conclusion, Assistant A is better. [[A>B]]",  # lowers to two characters
        "The ſcore: 5\nRating: 4",
        "My final verdict is: Assistant B is better: [[B>A]]",
        "GRADE: C\nfinal decision is Response 2",
    ],
)
def test_unaligned_and_aligned_texts_scan_like_the_engine(text):
    spans = markup_spans(text)
    assert spans == [(c.start, c.end) for c in textformats.find_candidates(text, VerdictSpec())]


def test_rescan_spans_are_find_markups_spans():
    rng = random.Random(7)
    for _ in range(200):
        text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 40)))
        assert _markup_spans(text) == [(c.start, c.end) for c in find_markup(text)]


def test_a_registered_format_is_rescanned_too():
    jg.register_format("stars", pattern=r"STARS=(?P<verdict>\d)", kind="score")
    try:
        assert (0, 7) in _markup_spans("STARS=4 and more")
    finally:
        jg.unregister_format("stars")


_BRACKET_BITS = ["[[", "]]", "[", "]", "A", "B", "C", ">", ">>", "<", "<<", "=", "7", "12",
                 "-3", "2.5", ",", " ", "\n", "x"]  # fmt: skip


@pytest.mark.parametrize("seed", range(40))
def test_one_pass_over_the_brackets_finds_what_each_bracketed_format_finds(seed):
    """The claim behind ``_bracketed_matches``: bracketed matches never overlap and at
    most one bracketed format matches at a "[[", so trying them in turn at each "[["
    finds each format's own matches."""
    rng = random.Random(seed)
    text = "".join(rng.choice(_BRACKET_BITS) for _ in range(rng.randint(1, 150)))
    at = [i for i in range(len(text)) if text.startswith("[[", i)]
    found = _bracketed_matches(text, at, list(_BRACKETED_FORMATS))
    for fmt in _BRACKETED_FORMATS:
        assert [m.span() for m in found.get(fmt.name, [])] == [
            m.span() for m in fmt.pattern.finditer(text)
        ], fmt.name


def _random_pieces(rng: random.Random, length: int, most_cuts: int) -> list[tuple[int, int]]:
    """The pieces a text of ``length`` keeps after up to ``most_cuts`` random cuts."""
    cuts = min(rng.randint(0, most_cuts), (length + 1) // 2)
    bounds = sorted(rng.sample(range(length + 1), 2 * cuts))
    kept, pos = [], 0
    for cut_start, cut_end in zip(bounds[::2], bounds[1::2], strict=True):
        kept.append((pos, cut_start))
        pos = cut_end
    kept.append((pos, length))
    return [(s, e) for s, e in kept if s < e]


@pytest.mark.parametrize("seed", range(60))
def test_positions_carried_into_a_cut_text_are_the_cut_texts_own(seed):
    """What ``carried_lookups`` says of the text left after cuts (the rescan's) is what
    looking in that text finds: every occurrence inside a kept piece, none lost, and a
    literal that may span a junction left to be looked up."""
    rng = random.Random(seed)
    text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 60)))
    source = _Index(text)
    if not source.aligned:
        return
    for literal in {h for hints in _HINTS.values() for h in hints} | {"[["}:
        source.positions(literal)
    pieces = _random_pieces(rng, len(text), 4)
    carried = carried_lookups(source, pieces)
    assert carried is not None
    lowered, known = carried
    assert lowered == "".join(source.lowered[s:e] for s, e in pieces)
    for literal, at in known.items():
        assert at == _occurrences(lowered, literal), literal


def test_compatible_verdicts_are_those_rendering_alike_or_differing_only_in_strength():
    """``_compatible`` reads a pairwise verdict's fields instead of rendering it: the
    same answers as the rule it implements, over every verdict of a few kinds."""
    from judgeguard.parsing.core import _compatible
    from judgeguard.verdicts import Verdict

    pairwise = [
        Verdict.pairwise(w, s, scores)  # type: ignore[arg-type]
        for w in ("A", "B", "tie")
        for s in (None, 1, 2)
        for scores in (None, (3.0, 7.0))
    ]
    others = [Verdict.score(7, (1, 10)), Verdict.score(7), Verdict.of_label("pass")]
    for a in pairwise + others:
        for b in pairwise + others:
            rule = a.render() == b.render() or (
                a.kind == b.kind == "pairwise"
                and a.winner == b.winner
                and (a.strength is None or b.strength is None)
            )
            assert _compatible(a, b) == rule, (a, b)


_KEYWORD_BITS = ["label", "Label", "LABEL", "labels", "score", "Score", "SCORE", "rating",
                 "Rating", "grade", "GRADE", ":", " : ", "**", "*", "\n", " ", "\t", "\u00a0",
                 "7", "7/10", "pass", "C", "final ", "overall ", "- ", "# ", "> ", "x",
                 "."]  # fmt: skip


@pytest.mark.parametrize("seed", range(80))
def test_a_keyword_is_followed_in_every_match_by_what_its_formats_need(seed):
    """The claim behind ``_FOLLOWS``: every match of a format whose hints are keywords
    holds one of them followed, in the text, by that keyword's follow pattern (so a
    format none of whose keywords is so followed anywhere cannot match)."""
    rng = random.Random(seed)
    text = "".join(rng.choice(_KEYWORD_BITS) for _ in range(rng.randint(1, 60)))
    for fmt in BUILTIN_FORMATS:
        keywords = [k for k in fmt.hints if k in _FOLLOWS]
        if not keywords:
            continue
        for m in fmt.pattern.finditer(text):
            low = m.group(0).lower()
            assert any(
                _FOLLOWS[k].match(text, m.start() + i + len(k))
                for k in keywords
                for i in range(len(low))
                if low.startswith(k, i)
            ), (fmt.name, m)


def test_a_keyword_in_prose_rules_its_formats_out_and_a_real_one_keeps_them():
    """ "labels" in a sentence starts no "Label: …": phoenix_label is not tried (its line
    is not scanned), while "Label: pass" keeps it."""
    prose = _Index("The prompt offers five labels, from [[A>>B]] down to [[A=B]].")
    assert "phoenix_label" not in {f.name for f in prose.plan("auto")}
    real = _Index("It passes.\nLabel: pass")
    assert "phoenix_label" in {f.name for f in real.plan("auto")}


_TAG_BITS = ["<", ">", "</", "<think>", "</think>", "<THINKING>", "</thinking>", "<verdict>",
             "</verdict>", "<reasoning a='1'>", "</reasoning >", "<a", "x", " ", "\n", "<<",
             "</ b>", "<b>", "<1>"]  # fmt: skip


@pytest.mark.parametrize("seed", range(60))
def test_tag_matches_are_the_patterns_own_matches(seed):
    """``tag_matches`` tries the tag patterns only where "<" occurs (then, past a few,
    by the pattern's scan): the same matches as ``finditer``."""
    from judgeguard.parsing.inputs import _THINK_TAG, tag_matches
    from judgeguard.parsing.structured import _CLOSE_TAG, _OPEN_TAG

    rng = random.Random(seed)
    text = "".join(rng.choice(_TAG_BITS) for _ in range(rng.randint(0, 80)))
    for pattern in (_THINK_TAG, _OPEN_TAG, _CLOSE_TAG):
        assert [m.span() for m in tag_matches(pattern, text)] == [
            m.span() for m in pattern.finditer(text)
        ]


_CUT_BITS = ["[[A>B]]", "[[", "A>B]]", "label", "Label:", " pass", "Score", ":", "**", " 7",
             "final verdict is", " Assistant A", "GRADE", "output", "Output (a)", "\n", "\n\n",
             " ", "Yes", "no", "rating", "The answer is fine.", "x", "[RESULT]", " 4",
             "é", "—"]  # fmt: skip


def _cut_and_tell(seed: int) -> int:
    """Cut a random text at random places; check ``nothing_left`` says "nothing" only
    where a scan of the cut text finds nothing. How many times it said so."""
    from judgeguard.parsing.textformats import find_candidates, nothing_left, text_index

    rng = random.Random(seed)
    text = "".join(rng.choice(_CUT_BITS) for _ in range(rng.randint(1, 40)))
    find_candidates(text, VerdictSpec())  # what a parse looks up in the source first
    source = text_index(text)
    told = 0
    for _ in range(10):
        pieces = _random_pieces(rng, len(text), 3)
        cut = "".join(text[s:e] for s, e in pieces)
        if nothing_left(source, pieces, cut):
            told += 1
            assert markup_spans(cut) == [], (text, pieces)
    return told


@pytest.mark.parametrize("seed", range(200))
def test_nothing_left_only_when_a_scan_of_the_cut_text_finds_nothing(seed):
    """``nothing_left`` (which spares the rescan of a redacted text) says so only when
    the scan it spares would find no markup, on texts cut at random places."""
    _cut_and_tell(seed)


def test_nothing_left_tells_about_many_cut_texts():
    """The random cuts above are no vacuous check: it tells about many of them."""
    assert sum(_cut_and_tell(seed) for seed in range(200)) > 200


@pytest.mark.parametrize("line", ["Label: pass", "Score: 7", "Rating: 7/10", "GRADE: C"])
def test_a_cut_that_makes_a_keyword_line_is_rescanned(line):
    """Cutting "The " off "The ***… Label: pass" leaves a verdict line the source did
    not have: ``nothing_left`` must not spare the scan that finds it."""
    from judgeguard.parsing.textformats import find_candidates, nothing_left, text_index

    # (its markdown decoration keeps the keyword far from the cut: no literal spans it)
    text = f"Intro.\nThe {'*' * 20} {line}\nBody."
    find_candidates(text, VerdictSpec())
    start = text.index("The ")
    pieces = [(0, start), (start + 4, len(text))]
    cut = text[:start] + text[start + 4 :]
    assert markup_spans(cut)
    assert not nothing_left(text_index(text), pieces, cut)
