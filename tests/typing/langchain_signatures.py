"""Checked by mypy (tests/test_typing.py), never run: the LangChain wrappers take the
check options typed (one ``SettingsOptions``/``CheckOptions`` mapping, as ``jg.guard``)."""

from __future__ import annotations

from judgeguard_langchain import JudgeGuardCallbackHandler, JudgeGuardRunnable

import judgeguard as jg


def uses() -> None:
    JudgeGuardRunnable(lambda x: x, check_timeout=1.0, on_unparsed="raise", wait=True)
    JudgeGuardCallbackHandler(check_timeout=1.0, gate=jg.Gate(), sample=0.5)


def misuse() -> None:
    JudgeGuardCallbackHandler(on_unparsed="raise")  # type: ignore[call-arg]
    JudgeGuardRunnable(lambda x: x, check_timeout="soon")  # type: ignore[arg-type]
    JudgeGuardRunnable(lambda x: x, metajuge="openai/gpt-4o-mini")  # type: ignore[call-arg]
