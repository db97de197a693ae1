"""Hostile judge outputs: parse returns a Judgment or raises a ParseError, in linear time."""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import judgeguard as jg
from judgeguard.parsing import SCAN_LIMIT
from judgeguard.parsing import inputs as parsing_inputs


def _outcome(output: Any, spec: str = "auto") -> jg.Judgment | jg.ParseError:
    """parse's result; any exception other than a ParseError fails the test."""
    try:
        return jg.parse(output, verdict=spec)
    except jg.ParseError as exc:
        return exc


# -- text shapes, built to a size in characters -------------------------------------------


def _repeat(unit: str) -> Callable[[int], str]:
    return lambda n: unit * max(1, n // len(unit))


TEXT_SHAPES: dict[str, Callable[[int], str]] = {
    "think_open": _repeat("<think>"),
    "thinking_open": _repeat("<THINKING>"),
    "think_close": _repeat("</think>"),
    "reasoning_open": _repeat("<reasoning>"),
    "verdict_open": _repeat("<verdict>"),
    "verdict_nested": _repeat("<verdict><verdict>A</verdict>"),
    "br_lines": _repeat("Point one is fine.<br>"),
    "verdict_lines": _repeat("My final verdict is: [[A>B]]\n"),
    "verdict_one_line": _repeat("My final verdict is: [[A>B]] "),
    "conflicting_lines": _repeat("[[A>B]]\n[[B>A]]\n"),
    "score_lines": _repeat("Rating: [[7]]\n"),
    "open_brackets": _repeat("[["),
    "open_brace_key": _repeat('{"a":'),
    "open_braces": _repeat("{"),
    "json_unterminated": _repeat('{"score": 5, "reasoning": "x", '),
    "json_array": lambda n: '{"a": [' + "1," * (n // 2),
    "quotes": _repeat("\"'`“ [[A>B]] "),
    "sentences": _repeat("So A is better. "),
    "headings": _repeat("### Final Verdict\n[[A>B]]\n\n"),
    "spaces": lambda n: " " * n + "[[A>B]]",
    "newlines": lambda n: "\n" * n + "[[A>B]]",
    "digits": lambda n: "[[" + "9" * n,
    "result_tokens": _repeat("[RESULT] 4\n"),
    "grade_tokens": _repeat("GRADE: C "),
    "label_lines": _repeat("LABEL: pass\n"),
    "surrogates": _repeat("\ud800 [[A>B]] \udfff"),
    "prose_then_verdict": lambda n: (
        "The answer is well argued. " * (n // 27) + "\nMy final verdict is: [[A>B]]"
    ),
}


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Time the parser's own work: a collection of other objects is no part of it."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _cpu(output: str) -> float:
    t0 = time.process_time()
    _outcome(output)
    return time.process_time() - t0


@pytest.mark.parametrize("shape", sorted(TEXT_SHAPES))
def test_text_shape_small(shape: str) -> None:
    _outcome(TEXT_SHAPES[shape](10_000))


@pytest.mark.parametrize("shape", sorted(TEXT_SHAPES))
def test_text_shape_grows_linearly(shape: str, no_gc: None) -> None:
    """100 KB vs 1 MB of one shape: time grows about linearly (generous bound)."""
    make = TEXT_SHAPES[shape]
    small, big = make(100_000), make(1_000_000)
    _outcome(small)  # warm up caches
    t_small = min(_cpu(small) for _ in range(3))
    t_big = _cpu(big)
    assert t_big < 1.0, f"{shape}: {t_big:.2f} s for 1 MB"
    assert t_big < 20 * max(t_small, 0.002), (shape, t_small, t_big)


@pytest.mark.slow
@pytest.mark.parametrize("shape", sorted(TEXT_SHAPES))
def test_text_shape_linear_without_scan_window(
    shape: str, monkeypatch: pytest.MonkeyPatch, no_gc: None
) -> None:
    """With the scan window lifted, the algorithms themselves are linear: 50 KB vs 500 KB."""
    monkeypatch.setattr(parsing_inputs, "SCAN_LIMIT", 10_000_000)
    make = TEXT_SHAPES[shape]
    small, big = make(50_000), make(500_000)
    _outcome(small)
    t_small = min(_cpu(small) for _ in range(2))
    t_big = _cpu(big)
    assert t_big < 20 * max(t_small, 0.005), (shape, t_small, t_big)


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["think_open", "verdict_lines", "br_lines", "open_brace_key"])
def test_text_shape_10mb(shape: str) -> None:
    t0 = time.process_time()
    _outcome(TEXT_SHAPES[shape](10_000_000))
    assert time.process_time() - t0 < 2.0


def test_big_output_keeps_its_verdict_and_says_what_was_scanned() -> None:
    body = "Assistant A explains the proof step by step and checks each case.\n" * 30_000
    j = jg.parse(body + "My final verdict is: [[A>B]]")
    assert j.verdict.render() == "A>B"
    assert j.unscanned_chars > 0
    assert len(j.rationale_source) <= SCAN_LIMIT
    assert j.raw.endswith("[[A>B]]") and len(j.raw) == len(body) + 28
    assert "[[A>B]]" not in j.rationale and j.rationale.strip()


def test_small_output_is_scanned_whole() -> None:
    j = jg.parse("Assistant A is right about the edge case.\n\nMy final verdict is: [[A>B]]")
    assert j.unscanned_chars == 0


def test_many_verdict_lines_all_redacted() -> None:
    j = jg.parse("My final verdict is: [[A>B]]\n" * 2000)
    assert j.verdict.render() == "A>B"
    assert jg.find_markup(j.rationale) == []


def test_think_blocks_split_like_before() -> None:
    j = jg.parse("<think>A is right, B misses a case.</think>\n<think>more</think>  [[A>B]]")
    assert j.thinking == "A is right, B misses a case.\n\nmore"
    assert j.verdict.render() == "A>B"


# -- non-text shapes ------------------------------------------------------------------------


class _BadStr:
    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


def _deep_dict(depth: int) -> dict[str, Any]:
    d: dict[str, Any] = {"score": 5}
    for _ in range(depth):
        d = {"a": d}
    return d


def _deep_list(depth: int) -> dict[str, Any]:
    v: Any = 1
    for _ in range(depth):
        v = [v]
    return {"score": 5, "x": v}


OBJECT_SHAPES: dict[str, Callable[[], Any]] = {
    "none": lambda: None,
    "int": lambda: 7,
    "float_nan": lambda: math.nan,
    "list": lambda: ["[[A>B]]"],
    "bytes": lambda: b"Assistant A is better.\n[[A>B]]",
    "bytes_invalid_utf8": lambda: b"\xff\xfe[[A>B]]\xc3",
    "bytearray": lambda: bytearray(b"Rating: [[7]]"),
    "bytes_big": lambda: b"<think>" * 150_000,
    "lone_surrogate": lambda: "\ud800 Rating: [[7]]",
    "surrogate_dict": lambda: {"score": 3, "reasoning": "\udfff fine"},
    "bad_str_object": _BadStr,
    "bad_str_value": lambda: {"score": _BadStr(), "reasoning": "ok"},
    "bad_str_reasoning": lambda: {"score": 5, "reasoning": _BadStr()},
    "bad_str_key": lambda: {_BadStr(): 1, "score": 4},
    "huge_int": lambda: {"score": 10**5000},
    "huge_int_winner": lambda: {"winner": 10**5000, "reasoning": "x"},
    "huge_negative_int": lambda: {"score": -(10**400)},
    "inf": lambda: {"score": math.inf},
    "nan": lambda: {"score": math.nan, "reasoning": "x"},
    "neg_inf_label": lambda: {"label": -math.inf},
    "deep_dict": lambda: _deep_dict(10_000),
    "deep_list": lambda: _deep_list(100_000),
    "deep_dict_no_verdict": lambda: _deep_dict(10_000)["a"]["a"]["a"],
    "self_referencing": lambda: (lambda d: (d.__setitem__("self", d), d)[1])({"score": 5}),
    "huge_reasoning": lambda: {"score": 5, "reasoning": "x " * 5_000_000},
    "mixed_message": lambda: {"role": "assistant", "content": [b"x", None, {"type": "text"}]},
    "completion_bad_content": lambda: {"choices": [{"message": {"content": 12}}]},
    "tool_call_huge_args": lambda: {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"function": {"arguments": '{"a":' * 100_000}}],
    },
}


