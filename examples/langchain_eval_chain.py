"""Guard a LangChain evaluation-chain style judge: output ``{"reasoning", "value", "score"}``.

LangChain's criteria evaluators (``load_evaluator("criteria")``) end their reasoning with
``Y`` or ``N`` on the last line and return ``{"reasoning", "value", "score"}``. This
example builds the same shape with langchain-core only (prompt | chat model | a parser
like theirs), guards it, and reads the check as the ``judgeguard.check`` custom event
in ``astream_events`` — what a LangSmith or OpenInference tracer sees on the run.

Runs offline: GenericFakeChatModel as the judge, litellm's ``mock_response`` as the
MetaJudge's answer. Run: python examples/langchain_eval_chain.py
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no remote cost-map fetch
os.environ.setdefault("JUDGEGUARD_CACHE_DIR", tempfile.mkdtemp(prefix="judgeguard-example-"))

from typing import Any

from judgeguard_langchain import JudgeGuardRunnable
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

import judgeguard as jg

PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "human",
            "You are assessing a submitted answer on a given task based on a criterion.\n"
            "[Task]: {input}\n[Submission]: {output}\n[Criteria]: {criteria}\n"
            "Reason step by step, then print only Y or N on its own line.",
        )
    ]
)
REASONING = (
    "The task asks for 17 * 24. The submission answers 418. 17 * 24 = 408, so the "
    "submission is off by 10 and is not correct."
)
METAJUDGE_ANSWER = json.dumps(
    {
        "probabilities": {"y": 0.04, "n": 0.96},
        "explanation": "The reasoning computes 408 and says the submission is not correct.",
        "unsupported_claims": [],
    }
)


def criteria_result(text: str) -> dict[str, Any]:
    """Split a criteria judgment like LangChain's CriteriaResultOutputParser does."""
    reasoning, _, last = text.strip().rpartition("\n")
    value = last.strip().upper()
    score = {"Y": 1, "N": 0}.get(value)
    return {"reasoning": reasoning.strip(), "value": value, "score": score}


async def main() -> None:
    # the judge model's two scripted replies: the reasoning with the verdict it supports
    # (N), then the same reasoning with a verdict that contradicts it (Y)
    model = GenericFakeChatModel(messages=iter([f"{REASONING}\nN", f"{REASONING}\nY"]))
    evaluator = PROMPT | model | StrOutputParser() | RunnableLambda(criteria_result)
    metajudge = jg.MetaJudge("openai/metajudge", mock_response=METAJUDGE_ANSWER, retries=0)
    # wait=True: the run ends after the check, so its events carry the finished check.
    # input keys "input", "output", "criteria" become question, response and rubric.
    guarded = JudgeGuardRunnable(evaluator, metajudge=metajudge, wait=True, name="correctness")
    example = {"input": "What is 17 * 24?", "output": "418", "criteria": "correctness"}

    # reward = the evaluator's own score (Y = 1, N = 0) x R_rationale: the honest N gives
    # 0 (the submission is wrong); the Y its reasoning contradicts is cut from 1 to ~0.
    for _ in range(2):
        result: dict[str, Any] = {}
        check: dict[str, Any] = {}
        async for event in guarded.astream_events(example, version="v2"):
            if event["event"] == "on_chain_end" and event["name"] == "correctness":
                result = event["data"]["output"]  # the evaluator's dict, unchanged
            elif event["event"] == "on_custom_event" and event["name"] == "judgeguard.check":
                check = event["data"]  # sent on the guard's run, before it ends
        print(f"evaluator returned value={result['value']} score={result['score']}")
        print(
            f"  judgeguard.check event: status={check['status']} verdict={check['verdict']} "
            f"supported={check['supported']} R_rationale={check['r_rationale']:.2f} "
            f"reward={check['reward']:.2f} needs_review={check['needs_review']}"
        )
    await asyncio.to_thread(jg.flush, 30)


if __name__ == "__main__":
    asyncio.run(main())
