"""Property: parse returns a Judgment or raises a ParseError subclass, and redacts its markup."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import judgeguard as jg

# text biased towards the tokens judge formats are built from
_PIECES = st.sampled_from(
    [
        "[[",
        "]]",
        "A",
        "B",
        "C",
        ">",
        ">>",
        "=",
        "<",
        "[RESULT]",
        "GRADE:",
        "LABEL:",
        "Score:",
        "Rating:",
        "My final verdict is",
        "final decision is Response",
        "Output (a)",
        "Output (b)",
        "\n",
        "\n\n",
        " ",
        ".",
        "Y",
        "N",
        "7",
        "12",
        "4.5",
        "<think>",
        "</think>",
        "```json",
        "```",
        "{",
        "}",
        '"score": ',
        '"reasoning": ',
        '"verdict"',
        ":",
        ",",
        "<verdict>",
        "</verdict>",
        "<reasoning>",
        "</reasoning>",
        "tie",
        "Therefore",
        "Assistant B is better",
    ]
)
judge_like_text = st.lists(st.one_of(_PIECES, st.text(max_size=12)), max_size=40).map("".join)
json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-20, 20)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | _PIECES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "score",
                    "Reasoning",
                    "verdict",
                    "label",
                    "winner",
                    "comment",
                    "key",
                    "value",
                    "pass",
                    "x",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=12,
)
specs = st.sampled_from(["auto", "pairwise", "score", "score:1-10", "label", "label:pass,fail"])


def _check(output, spec):
    try:
        j = jg.parse(output, verdict=spec)
    except jg.ParseError:
        return
    assert isinstance(j, jg.Judgment)
    assert jg.find_markup(j.rationale) == []
    # the rationale is exactly its source without the recorded redactions
    pieces, pos = [], 0
    for r in j.redactions:
        assert j.rationale_source[r.start : r.end] == r.text
        pieces.append(j.rationale_source[pos : r.start])
        pos = r.end
    pieces.append(j.rationale_source[pos:])
    assert "".join(pieces) == j.rationale


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(judge_like_text, specs)
def test_arbitrary_text(text, spec):
    _check(text, spec)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_like, specs)
def test_arbitrary_json_like_values(value, spec):
    _check(value, spec)
