"""Use a rationale-gated LLM judge as the reward of an RL trainer (TRL, verl, OpenRLHF).

Runs offline: the judge (a ``jg.LLMJudge`` with the ``reference`` preset) and the MetaJudge
both talk to the repo's loopback OpenAI-compatible server (tests/loopback.py), which plays
them from a script in each completion (``support=0.8 verdict=pass``; see
tests/reward_helpers.py). With a real provider, drop ``api_base``/``api_key`` and name real
models. Run: python examples/rl_reward.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no remote cost-map fetch
os.environ.setdefault("JUDGEGUARD_CACHE_DIR", tempfile.mkdtemp(prefix="judgeguard-example-"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from loopback import LoopbackLLM
from reward_helpers import JUDGE_MODEL, responder

import judgeguard as jg
from judgeguard import rewards


def trl(server: LoopbackLLM) -> None:
    """TRL: pass the function in ``reward_funcs``; GRPOTrainer calls it once per batch."""
    judge = jg.LLMJudge(
        f"openai/{JUDGE_MODEL}", prompt="reference", api_base=server.base_url, api_key="k"
    )
    metajudge = jg.MetaJudge("openai/judge-test", api_base=server.base_url, api_key="k")
    reward = jg.reward_fn(judge, metajudge=metajudge)
    # trainer = GRPOTrainer(model=..., reward_funcs=[reward], train_dataset=dataset, ...)
    # Here we call it the way GRPOTrainer does: prompts, completions and dataset columns.
    prompts = [[{"role": "user", "content": "What is 2 + 2?"}]] * 3
    completions = [
        [{"role": "assistant", "content": "2 + 2 = 4. support=0.9 verdict=pass"}],
        [{"role": "assistant", "content": "It is 5. support=0.8 verdict=fail"}],
        [{"role": "assistant", "content": "4, trust me. support=0.1 verdict=pass"}],
    ]
    values = reward(prompts, completions, reference=["4", "4", "4"])
    print("TRL rewards:", [None if v is None else round(v, 3) for v in values])
    print("  for the trainer's logger:", {k: round(v, 3) for k, v in reward.metrics().items()})


def verl(server: LoopbackLLM) -> None:
    """verl: custom_reward_function.path/name point at judgeguard.rewards.compute_score."""
    config = {
        "judge_model": f"openai/{JUDGE_MODEL}",
        "judge_prompt": "reference",
        "judge_kwargs": {"api_base": server.base_url, "api_key": "k"},
        "metajudge": "openai/judge-test",
        "metajudge_kwargs": {"api_base": server.base_url, "api_key": "k"},
    }
    path = Path(tempfile.mkdtemp(prefix="judgeguard-example-")) / "reward.json"
    path.write_text(json.dumps(config))
    os.environ["JUDGEGUARD_REWARD_CONFIG"] = str(path)
    result = rewards.compute_score(
        "gsm8k", "The answer is 4. support=0.7 verdict=pass", "4", {"question": "What is 2 + 2?"}
    )
    print("verl compute_score:", result)


def main() -> None:
    with LoopbackLLM(responder) as server:
        trl(server)
        verl(server)
    print(
        "OpenRLHF: judgeguard serve --judge-model MODEL --judge-prompt reference "
        "--metajudge MODEL --port 8000, then --remote_rm_url http://127.0.0.1:8000/get_reward"
    )


if __name__ == "__main__":
    main()
