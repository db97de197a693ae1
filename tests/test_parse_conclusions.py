"""A sentence concluding a verdict leaves the rationale whatever value it states."""

import pytest

import judgeguard as jg

EVIDENCE = "The answer covers both cases and cites the source."


@pytest.mark.parametrize(
    ("output", "gone"),
    [
        # openevals: the comment restates a score other than the one returned
        (
            {
                "key": "correctness",
                "score": 0.8,
                "comment": f"{EVIDENCE} Thus, the score should be: 0.9.",
            },
            "score should be",
        ),
        (
            {
                "key": "correctness",
                "score": True,
                "comment": f"{EVIDENCE} Thus, the score should be: false.",
            },
            "score should be",
        ),
        (
            {"score": 7, "reasoning": f"{EVIDENCE} Therefore I would rate it 8 out of 10."},
            "rate it",
        ),
        ({"grade": "pass", "reasoning": f"{EVIDENCE} So the label is: fail."}, "label is"),
        # free text: the concluding sentence above the final token states another value
        (f"{EVIDENCE} Thus, the score should be 6.\n\nRating: [[7]]", "score should be"),
    ],
)
def test_concluding_statement_removed_whatever_value(output, gone):
    j = jg.parse(output)
    assert gone not in j.rationale
    assert EVIDENCE in j.rationale


@pytest.mark.parametrize(
    "output",
    [
        {"score": 7, "reasoning": f"{EVIDENCE} The first draft would have earned a 4."},
        {"score": 7, "reasoning": f"{EVIDENCE} Step 3 of 5 is missing a unit."},
        f"{EVIDENCE} The reference gives 12 as the result.\n\nRating: [[7]]",
    ],
)
def test_non_concluding_sentences_with_numbers_stay(output):
    j = jg.parse(output)
    assert j.rationale.startswith(EVIDENCE) and len(j.rationale) > len(EVIDENCE)
