"""The rules real judge outputs need: final verdicts win, ambiguity is an error, redaction."""

import re

import pytest

import judgeguard as jg

ARENA = """My own answer: a binary search over the sorted array, O(log n).

Assistant A implements binary search but the loop condition `while lo < hi` skips the last
element, so `find([1, 2, 3], 3)` returns -1. Assistant B's loop is correct and it handles an
empty list. The system prompt asks me to finish with a label such as [[A>B]] or [[B>A]].

Assistant B's answer is clearly better. My final verdict is: [[B>>A]]
"""


def test_final_verdict_wins_over_quoted_ones_and_all_markup_is_redacted():
    j = jg.parse(ARENA)
    assert j.verdict.render() == "B>>A"
    assert j.format == "arena_hard"
    for token in ("[[A>B]]", "[[B>A]]", "[[B>>A]]", "My final verdict", "clearly better"):
        assert token not in j.rationale
    assert "`while lo < hi` skips the last\nelement" in j.rationale
    assert jg.find_markup(j.rationale) == []


def test_rationale_is_the_source_minus_the_recorded_redactions():
    j = jg.parse(ARENA)
    rebuilt, pos = [], 0
    for r in j.redactions:
        assert j.rationale_source[r.start : r.end] == r.text
        rebuilt.append(j.rationale_source[pos : r.start])
        pos = r.end
    rebuilt.append(j.rationale_source[pos:])
    assert "".join(rebuilt) == j.rationale
    assert {r.reason for r in j.redactions} >= {"verdict", "verdict_statement"}


def test_two_different_final_verdicts_are_ambiguous():
    text = ARENA + "\nOn reflection, A's style is nicer. My final verdict is [[A>B]]."
    with pytest.raises(jg.AmbiguousVerdict) as info:
        jg.parse(text)
    err = info.value
    assert isinstance(err, jg.ParseError)
    assert err.reason == "ambiguous_verdict"
    assert set(err.candidates) == {"A>B", "B>>A"}
    assert err.excerpt


def test_repeating_the_same_final_verdict_is_fine():
    j = jg.parse(ARENA + "\nTo repeat, my final verdict is [[B>>A]].")
    assert j.verdict.render() == "B>>A"
    assert "[[B>>A]]" not in j.rationale


def test_final_statement_in_words_is_compatible_with_the_token():
    j = jg.parse(
        "A is wrong about the date; B is right.\n\nMy final verdict is that Assistant "
        "B is significantly better: [[B>>A]]"
    )
    assert j.verdict.render() == "B>>A"
    assert j.rationale == "A is wrong about the date; B is right."


def test_no_verdict_raises_verdict_not_found_with_reason_and_excerpt():
    with pytest.raises(jg.VerdictNotFound) as info:
        jg.parse("Both answers discuss the French Revolution at some length. " * 5)
    assert info.value.reason == "verdict_not_found"
    assert "French Revolution" in info.value.excerpt
    assert "register_format" in str(info.value)


def test_score_out_of_scale_is_an_error_not_a_clamp():
    with pytest.raises(jg.ScoreOutOfRange) as info:
        jg.parse("The answer is thorough.\nRating: [[12]]")
    assert info.value.reason == "score_out_of_range"
    with pytest.raises(jg.ScoreOutOfRange):
        jg.parse("Feedback: solid. [RESULT] 4", verdict="score:0-3")
    assert jg.parse("Feedback: solid. [RESULT] 7", verdict="score:1-10").verdict.scale == (1, 10)


def test_out_of_range_number_quoted_earlier_does_not_break_the_final_one():
    j = jg.parse(
        "A scale note: the old template used `Rating: [[12]]` by mistake.\n"
        "The answer is complete and correct.\nRating: [[9]]"
    )
    assert j.verdict.render() == "9"


def test_spec_narrows_the_search():
    text = "Assistant A is wordier.\n[[A]]\nScore: 7"
    assert jg.parse(text, verdict="pairwise").verdict.render() == "A>B"
    assert jg.parse(text, verdict="score:1-10").verdict.render() == "7"
    with pytest.raises(jg.VerdictNotFound):
        jg.parse(text, verdict="label:pass,fail")


def test_last_line_formats_only_count_on_the_last_line():
    text = "Is the answer harmful?\nN\nIs it correct? The date is right.\nY"
    j = jg.parse(text)
    assert j.verdict.render() == "y"
    assert j.rationale.endswith("The date is right.")


def test_two_verdicts_on_the_last_line_are_ambiguous():
    with pytest.raises(jg.AmbiguousVerdict):
        jg.parse("Hard to say.\n[[A]] or [[B]]")


def test_score_sentence_before_result_is_redacted():
    j = jg.parse(
        "Feedback: The proof skips the base case, which the rubric requires for a 5. "
        "So the overall score is 3. [RESULT] 3"
    )
    assert j.verdict.render() == "3"
    assert "overall score is 3" not in j.rationale
    assert "skips the base case" in j.rationale


