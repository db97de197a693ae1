"""Remake docs/img/mlflow.png: four guarded judge calls into a running MLflow server, then
a headless-Chromium screenshot of the inconsistent one's trace with its feedback open.

    .venv-mlflow/bin/mlflow server --backend-store-uri sqlite:////tmp/m/mlflow.db \\
        --default-artifact-root /tmp/m/artifacts --port 5078 --workers 1 &
    python3 -m venv /tmp/pw && /tmp/pw/bin/pip install playwright   # driver only
    apt-get install chromium                                        # the browser
    .venv/bin/python docs/mlflow_screenshot.py http://127.0.0.1:5078 --python /tmp/pw/bin/python

The MetaJudge answers from the tests' loopback server (no LLM provider is called).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import requests
from opentelemetry.sdk.trace import TracerProvider

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from loopback import LoopbackLLM  # noqa: E402

import judgeguard as jg  # noqa: E402

QUESTION = "Binary search: which implementation is correct?"
ANSWER_A = "def find(xs, x):\n    lo, hi = 0, len(xs) - 1\n    while lo < hi: ..."
ANSWER_B = "def find(xs, x):\n    lo, hi = 0, len(xs) - 1\n    while lo <= hi: ..."
EXPLANATION = (
    "The rationale shows A's loop misses the last element and B's handles every case: "
    "it supports B>>A."
)
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOOT = textwrap.dedent(
    """
    import sys
    from playwright.sync_api import sync_playwright
    url, out, flags = sys.argv[1], sys.argv[2], sys.argv[3:]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=flags)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(url)
        page.wait_for_timeout(5000)
        drawer = '[data-component-id="mlflow.evaluations_review.modal"]'
        page.locator(drawer + ' [data-component-id$=".modal.fullscreen"]').click()
        page.wait_for_timeout(800)
        page.locator('[data-component-id$="assessments-pane-toggle"]').click()
        page.wait_for_timeout(1500)
        card = page.get_by_text("rationale_consistency", exact=True).last
        card = card.locator("xpath=ancestor::div[.//button][1]/..")
        card.locator('[data-component-id$="toggle-assessment-expanded"]').click()
        page.wait_for_timeout(800)
        page.screenshot(path=out)
        browser.close()
    """
)


def support_answer(_body: dict[str, Any]) -> str:
    """The MetaJudge's answer: the (redacted) rationale supports B>>A."""
    probabilities = {"A>>B": 0.02, "A>B": 0.03, "A=B": 0.05, "B>A": 0.2, "B>>A": 0.7}
    return json.dumps(
        {"probabilities": probabilities, "explanation": EXPLANATION, "unsupported_claims": []}
    )


def arena_judge(question: str, answer_a: str, answer_b: str, label: str, verdict: str) -> str:
    """A judge whose rationale argues for B, whatever verdict it is told to give."""
    return (
        "Assistant A's loop `while lo < hi` never inspects the last element, so "
        "find([1, 2, 3], 3) returns -1. Assistant B's loop is correct and handles the "
        f"empty list.\n\nMy final verdict is: [[{verdict}]]"
    )


def make_traces(url: str) -> str:
    """Four guarded judge calls into a new experiment; the inconsistent one's trace id."""
    created = requests.post(
        f"{url}/api/2.0/mlflow/experiments/create",
        json={"name": f"judge-reliability-{uuid.uuid4().hex[:6]}"},
        timeout=10,
    )
    created.raise_for_status()
    experiment = created.json()["experiment_id"]
    checks: list[jg.Check] = []
    with LoopbackLLM(support_answer) as server:
        sink = jg.sinks.MLflow(url, experiment_id=experiment)
        provider = TracerProvider()
        provider.add_span_processor(sink.span_processor())
        jg.configure_telemetry(provider, capture_content=True)
        mj = jg.MetaJudge("openai/gpt-4o-mini", api_base=server.base_url, api_key="k")

        judge = jg.guard(arena_judge, metajudge=mj, on_result=[sink, checks.append])

        for verdict in ["B>>A", "A>B", "B>>A", "B>A"]:
            judge(QUESTION, ANSWER_A, ANSWER_B, "B>>A", verdict)
        jg.flush(30)
        sink.close(60)
        provider.shutdown()
    (worst,) = [c for c in checks if c.status == "inconsistent"]
    return f"{url}/#/experiments/{experiment}/traces?selectedEvaluationId=tr-{worst.trace_id}"


def main() -> None:
    """Make the traces, then the screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="a running MLflow tracking server")
    parser.add_argument("--python", default=sys.executable, help="a Python with playwright")
    parser.add_argument("--out", default=str(ROOT / "docs" / "img" / "mlflow.png"))
    args = parser.parse_args()
    page = make_traces(args.url.rstrip("/"))
    subprocess.run([args.python, "-c", SHOOT, page, args.out, *CHROMIUM_FLAGS], check=True)
    print(args.out)


if __name__ == "__main__":
    main()
