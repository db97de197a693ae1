"""The labelled verdict-trap corpus: judgeguard never returns a verdict it cannot stand behind.

Cases live in tests/fixtures/verdict_traps/cases.jsonl (see benchmarks/verdict_traps.py for
the labels and the figures per judge style). A wrong verdict is a parsed verdict that differs
from the label, or a parsed verdict where the label is ``ambiguous`` or ``not_found``.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

import judgeguard as jg

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "verdict_traps", ROOT / "benchmarks" / "verdict_traps.py"
)
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("verdict_traps", bench)  # dataclasses look their module up
_spec.loader.exec_module(bench)

CASES = bench.load()


def test_corpus_shape():
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 150
    assert sum(c["trap"] for c in CASES) >= 50
    assert bench.CORPUS.stat().st_size < 500_000
    for c in CASES:
        assert set(c) == {"id", "source", "output", "expected", "spec", "trap", "note"}, c["id"]
        assert c["source"].split(":")[0] in {"synthetic", "adapted"}, c["id"]
        assert c["expected"], c["id"]
        jg.VerdictSpec.coerce(c["spec"])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_no_wrong_verdict(case):
    outcome = bench.run_case(case)
    assert not outcome.wrong, (
        f"{case['id']}: parsed {outcome.got!r}, expected {case['expected']!r} ({case['note']})"
    )


def test_precision_and_coverage_figures(capsys):
    s = bench.summarize(bench.run_case(c) for c in CASES)
    assert s["wrong"] == 0
    # coverage is reported, not a goal in itself; this floor only catches a parser that
    # starts refusing everything
    assert s["parsed"] / s["total"] >= 0.75
    with capsys.disabled():
        print(
            f"\nverdict traps: {s['total']} cases, parsed {s['parsed']}, wrong {s['wrong']}, "
            f"coverage {s['parsed'] / s['total']:.3f}, correct refusals {s['refused_ok']}, "
            f"missed {s['missed']}"
        )


def test_corpus_is_valid_jsonl():
    for line in bench.CORPUS.read_text(encoding="utf-8").splitlines():
        json.loads(line)


# --- the three shapes reported in issue 11 item 5, spelled out ---


def test_rating_of_the_judges_own_rewrite_is_not_the_verdict():
    j = jg.parse(
        "The answer is accurate but skips the second example.\n\nRating: [[6]]\n\n"
        "Here is an improved version of the response:\n\nRecursion is when ...\n\n"
        "The revised response covers both examples, earning a rating of [[10]]."
    )
    assert j.verdict.render() == "6"
    assert "[[10]]" not in j.rationale and "[[6]]" not in j.rationale


def test_tie_prose_naming_both_assistants_agrees_with_the_tie_markup():
    j = jg.parse(
        "Both answers hard-code the date format.\n\nMy final verdict is that Assistant A and "
        "Assistant B's answers are suboptimal, with neither being significantly better: [[A=B]]"
    )
    assert j.verdict.render() == "A=B"


@pytest.mark.parametrize(
    "text", ["[[A>B]] [[B>A]] [RESULT] 4", "Rating: [[5]] [RESULT] 4", "[[A>B]] [[B>A]]"]
)
def test_disagreeing_markups_of_any_formats_are_ambiguous(text):
    with pytest.raises(jg.AmbiguousVerdict) as info:
        jg.parse(text)
    assert len(info.value.candidates) >= 2


def test_a_hypothetical_only_output_has_no_verdict():
    with pytest.raises(jg.VerdictNotFound, match="hypothetical"):
        jg.parse("The code works but lacks comments. If it had comments, I would give it [[9]].")


def test_user_format_skips_hypothetical_matches():
    jg.register_format("stars", r"Stars:\s*(?P<verdict>\d)/5", kind="score", scale=(1, 5))
    try:
        j = jg.parse("Clear and correct.\nStars: 4/5\nAn improved answer would earn Stars: 5/5.")
        assert j.verdict.render() == "4"
    finally:
        jg.unregister_format("stars")


def test_reading_a_tokens_context_is_bounded():
    # the clause and tail windows are fixed: the cost per token does not grow with the text
    import time

    from judgeguard.parsing.context import demotion

    line = "The answer would earn [[9]] if it had tests, whereas " * 100_000  # ~5 MB, one line
    mid = line.index("[[9]]", len(line) // 2)
    t = time.perf_counter()
    for _ in range(100):
        assert demotion(line, mid, mid + 5) == "hypothetical"
    assert time.perf_counter() - t < 0.5


SUFFIXES = [
    "\n\nAn improved version of the response would earn a rating of [[10]].",
    "\n\nIf the answer had included tests, I would have given it [[2]].",
    "\n\nThe score could be raised to [[9]] with sources.",
    "\n\nWith the fixes above it might get [RESULT] 5.",
    "\n\n(Had Assistant B cited sources, the verdict would have been [[B>>A]].)",
]
PARSED = [
    c
    for c in CASES
    if c["expected"] not in bench.REFUSALS
    and bench.run_case(c).got == c["expected"]
    and c["spec"] == "auto"
    and not c["output"].lstrip().startswith("{")
]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_hypothetical_rating_after_the_verdict_never_changes_it(suffix):
    changed = []
    for c in PARSED:
        try:
            got = jg.parse(c["output"] + suffix).verdict.render()
        except jg.ParseError:
            continue  # a refusal is allowed; a different verdict is not
        if got != c["expected"]:
            changed.append((c["id"], got))
    assert changed == []


PREFIXES = [
    "For example, Rating: [[5]].\n\n",
    "The options are [[A>>B]], [[A>B]], [[A=B]], [[B>A]] and [[B>>A]].\n\n",
    "If I were grading a perfect answer, I would give [[10]].\n\n",
    "An ideal response would be rated [[10]] or [RESULT] 5.\n\n",
    "I will not simply say [[A]] because A is longer.\n\n",
]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_an_example_option_list_or_hypothetical_before_the_verdict_never_changes_it(prefix):
    changed = []
    for c in PARSED:
        try:
            got = jg.parse(prefix + c["output"]).verdict.render()
        except jg.ParseError:
            continue
        if got != c["expected"]:
            changed.append((c["id"], got))
    assert changed == []
