"""Shared by the reward tests, the reward server tests and benchmarks/rewards.py: one loopback
responder that plays both the policy's judge (model ``policy-judge``) and the MetaJudge.

A completion carries its own script: ``"... support=0.8 verdict=pass"``. The judge (an
LLMJudge with the ``reference`` preset, or :func:`text_judge`) answers a rationale that
repeats ``support=0.8`` and the verdict ``Label: pass``; the MetaJudge reads ``support=0.8``
from the rationale and answers P(pass) = 0.8. So R_rationale is 0.8 for a pass verdict
(0.2 for fail), and R_outcome is 1 for pass, 0 for fail (or 1/0 against a label).
"""

from __future__ import annotations

import json
import re
from typing import Any

from loopback import Reply

JUDGE_MODEL = "policy-judge"
_SUPPORT = re.compile(r"support=([0-9.]+)")
_VERDICT = re.compile(r"verdict=(pass|fail)")
_SLOW = re.compile(r"slow=([0-9.]+)")


def script(completion: str) -> tuple[float, str]:
    """(support, verdict) a completion asks for (default: pass, and a support between 0.1 and
    0.9 from its length, so that unscripted completions, a policy's, get varied rewards)."""
    s = _SUPPORT.search(completion)
    v = _VERDICT.search(completion)
    default = (len(completion) % 9 + 1) / 10
    return (float(s.group(1)) if s else default, v.group(1) if v else "pass")


def judge_answer(completion: str) -> str:
    """What the judge answers for a completion: a rationale, then ``Label: v``."""
    support, verdict = script(completion)
    return (
        f"The response was compared with the reference step by step. support={support}\n\n"
        f"Label: {verdict}"
    )


def text_judge(prompt: str, completion: str, **row: Any) -> str:
    """A user judge function (no LLM): the scripted answer."""
    return judge_answer(completion)


def _between(text: str, start: str, end: str) -> str:
    i = text.find(start)
    if i < 0:
        return text
    j = text.find(end, i + len(start))
    return text[i + len(start) : j if j >= 0 else None]


def responder(body: dict[str, Any]) -> Any:
    """The loopback reply: the judge's answer (after ``slow=S`` seconds when the completion
    says so) or the MetaJudge's probabilities."""
    content = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    if body.get("model") == JUDGE_MODEL:
        completion = _between(content, "[Assistant response]\n", "\n\nFirst explain")
        slow = _SLOW.search(completion)
        if slow:
            return Reply(judge_answer(completion), delay=float(slow.group(1)))
        return judge_answer(completion)
    m = _SUPPORT.search(content)
    p = float(m.group(1)) if m else 0.5
    return json.dumps(
        {
            "probabilities": {"pass": p, "fail": round(1.0 - p, 6)},
            "explanation": "read from the rationale",
            "unsupported_claims": [],
        }
    )
