"""Guard a pairwise LangChain judge chain (prompt | chat model | StrOutputParser).

Runs offline: the judge is LangChain's GenericFakeChatModel and the MetaJudge answers
through litellm's ``mock_response``. Swap in a real chat model and a real MetaJudge
model (``jg.MetaJudge("openai/gpt-4o-mini")``) and nothing else changes.

Run: python examples/langchain_pairwise_chain.py
"""

from __future__ import annotations

import json
import os
import tempfile

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no remote cost-map fetch
os.environ.setdefault("JUDGEGUARD_CACHE_DIR", tempfile.mkdtemp(prefix="judgeguard-example-"))

from typing import Any
from uuid import UUID

from judgeguard_langchain import JudgeGuardCallbackHandler, JudgeGuardRunnable
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

import judgeguard as jg

QUESTION = "Write a Python function that returns the index of x in a sorted list, or -1."
ANSWER_A = "def find(xs, x):\n    lo, hi = 0, len(xs) - 1\n    while lo < hi: ..."
ANSWER_B = "def find(xs, x):\n    lo, hi = 0, len(xs) - 1\n    while lo <= hi: ..."
REASONING = (
    "Assistant A's loop `while lo < hi` never inspects the last remaining element, so "
    "find([1, 2, 3], 3) returns -1. Assistant B's `while lo <= hi` checks every element "
    "and handles the empty list."
)
# What the (fake) judge model says: the same reasoning, once with the verdict it supports
# and once with a verdict that contradicts it.
HONEST = f"{REASONING}\n\nMy final verdict is: [[B>>A]]"
CONTRADICTORY = f"{REASONING}\n\nMy final verdict is: [[A>>B]]"

# The MetaJudge reads the reasoning with the verdict removed and says what it supports.
METAJUDGE_ANSWER = json.dumps(
    {
        "probabilities": {"A>>B": 0.0, "A>B": 0.02, "A=B": 0.03, "B>A": 0.25, "B>>A": 0.7},
        "explanation": "The reasoning shows A misses the last element and B is correct.",
        "unsupported_claims": [],
    }
)

PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "Compare the two answers. Explain, then end with one of "
            "[[A>>B]], [[A>B]], [[A=B]], [[B>A]], [[B>>A]].",
        ),
        ("human", "Question: {question}\n\n[A]\n{answer_a}\n\n[B]\n{answer_b}"),
    ]
)


class PrintCheckEvents(BaseCallbackHandler):
    """Shows the ``judgeguard.check`` custom event a LangChain tracer would see."""

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        print(f"  custom event {name!r} on run {str(run_id)[:8]}: {data}")


def show(check: jg.Check) -> None:
    print(
        f"  check: status={check.status} verdict={check.verdict.render()} "
        f"supported={check.supported.render() if check.supported else None} "
        f"R_rationale={check.r_rationale:.2f} reward={check.reward} "
        f"needs_review={check.needs_review}"
    )


def main() -> None:
    metajudge = jg.MetaJudge("openai/metajudge", mock_response=METAJUDGE_ANSWER, retries=0)
    model = GenericFakeChatModel(messages=iter([HONEST, CONTRADICTORY, HONEST]))
    judge = PROMPT | model | StrOutputParser()
    # "label" is the gold verdict (when you have one, e.g. training a GenRM): the gated
    # reward is R_rationale x R_outcome. Without a label, R_outcome is the verdict's own
    # preference for A. The guard reads question, answers and label from the input keys.
    inputs = {"question": QUESTION, "answer_a": ANSWER_A, "answer_b": ANSWER_B}

    # 1. Wrap the chain. wait=True: the run ends after the check, so the check summary
    #    also reaches LangChain callbacks (custom event + run metadata).
    guarded = JudgeGuardRunnable(judge, metajudge=metajudge, wait=True, name="pairwise judge")
    cases = [
        ("honest judge, right verdict", "B>>A"),
        # the verdict matches this (made-up) gold label, but the reasoning argues for B:
        # a correct outcome must not buy back unsupported reasoning
        ("right verdict for the wrong reasons", "A>>B"),
    ]
    for title, label in cases:
        print(f"{title} (gold label {label}):")
        handle = guarded.invoke_with_check(
            {**inputs, "label": label}, {"callbacks": [PrintCheckEvents()]}
        )
        print(f"  judge returned (unchanged): ...{handle.output[-30:]!r}")
        show(handle.check())

    # 2. Cannot wrap the chain? Attach a callback handler to the judge model instead.
    #    The question comes from the prompt's last human message; per-call context such
    #    as the label can ride along in the run metadata under "judgeguard_context".
    handler = JudgeGuardCallbackHandler(metajudge=metajudge)
    model.invoke(
        PROMPT.invoke(inputs),
        config={"callbacks": [handler], "metadata": {"judgeguard_context": {"label": "B>>A"}}},
    )
    print("callback handler on the chat model:")
    for check in handler.checks(timeout=30):
        show(check)
    jg.flush(30)


if __name__ == "__main__":
    main()