@pytest.mark.parametrize("shape", sorted(OBJECT_SHAPES))
@pytest.mark.parametrize("spec", ["auto", "pairwise", "score:1-10", "label"])
def test_object_shapes(shape: str, spec: str) -> None:
    result = _outcome(OBJECT_SHAPES[shape](), spec)
    if isinstance(result, jg.Judgment):
        assert isinstance(result.rationale, str) and isinstance(result.raw, str)


def test_huge_int_score_is_out_of_range() -> None:
    with pytest.raises(jg.ScoreOutOfRange):
        jg.parse({"score": 10**5000}, verdict="score:1-10")


def test_unreadable_object_is_unsupported() -> None:
    with pytest.raises(jg.UnsupportedOutput):
        jg.parse(_BadStr())


def test_deep_dict_with_top_level_verdict_parses() -> None:
    d = _deep_dict(10_000)
    d["score"] = 6
    j = jg.parse(d)
    assert j.verdict.value == 6


def test_big_bytes_decoded_in_steps_like_at_once() -> None:
    # multi-byte characters cut by the 1 MB decode steps, invalid bytes at the end
    data = ("é€😀 [[A>B]]\n" * 200_000).encode()[:3_000_001] + b"\xff\xc3"
    j = jg.parse(data)
    assert j.raw == data.decode("utf-8", errors="replace")
    assert j.verdict.render() == "A>B"
