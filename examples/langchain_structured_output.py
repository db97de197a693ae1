"""Guard a structured-output judge: ``with_structured_output`` to a pydantic verdict model.

Runs offline. ``with_structured_output`` needs a tool-calling chat model; LangChain's
``GenericFakeChatModel`` has no ``bind_tools``, so this example adds the few lines that
give it one (its scripted replies already carry the tool call). With a real model
(``ChatOpenAI(...).with_structured_output(PairwiseVerdict)``) the guard is the same.
The MetaJudge answers through litellm's ``mock_response``.

Run: python examples/langchain_structured_output.py
"""

from __future__ import annotations

import json
import os
import tempfile

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no remote cost-map fetch
os.environ.setdefault("JUDGEGUARD_CACHE_DIR", tempfile.mkdtemp(prefix="judgeguard-example-"))

from collections.abc import Callable, Sequence
from typing import Any, Literal

from judgeguard_langchain import JudgeGuardRunnable
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field

import judgeguard as jg


class PairwiseVerdict(BaseModel):
    """The judge's structured verdict on two candidate answers."""

    reasoning: str = Field(description="Specific evidence for the verdict, step by step.")
    winner: Literal["A", "B", "tie"] = Field(description="The better answer.")


class ToolCallingFakeChatModel(GenericFakeChatModel):
    """GenericFakeChatModel plus ``bind_tools``, so that ``with_structured_output`` works."""

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any]],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Any:
        return self.bind(
            tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs
        )


def tool_call(reasoning: str, winner: str) -> AIMessage:
    """A scripted model reply: the verdict as a tool call, as a real model sends it."""
    args = {"reasoning": reasoning, "winner": winner}
    return AIMessage(content="", tool_calls=[{"name": "PairwiseVerdict", "args": args, "id": "c1"}])


PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "Compare the two answers to the question and give a structured verdict."),
        ("human", "Question: {question}\n\n[A]\n{answer_a}\n\n[B]\n{answer_b}"),
    ]
)
REASONING = (
    "Answer A says the capital of Australia is Sydney, which is wrong; Answer B correctly "
    "names Canberra and adds that it was purpose-built as a compromise between Sydney "
    "and Melbourne."
)
METAJUDGE_ANSWER = json.dumps(
    {
        "probabilities": {"A>B": 0.03, "A=B": 0.05, "B>A": 0.92},
        "explanation": "The reasoning shows A is factually wrong and B is right.",
        "unsupported_claims": [],
    }
)


def main() -> None:
    # the judge model's two scripted replies: the same reasoning with the verdict it
    # supports (B), then with a verdict that contradicts it (A)
    model = ToolCallingFakeChatModel(
        messages=iter([tool_call(REASONING, "B"), tool_call(REASONING, "A")])
    )
    judge = PROMPT | model.with_structured_output(PairwiseVerdict)
    metajudge = jg.MetaJudge("openai/metajudge", mock_response=METAJUDGE_ANSWER, retries=0)
    guarded = JudgeGuardRunnable(judge, metajudge=metajudge)

    inputs = {
        "question": "What is the capital of Australia?",
        "answer_a": "Sydney.",
        "answer_b": "Canberra, purpose-built as a compromise between Sydney and Melbourne.",
    }
    for _ in range(2):
        handle = guarded.invoke_with_check(inputs)  # .invoke() returns handle.output
        verdict = handle.output  # the PairwiseVerdict the chain returned, unchanged
        check = handle.check(timeout=30)
        print(
            f"judge returned {type(verdict).__name__}(winner={verdict.winner!r}, "
            f"reasoning={verdict.reasoning[:40]!r}...)"
        )
        print(
            f"  check: status={check.status} verdict={check.verdict.render()} "
            f"supported={check.supported.render() if check.supported else None} "
            f"R_rationale={check.r_rationale:.2f} needs_review={check.needs_review}"
        )


if __name__ == "__main__":
    main()
