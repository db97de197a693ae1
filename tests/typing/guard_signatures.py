"""Checked by mypy (tests/test_typing.py), never run: the guard keeps the judge's types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from typing_extensions import assert_type

import judgeguard as jg
from judgeguard.cache import CacheOption
from judgeguard.guarding import GuardedJudge


@jg.guard
def sync_judge(question: str, answer_a: str, answer_b: str) -> str:
    return "[[A>B]]"


@jg.guard(gate=jg.Gate(review_threshold=0.5), cache=False)
async def async_judge(question: str) -> dict[str, str]:
    return {"verdict": "pass"}


def plain(question: str, *, strict: bool = False) -> int:
    return 1


class Judges:
    @jg.guard
    def method(self, question: str) -> str:
        return "[[A>B]]"


async def uses() -> None:
    judge: GuardedJudge[[str, str, str], str] = sync_judge  # the judge's parameters, kept
    del judge
    assert_type(sync_judge("q", "a", "b"), str)
    result = sync_judge.run("q", "a", "b")
    assert_type(result, jg.GuardResult[str])
    assert_type(result.output, str)
    assert_type(result.check(1.0), jg.Check)
    assert_type(result.judgment, jg.Judgment | None)
    assert_type(result.reward(), float | None)
    assert_type(await sync_judge.arun("q", "a", "b"), jg.GuardResult[str])

    pending = assert_type(async_judge("q"), Coroutine[Any, Any, dict[str, str]])
    assert_type(await pending, dict[str, str])
    handle = await async_judge.arun("q")
    assert_type(handle, jg.GuardResult[dict[str, str]])
    assert_type(await handle.acheck(), jg.Check)

    wrapped = jg.guard(plain, metajudge="openai/gpt-4o-mini", offload="thread")
    assert_type(wrapped("q", strict=True), int)
    assert_type(Judges().method("q"), str)

    checker = jg.Checker(gate=jg.Gate(on_error="zero"))
    assert_type(checker.submit({"score": 1}), jg.GuardResult[dict[str, int]])
    options: CacheOption = "/tmp/cache"
    assert_type(jg.guard(plain, cache=options).cache, jg.DiskCache | None)
    deco: Callable[[Callable[[str], Awaitable[str]]], object] = jg.guard(sample=0.5)
    del deco
    assert_type(jg.guard(plain, check_timeout=2.5, on_unparsed="raise")("q"), int)
    assert_type(jg.Checker(check_timeout=1.0, sample=0.5).settings.check_timeout, float | None)


def misuse() -> None:
    sync_judge("q")  # type: ignore[call-arg]
    sync_judge("q", "a", 3)  # type: ignore[arg-type]
    jg.guard(plain, sample="all")  # type: ignore[call-overload]
    jg.guard(plain, gate=0.3)  # type: ignore[call-overload]
    wrapped = jg.guard(plain)
    wrapped("q", strict="yes")  # type: ignore[arg-type]
    jg.guard(plain, check_timeout="soon")  # type: ignore[call-overload]
    jg.Checker(sample="all")  # type: ignore[arg-type]
    jg.Checker(metajuge="openai/gpt-4o-mini")  # type: ignore[call-arg]
