"""LangChain ``with_structured_output(include_raw=True)`` results: {raw, parsed, parsing_error}."""

import pytest
from pydantic import BaseModel

import judgeguard as jg

langchain_core = pytest.importorskip("langchain_core")
from langchain_core.messages import AIMessage  # noqa: E402


class Grade(BaseModel):
    reasoning: str
    score: int


def _raw(args: dict) -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[{"name": "Grade", "args": args, "id": "call_1"}],
        response_metadata={"model_name": "gpt-judge"},
        id="run-1",
    )


def test_parsed_value_is_read():
    args = {"reasoning": "Correct and complete, cites the source.", "score": 8}
    out = {"raw": _raw(args), "parsed": Grade(**args), "parsing_error": None}
    j = jg.parse(out)
    assert j.verdict.value == 8
    assert j.rationale == "Correct and complete, cites the source."
    assert j.judge_model == "gpt-judge"


def test_parsed_dict_is_read():
    args = {"reasoning": "Misses the second case.", "score": 3}
    j = jg.parse({"raw": _raw(args), "parsed": dict(args), "parsing_error": None})
    assert j.verdict.value == 3


def test_falls_back_to_raw_when_parsing_failed():
    args = {"reasoning": "Clear, but one step is wrong.", "score": 6}
    out = {"raw": _raw(args), "parsed": None, "parsing_error": ValueError("bad schema")}
    j = jg.parse(out)
    assert j.verdict.value == 6
    assert j.rationale == "Clear, but one step is wrong."


def test_raw_text_answer_when_nothing_parsed():
    raw = AIMessage(content="Assistant A is right about the edge case.\n\n[[A>B]]")
    j = jg.parse({"raw": raw, "parsed": None, "parsing_error": None})
    assert j.verdict.render() == "A>B"


def test_no_parsed_and_no_raw_is_not_found():
    with pytest.raises(jg.ParseError):
        jg.parse({"raw": None, "parsed": None, "parsing_error": ValueError("x")})
