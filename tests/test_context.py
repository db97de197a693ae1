"""judgeguard.context: one way to find a check's context, shared by the guard and LangChain."""

from __future__ import annotations

import pytest

import judgeguard as jg
from judgeguard.context import (
    AUTO_CONTEXT,
    ContextError,
    auto_context,
    context_from_input,
    context_from_messages,
    pick_context,
)


def test_common_names_map_to_context_keys_first_match_wins():
    values = {"prompt": "Q?", "query": "ignored", "answer_a": "x", "b": "y", "gold": "A>B"}
    assert auto_context(values) == {
        "question": "Q?",
        "response_a": "x",
        "response_b": "y",
        "label": "A>B",
    }
    assert auto_context({"question": None, "input": "Q"}) == {"question": "Q"}


def test_a_reference_that_is_not_a_list_of_reasons_is_a_reference_answer():
    assert auto_context({"reference": ["r1", "r2"]}) == {"reference": ["r1", "r2"]}
    assert auto_context({"reference": "the answer"}) == {"reference_answer": "the answer"}


def test_picked_names_that_are_missing_raise_a_context_error_naming_them():
    assert pick_context({"question": "q"}, {"q": 1}, names="keys", where="") == {"question": 1}
    assert pick_context(["q"], {"q": 1}, names="keys", where="") == {"q": 1}
    with pytest.raises(ContextError, match=r"names parameters \['nope'\] that f lacks"):
        pick_context({"question": "nope"}, {}, names="parameters", where="that f lacks")
    assert issubclass(ContextError, jg.GuardConfigError)


def test_the_guard_and_langchain_read_the_same_names():
    import judgeguard.guarding as guarding

    assert guarding.AUTO_CONTEXT is AUTO_CONTEXT
    seen = {}

    @jg.guard(cache=False, on_result=lambda c: None)
    def judge(instruction, completion_a, completion_b):
        return "B is right.\n[[B>A]]"

    seen.update(judge._context(("Q?", "x", "y"), {}))
    assert seen == context_from_input(
        None, {"instruction": "Q?", "completion_a": "x", "completion_b": "y"}
    )


def test_messages_give_the_last_human_text_as_the_question():
    assert context_from_messages([("user", "first"), ("assistant", "a"), ("human", "last")]) == {
        "question": "last"
    }
    assert context_from_messages([("system", "s")]) == {}