def test_json_reasoning_field_is_the_rationale_with_conclusion_removed():
    j = jg.parse(
        'Here is my evaluation:\n```json\n{"Explanation": "The SQL joins on the wrong '
        'key, so totals double count. Therefore I give it a 2.", "SCORE": 2}\n```'
    )
    assert j.format == "json" and j.verdict.render() == "2"
    assert j.rationale == "The SQL joins on the wrong key, so totals double count."
    assert j.rationale_origin == "field"


def test_json_verdict_without_reasoning_key_keeps_prose_and_drops_the_object():
    j = jg.parse('B fixes the off-by-one error; A does not.\n\n```json\n{"winner": "B"}\n```\n')
    assert j.verdict.render() == "B>A"
    assert j.rationale == "B fixes the off-by-one error; A does not."


def test_json_list_of_reasons_becomes_atomic_reasons():
    j = jg.parse(
        {"reasons": ["Misses the null check on line 4", "Uses O(n^2) search"], "verdict": "fail"}
    )
    assert j.atomic_reasons == ("Misses the null check on line 4", "Uses O(n^2) search")
    assert j.verdict.render() == "fail" and j.verdict.outcome() == 0.0


def test_disagreeing_json_objects_are_ambiguous():
    with pytest.raises(jg.AmbiguousVerdict):
        jg.parse('{"reasoning": "x", "score": 3}\nactually\n{"reasoning": "y", "score": 5}')


def test_think_block_is_kept_apart_and_the_answer_decides():
    text = (
        "<think>First impression [[A>B]]... wait, A's formula drops the square. B is right."
        "</think>\nB derives the variance correctly while A forgets to square the deviations."
        "\n\nMy final verdict is [[B>A]]"
    )
    j = jg.parse(text)
    assert j.verdict.render() == "B>A"
    assert j.thinking is not None and "First impression" in j.thinking
    assert (
        j.rationale == "B derives the variance correctly while A forgets to square the deviations."
    )
    assert j.rationale_origin == "output"


def test_thinking_becomes_the_rationale_when_the_answer_has_none():
    text = (
        "<think>A's SQL uses LEFT JOIN and keeps customers without orders, which the "
        "question asks for; B's INNER JOIN drops them. So A wins, [[A>B]].</think>\n[[A>B]]"
    )
    j = jg.parse(text)
    assert j.rationale_origin == "thinking"
    assert "LEFT JOIN" in j.rationale and "[[A>B]]" not in j.rationale


def test_verdict_only_in_thinking_is_not_found():
    with pytest.raises(jg.VerdictNotFound, match="thinking"):
        jg.parse("<think>I lean [[A>B]]</think>\nI could not decide.")


def test_user_format_by_pattern():
    jg.register_format("stars", r"Stars:\s*(?P<verdict>\d)/5", kind="score", scale=(1, 5))
    try:
        j = jg.parse("Clear and correct.\nStars: 4/5")
        assert (j.format, j.verdict.render(), j.verdict.outcome()) == ("stars", "4", 0.75)
        assert "Stars" not in j.rationale
        with pytest.raises(jg.ScoreOutOfRange):
            jg.parse("Stars: 9/5")
    finally:
        jg.unregister_format("stars")
    with pytest.raises(jg.VerdictNotFound):
        jg.parse("Clear and correct.\nStars: 4/5 stars")


def test_user_format_by_function():
    def winner_word(text):
        m = re.search(r"WINNER=(left|right)", text)
        if not m:
            return None
        return jg.FormatMatch(
            jg.Verdict.pairwise("A" if m.group(1) == "left" else "B"), m.start(), m.end()
        )

    jg.register_format("winner_word", function=winner_word)
    try:
        j = jg.parse("Left is more idiomatic Rust.\nWINNER=left")
        assert j.verdict.render() == "A>B" and "WINNER" not in j.rationale
    finally:
        jg.unregister_format("winner_word")


def test_register_format_requires_one_source():
    with pytest.raises(TypeError):
        jg.register_format("x")


@pytest.mark.parametrize("bad", [None, 42, 3.5, object(), ["a", 1], b"\xff\xfe"])
def test_unreadable_outputs_are_parse_errors(bad):
    with pytest.raises(jg.ParseError) as info:
        jg.parse(bad)
    assert info.value.reason in {"unsupported_output", "verdict_not_found"}


@pytest.mark.parametrize("output", [{"score": "0/0"}, "The answer is fine.\nScore: 3 out of 0"])
def test_empty_scale_is_a_parse_error(output):
    # found by hypothesis: "0/0" implied the scale 0-0
    with pytest.raises(jg.ParseError) as info:
        jg.parse(output)
    assert info.value.reason == "bad_scale"
