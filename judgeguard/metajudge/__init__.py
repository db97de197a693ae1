"""The MetaJudge stage: a second LLM that judges the judge's reasoning (litellm, lazily)."""

from judgeguard.metajudge.judge import CheckFailed, InvalidCheckInput, MetaJudge, SelfGradingWarning

__all__ = ["CheckFailed", "InvalidCheckInput", "MetaJudge", "SelfGradingWarning"]
