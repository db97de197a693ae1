"""See judge reliability in Arize Phoenix: each guarded judge call's check as span annotations.

Needs a Phoenix server (``pip install arize-phoenix && phoenix serve``; default
http://127.0.0.1:6006, or set PHOENIX_ENDPOINT) and ``pip install 'judgeguard[sinks]'``.
The MetaJudge here is the repo's loopback OpenAI-compatible server (tests/loopback.py),
so it runs without a provider; with a real one, name a real model and drop
``api_base``/``api_key``. Run: python examples/phoenix_sink.py, then open the project
``judgeguard-example`` in Phoenix: each ``judge`` span has its ``evaluate`` child, and the
``rationale_consistency`` and ``gated_reward`` annotations.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no remote cost-map fetch
os.environ.setdefault("JUDGEGUARD_CACHE_DIR", tempfile.mkdtemp(prefix="judgeguard-example-"))
os.environ.setdefault("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from loopback import LoopbackLLM
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import judgeguard as jg
from judgeguard.sinks import Phoenix

ENDPOINT = os.environ.get("PHOENIX_ENDPOINT", "http://127.0.0.1:6006")
PROJECT = "judgeguard-example"

#: (question, the judge's output, what the MetaJudge finds its rationale supports, and why)
CASES = [
    (
        "Which binary search is correct?",
        "Assistant A's loop `while lo < hi` never inspects the last element, so "
        "find([1, 2, 3], 3) returns -1. Assistant B's loop is correct and handles the empty "
        "list.\n\nMy final verdict is: [[B>>A]]",
        {"A>>B": 0.0, "A>B": 0.02, "A=B": 0.03, "B>A": 0.15, "B>>A": 0.8},
        "A has a concrete off-by-one bug and B none: the reasons support B>>A.",
    ),
    (
        "Which summary is faithful to the article?",
        "Summary A invents a 2019 date the article never gives; Summary B keeps every figure "
        "and only drops a quote.\n\nMy final verdict is: [[A>B]]",  # contradicts its reasons
        {"A>>B": 0.02, "A>B": 0.05, "A=B": 0.08, "B>A": 0.6, "B>>A": 0.25},
        "The rationale faults Summary A (an invented date) and praises B: it supports B>A, "
        "not the verdict A>B.",
    ),
    (
        "Which answer explains recursion better?",
        "Both define recursion correctly; A adds a base-case example, B a stack diagram. "
        "Neither is clearly better.\n\nMy final verdict is: [[A=B]]",
        {"A>>B": 0.02, "A>B": 0.2, "A=B": 0.6, "B>A": 0.15, "B>>A": 0.03},
        "Both answers are credited with one strength each: a tie is what the reasons support.",
    ),
]


def metajudge_answer(body: dict) -> str:
    """The loopback MetaJudge: finds which case the prompt is about, answers its support."""
    prompt = json.dumps(body["messages"])
    for _, output, probabilities, explanation in CASES:
        if output.split("\n")[0][:40] in prompt:
            return json.dumps({"probabilities": probabilities, "explanation": explanation})
    return json.dumps({"probabilities": {"A=B": 1.0}, "explanation": "unknown case"})


def pairwise_judge(question: str, index: int) -> str:
    """Your judge: its LLM call goes here (this one replays a logged output)."""
    return CASES[index][1]


def main() -> None:
    # 1. your own OpenTelemetry setup, sending spans to Phoenix (or phoenix.otel.register())
    provider = TracerProvider(resource=Resource.create({"openinference.project.name": PROJECT}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(f"{ENDPOINT}/v1/traces")))
    trace.set_tracer_provider(provider)

    # 2. the sink: each finished check becomes annotations on its judge span
    phoenix = Phoenix(ENDPOINT, project_name=PROJECT)

    with LoopbackLLM(responder=metajudge_answer) as server:
        metajudge = jg.MetaJudge("openai/judge-test", api_base=server.base_url, api_key="k")

        # 3. on_result=phoenix
        judge = jg.guard(pairwise_judge, metajudge=metajudge, on_result=phoenix)
        for index, case in enumerate(CASES):
            judge(case[0], index)
        jg.flush(30)
    provider.force_flush()
    left = phoenix.close(30)
    print(f"{len(CASES) - left} checks annotated in Phoenix: {ENDPOINT} (project {PROJECT})")


if __name__ == "__main__":
    main()
