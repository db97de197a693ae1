"""A real trainer: 2 GRPOTrainer steps on CPU with reward_funcs=[jg.reward_fn(...)].

A tiny Llama built from a config and a word-level tokenizer built here (no hub download);
the judge (jg.LLMJudge) and the MetaJudge on the loopback server. Skipped when torch or trl
is not installed: pip install torch==2.13.0 trl (see README, Development).
"""

import math

import pytest
from reward_helpers import JUDGE_MODEL, responder

import judgeguard as jg

pytestmark = [pytest.mark.trainer, pytest.mark.usefixtures("isolated_judgeguard")]
torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")
transformers = pytest.importorskip("transformers")
datasets = pytest.importorskip("datasets")
tokenizers = pytest.importorskip("tokenizers")

WORDS = [
    "the",
    "a",
    "is",
    "it",
    "four",
    "five",
    "two",
    "plus",
    "what",
    "answer",
    "yes",
    "no",
    "sum",
    "of",
    "and",
    "one",
    "three",
]


def tiny_tokenizer():
    specials = ["<pad>", "<eos>", "<unk>"]
    vocab = {w: i for i, w in enumerate(specials + WORDS + [str(i) for i in range(10)] + ["?"])}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    tok.decoder = tokenizers.decoders.WordPiece(prefix="##")  # joins words with spaces
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )


def tiny_model(vocab_size):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
        pad_token_id=0, eos_token_id=1, bos_token_id=1,
    )  # fmt: skip
    return transformers.LlamaForCausalLM(config)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_two_grpo_steps_on_cpu_with_the_gated_reward(loopback_llm, tmp_path, asynchronous):
    loopback_llm.responder = responder
    opts = {"api_base": loopback_llm.base_url, "api_key": "k", "retries": 0, "timeout": 10}
    judge = jg.LLMJudge(f"openai/{JUDGE_MODEL}", prompt="reference", **opts)
    metajudge = jg.MetaJudge("openai/judge-test", **opts)
    reward = jg.reward_fn(judge, metajudge=metajudge, cache=False, asynchronous=asynchronous)
    rf = reward.reward if asynchronous else reward  # the RewardFunction behind it
    seen = []
    original = rf.acall

    async def spy(prompts, completions, **kwargs):
        out = await original(prompts, completions, **kwargs)
        seen.append((out, list(rf.last_checks)))
        return out

    rf.acall = spy
    tokenizer = tiny_tokenizer()
    data = datasets.Dataset.from_dict(
        {
            "prompt": ["what is two plus two ?", "what is one plus three ?"] * 4,
            "reference": ["4", "4"] * 4,
        }
    )
    config = trl.GRPOConfig(
        output_dir=str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=4,
        num_generations=2, max_completion_length=6, learning_rate=1e-3, logging_steps=1,
        report_to=[], use_cpu=True, bf16=False, fp16=False, save_strategy="no",
        dataloader_num_workers=0, seed=0,
    )  # fmt: skip
    trainer = trl.GRPOTrainer(
        model=tiny_model(len(tokenizer)), processing_class=tokenizer,
        reward_funcs=[reward], args=config, train_dataset=data,
    )  # fmt: skip
    trainer.train()
    assert trainer.state.global_step == 2
    logged = [h for h in trainer.state.log_history if "rewards/judgeguard/mean" in h]
    assert len(logged) == 2
    assert len(seen) >= 2
    for out, checks in seen:
        assert len(out) == 4 and len(checks) == 4
        for value, check in zip(out, checks, strict=True):
            assert check.status in ("consistent", "inconsistent"), check
            assert value == pytest.approx(check.r_rationale * check.r_outcome)
    # the trainer logged exactly what the reward function returned
    for entry, (out, _) in zip(logged, seen[-2:], strict=True):
        assert entry["rewards/judgeguard/mean"] == pytest.approx(sum(out) / len(out), abs=1e-5)
        assert not math.isnan(entry["judgeguard/mean_r_rationale"])
        assert entry["judgeguard/share_failed"] == 0.0
