"""Every return type a judge function may hand back (DESIGN §4)."""

import dataclasses
import json

import pytest
from pydantic import BaseModel

import judgeguard as jg

REASONING = (
    "Response A cites the 2019 WHO guideline correctly, while Response B invents a "
    "dosage table that does not exist in the source."
)
ARGS = json.dumps({"rationale": REASONING, "winner": "B"})


class PydanticVerdict(BaseModel):
    reasoning: str
    preference: str


@dataclasses.dataclass
class DataclassVerdict:
    Rationale: str
    Score: int


def test_plain_dict_any_key_case():
    j = jg.parse({"Reasoning": REASONING, "Verdict": "A>B"})
    assert (j.verdict.render(), j.format, j.rationale) == ("A>B", "mapping", REASONING)
    assert j.raw.startswith("{")


def test_nested_dict():
    j = jg.parse({"evaluation": {"analysis": REASONING, "final_score": 8}}, verdict="score:1-10")
    assert j.verdict.render() == "8" and j.verdict.scale == (1, 10)
    assert j.rationale == REASONING


def test_pydantic_model():
    j = jg.parse(PydanticVerdict(reasoning=REASONING, preference="Response 1"))
    assert j.verdict.render() == "A>B" and j.rationale == REASONING


def test_dataclass():
    j = jg.parse(DataclassVerdict(Rationale=REASONING, Score=4), verdict="score:1-5")
    assert j.verdict.outcome() == 0.75 and j.rationale == REASONING


def test_langchain_criteria_evaluator_result():
    result = {
        "reasoning": REASONING + "\n\nTherefore the submission is not correct.",
        "value": "N",
        "score": 0,
    }
    j = jg.parse(result)
    assert j.verdict.render() == "n" and j.verdict.outcome() == 0.0
    assert j.rationale == REASONING


def test_langchain_pairwise_evaluator_result():
    j = jg.parse({"reasoning": REASONING, "value": "A", "score": 1})
    assert j.verdict.render() == "A>B"


def test_openevals_results():
    j = jg.parse({"key": "correctness", "score": True, "comment": REASONING, "metadata": None})
    assert (j.verdict.kind, j.verdict.outcome(), j.rationale) == ("label", 1.0, REASONING)
    j = jg.parse({"key": "helpfulness", "score": 0.8, "comment": REASONING})
    assert j.verdict.render() == "0.8" and j.verdict.outcome() == pytest.approx(0.8)


def test_openai_chat_completion_object():
    from openai.types.chat import ChatCompletion

    completion = ChatCompletion.model_validate(
        {
            "id": "chatcmpl-123",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {
                        "role": "assistant",
                        "content": REASONING + "\n\nMy final verdict is [[A>B]]",
                    },
                }
            ],
        }
    )
    j = jg.parse(completion)
    assert j.verdict.render() == "A>B" and j.rationale == REASONING
    assert (j.judge_model, j.response_id) == ("gpt-4o", "chatcmpl-123")


def test_openai_completion_with_tool_call_arguments():
    from openai.types.chat import ChatCompletion

    completion = ChatCompletion.model_validate(
        {
            "id": "c1",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "t1",
                                "type": "function",
                                "function": {
                                    "name": "submit_verdict",
                                    "arguments": json.dumps(
                                        {"rationale": REASONING, "winner": "B"}
                                    ),
                                },
                            }
                        ],
                    },
                }
            ],
        }
    )
    j = jg.parse(completion)
    assert (j.format, j.verdict.render(), j.rationale) == ("tool_call", "B>A", REASONING)


def test_litellm_model_response_with_reasoning_content():
    import litellm

    resp = litellm.completion(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "judge"}],
        mock_response=REASONING + "\n\nRating: [[7]]",
    )
    j = jg.parse(resp)
    assert j.verdict.render() == "7" and j.rationale == REASONING
    # reasoning models: litellm puts the hidden thoughts in message.reasoning_content
    resp.choices[0].message.reasoning_content = "Thinking: B is wrong, A is right."
    assert jg.parse(resp).thinking == "Thinking: B is wrong, A is right."


def test_openai_style_dicts():
    msg = {"role": "assistant", "content": REASONING + "\nGRADE: I"}
    assert jg.parse(msg).verdict.render() == "i"
    completion = {"id": "x", "model": "m", "choices": [{"message": msg}]}
    assert jg.parse(completion).verdict.render() == "i"


def test_langchain_messages():
    from langchain_core.messages import AIMessage

    # a bare token's preceding sentence naming a side is its conclusion, and is redacted
    msg = AIMessage(
        content=REASONING + "\n\nResponse B is the safer one.\n\n[[B]]",
        id="run-1",
        response_metadata={"model_name": "gpt-4o-mini"},
    )
    j = jg.parse(msg)
    assert j.verdict.render() == "B>A" and j.rationale == REASONING
    assert j.judge_model == "gpt-4o-mini"

    blocks = AIMessage(
        content=[
            {"type": "thinking", "thinking": "A misquotes the guideline."},
            {"type": "text", "text": REASONING + '\nLABEL: "factual"'},
        ]
    )
    j = jg.parse(blocks)
    assert j.verdict.render() == "factual" and j.thinking == "A misquotes the guideline."

    tool = AIMessage(
        content="",
        tool_calls=[
            {"name": "grade", "id": "t", "args": {"explanation": REASONING, "pass": False}}
        ],
    )
    j = jg.parse(tool)
    assert (j.format, j.verdict.render(), j.verdict.outcome()) == ("tool_call", "false", 0.0)


def test_mapping_without_verdict_keys_falls_back_to_its_text():
    j = jg.parse({"output": REASONING + "\nScore: 9", "run_id": 3}, verdict="score:0-10")
    assert j.verdict.render() == "9" and j.rationale == REASONING


def test_unknown_object_is_unsupported_output():
    class Opaque:
        pass

    with pytest.raises(jg.UnsupportedOutput, match="cannot read a judge output of type Opaque"):
        jg.parse(Opaque())
