"""Property: parse returns a Judgment or raises a ParseError subclass, and redacts its markup."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import judgeguard as jg
from judgeguard.parsing import SCAN_LIMIT

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
# hostile shapes: a judge-like unit repeated many times, deep nesting, numbers and text
# JSON cannot hold or print, invalid unicode, bytes, objects whose str() raises


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    __repr__ = __str__


def _nest_dict(depth: int, leaf: object) -> object:
    for _ in range(depth):
        leaf = {"a": leaf}
    return leaf


repeated_text = st.builds(
    lambda unit, n: unit * n,
    st.one_of(_PIECES, judge_like_text.filter(bool)),
    st.integers(100, 3000),
)
hostile_scalars = st.sampled_from(
    [
        10**5000,
        -(10**400),
        float("inf"),
        float("-inf"),
        float("nan"),
        "\ud800",
        "[[A>B]] \udfff",
        b"\xff[[A>B]]",
        bytearray(b"Rating: [[7]]"),
        None,
    ]
) | st.builds(_Unprintable)
hostile_outputs = st.one_of(
    repeated_text,
    hostile_scalars,
    st.binary(max_size=200),
    st.builds(lambda v: {"score": v, "reasoning": "fine"}, hostile_scalars),
    st.builds(lambda v: {"winner": v}, hostile_scalars),
    st.builds(lambda v, k: {k: v}, hostile_scalars, st.sampled_from(["label", "verdict", "x"])),
    st.builds(_nest_dict, st.integers(1, 3000), json_like),
    st.builds(
        lambda d, v: {"score": 5, "nested": _nest_dict(d, v)}, st.integers(1, 3000), json_like
    ),
    st.builds(lambda n: '{"a":' * n, st.integers(1, 20000)),
    st.builds(lambda t, n: "<think>" * n + t, judge_like_text, st.integers(1, 3000)),
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


@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_outputs, specs)
def test_hostile_outputs(output, spec):
    _check(output, spec)


@settings(deadline=None, max_examples=10, suppress_health_check=[HealthCheck.too_slow])
@given(repeated_text, specs)
def test_outputs_longer_than_the_scan_window(text, spec):
    # beyond SCAN_LIMIT only the tail is read; the invariants hold all the same
    _check(text * (1 + SCAN_LIMIT // max(len(text), 1)), spec)
