"""Gated rewards for RL training: a batch reward function for TRL, verl's ``compute_score``,
and the LLM judge (GenRM) call they can run.

``jg.reward_fn(judge, metajudge=...)`` returns a callable with TRL's ``reward_funcs``
signature, ``(prompts, completions, **kwargs) -> list[float | None]``: for each completion
it calls the judge, parses its output, asks the MetaJudge whether the rationale supports
the verdict, and returns the gated reward ``R_rationale × R_outcome`` — the whole batch
concurrently (bounded), the rewards in input order. Every check runs through the same
check path as the guard (:func:`judgeguard.pipeline.run_check`): same cache, same
traces, same metrics.

A failed check (the judge call failed, its output did not parse, the MetaJudge failed)
gives ``None`` by default: TRL reads ``None`` as "no reward for this sample" (it becomes
NaN and is left out of that sample's summed reward, so it neither rewards nor punishes
the completion). ``on_error="zero"`` gives 0.0 instead, ``on_error="outcome"`` the judge's
own R_outcome (ungated).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from judgeguard import env
from judgeguard._sync import run_sync
from judgeguard.errors import JudgeguardError, safe_str

if TYPE_CHECKING:
    from judgeguard.schema import Check

__all__ = [
    "PRESETS",
    "BatchReport",
    "LLMJudge",
    "RewardConfigError",
    "RewardFunction",
    "compute_score",
    "compute_score_batch",
    "reward_fn",
]

log = logging.getLogger("judgeguard")
T = TypeVar("T")


class RewardConfigError(JudgeguardError, ValueError):
    """A reward option, template or configuration that cannot work (the message says why)."""


# -- the judge --------------------------------------------------------------------------------

#: Named judge prompts: ``(template, verdict spec)``. Templates are ``str.format`` strings over
#: ``prompt``, ``completion`` and the row's columns (``reference``, ``baseline`` …).
PRESETS: dict[str, tuple[str, str]] = {
    "pointwise": (
        "You are an expert evaluator. Rate the quality of the assistant's response to the "
        "user's request on a scale from 1 (useless or wrong) to 10 (excellent): "
        "correctness, helpfulness, completeness.\n\n"
        "[User request]\n{prompt}\n\n[Assistant response]\n{completion}\n\n"
        "First explain your reasoning, pointing at specific parts of the response. Then "
        'give the rating on the last line exactly as "Rating: [[N]]".',
        "score:1-10",
    ),
    "reference": (
        "You are an expert evaluator. Decide whether the assistant's response answers the "
        "user's request correctly, judged against the reference answer.\n\n"
        "[User request]\n{prompt}\n\n[Reference answer]\n{reference}\n\n"
        "[Assistant response]\n{completion}\n\n"
        "First explain your reasoning: compare the response's final answer and key steps "
        "with the reference. Then give the verdict on the last line exactly as "
        '"Label: pass" or "Label: fail".',
        "label:pass,fail",
    ),
    "pairwise": (
        "You are an expert evaluator. Compare two responses to the user's request: "
        "Assistant A (the candidate) and Assistant B (the baseline).\n\n"
        "[User request]\n{prompt}\n\n[Assistant A]\n{completion}\n\n[Assistant B]\n{baseline}\n\n"
        "First explain your reasoning: correctness, helpfulness, completeness. Then give "
        'your final verdict on the last line as "My final verdict is: [[X]]" where X is one '
        "of A>>B, A>B, A=B, B>A, B>>A.",
        "pairwise",
    ),
}


class _Row(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        raise RewardConfigError(
            f"the judge prompt uses {{{key}}}, but the row has no column {key!r} "
            f"(columns: {sorted(self)})"
        )


class LLMJudge:
    """A ready-made generative reward model: one LLM call through litellm per completion.

    ``model`` is a litellm model string; ``prompt`` a preset name (``"pointwise"``: a
    1–10 score with a rationale; ``"reference"``: pass/fail against the row's
    ``reference`` column; ``"pairwise"``: the completion (A) against the row's
    ``baseline`` column (B)) or your own ``str.format`` template over ``{prompt}``,
    ``{completion}`` and any row column; ``verdict`` the parse spec of its answers
    (default: the preset's; ``"auto"`` for a template). ``timeout``, ``retries`` and
    ``backoff`` as for :class:`judgeguard.MetaJudge`; other keyword arguments go to every
    ``litellm.acompletion`` call unchanged (``api_base``, ``temperature`` …).
    Calling it returns the judge's answer text (awaitable: ``await judge(prompt, completion,
    **row)``); a failed call raises :class:`judgeguard.metajudge.client.CallFailed`.
    """

    def __init__(
        self,
        model: str,
        prompt: str = "pointwise",
        verdict: str | None = None,
        *,
        system: str | None = None,
        timeout: float | None = 60.0,
        retries: int = 2,
        backoff: float = 0.5,
        **litellm_kwargs: Any,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise RewardConfigError("LLMJudge needs a litellm model string, e.g. 'openai/gpt-4o'")
        if not isinstance(prompt, str) or not prompt.strip():
            raise RewardConfigError("prompt= must be a preset name or a template string")
        if prompt in PRESETS:
            self.template, preset_verdict = PRESETS[prompt]
            self.preset: str | None = prompt
        else:
            if "{completion}" not in prompt:
                raise RewardConfigError(
                    f"prompt= is neither a preset ({', '.join(PRESETS)}) nor a template "
                    "with a {completion} field"
                )
            self.template, preset_verdict, self.preset = prompt, "auto", None
        self.model = model
        self.verdict = verdict if verdict is not None else preset_verdict
        self.system = system
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.litellm_kwargs = dict(litellm_kwargs)
        self.__name__ = f"LLMJudge({model})"

    def __repr__(self) -> str:
        return f"LLMJudge({self.model!r}, prompt={self.preset or 'custom'!r})"

    def messages(self, prompt: str, completion: str, **row: Any) -> list[dict[str, str]]:
        """The chat messages sent for one completion (raises :class:`RewardConfigError`
        when the template names a column the row does not have)."""
        values = _Row({k: "" if v is None else v for k, v in row.items()})
        values.update(prompt=prompt, completion=completion)
        try:
            text = self.template.format_map(values)
        except (IndexError, ValueError) as exc:
            raise RewardConfigError(f"the judge prompt template is invalid: {exc}") from exc
        out = [{"role": "system", "content": self.system}] if self.system else []
        out.append({"role": "user", "content": text})
        return out

    async def __call__(self, prompt: str, completion: str, **row: Any) -> str:
        """The judge's answer text for one completion."""
        from judgeguard.metajudge.client import RetryPolicy, acall

        result = await acall(
            self.model,
            self.messages(prompt, completion, **row),
            self.litellm_kwargs,
            policy=RetryPolicy(retries=self.retries, base_delay=self.backoff),
            timeout=self.timeout,
        )
        return result.text


# -- the batch --------------------------------------------------------------------------------


@dataclass
class BatchReport:
    """What one batch did: counts and means for a trainer's logger (see :meth:`as_metrics`)."""

    size: int = 0
    unique: int = 0
    duplicates: int = 0
    checked: int = 0
    failed: int = 0
    flagged: int = 0
    cache_hits: int = 0
    mean_reward: float | None = None
    mean_r_rationale: float | None = None
    mean_r_outcome: float | None = None
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)

    def as_metrics(self, prefix: str = "judgeguard/") -> dict[str, float]:
        """Flat ``{name: float}`` for ``trainer.log`` / wandb (missing means are left out)."""
        n = max(self.size, 1)
        values: dict[str, float | None] = {
            "batch_size": float(self.size),
            "mean_reward": self.mean_reward,
            "mean_r_rationale": self.mean_r_rationale,
            "mean_r_outcome": self.mean_r_outcome,
            "share_flagged": self.flagged / n,
            "share_failed": self.failed / n,
            "cache_hits": float(self.cache_hits),
            "duplicates": float(self.duplicates),
            "seconds": self.seconds,
        }
        return {prefix + k: v for k, v in values.items() if v is not None}


def _text(value: Any) -> str:
    """A prompt or completion as text: plain text, or a conversation (list of messages)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        content = value.get("content")
        return _content(content)
    if isinstance(value, Sequence):
        return ""  # handled by the callers (prompt: user turns, completion: last assistant)
    return str(value)


def _content(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):  # multimodal parts: keep the text ones
        return "\n".join(
            str(p.get("text", "")) for p in content if isinstance(p, Mapping) and p.get("text")
        )
    return str(content)


def prompt_text(prompt: Any) -> str:
    """A TRL prompt as text: the string, or a conversation's user turns joined."""
    if isinstance(prompt, str) or prompt is None or isinstance(prompt, Mapping):
        return _text(prompt)
    if isinstance(prompt, Sequence):
        turns = [m for m in prompt if isinstance(m, Mapping)]
        users = [_content(m.get("content")) for m in turns if m.get("role") == "user"]
        return "\n\n".join(users if users else [_content(m.get("content")) for m in turns])
    return str(prompt)


def completion_text(completion: Any) -> str:
    """A TRL completion as text: the string, or the last assistant message's content."""
    if isinstance(completion, str) or completion is None or isinstance(completion, Mapping):
        return _text(completion)
    if isinstance(completion, Sequence):
        turns = [m for m in completion if isinstance(m, Mapping)]
        assistant = [m for m in turns if m.get("role", "assistant") == "assistant"]
        pick = assistant[-1] if assistant else (turns[-1] if turns else None)
        return _content(pick.get("content")) if pick is not None else ""
    return str(completion)


#: Columns TRL passes that are not data (the trainer state, logging hooks).
_NOT_COLUMNS = {"trainer_state", "completion_ids", "log_extra", "log_metric", "environments"}


def _rows(n: int, kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-completion rows from TRL's column kwargs: every list/tuple of length ``n``."""
    columns = {
        k: v
        for k, v in kwargs.items()
        if k not in _NOT_COLUMNS and isinstance(v, (list, tuple)) and len(v) == n
    }
    return [{k: col[i] for k, col in columns.items()} for i in range(n)]


def _freeze(value: Any) -> Any:
    try:
        return json.dumps(value, sort_keys=True, default=repr)
    except Exception:  # an unserialisable value: never deduplicated
        return object()


class RewardFunction:
    """The callable :func:`reward_fn` returns (see there); sync. ``await fn.acall(...)``
    is its async twin; :attr:`last_batch` and :meth:`metrics` report the last batch."""

    def __init__(
        self,
        judge: Any,
        *,
        metajudge: Any = None,
        verdict: Any = None,
        cache: Any = True,
        concurrency: int = 64,
        on_error: Literal["none", "zero", "outcome"] = "none",
        name: str | None = None,
        telemetry: Any = None,
    ) -> None:
        from judgeguard.guarding import Checker, GuardedJudge

        if not callable(judge):
            raise RewardConfigError(
                "judge must be a jg.LLMJudge or a function judge(prompt, completion, **row)"
            )
        if concurrency < 1:
            raise RewardConfigError(f"concurrency must be at least 1, got {concurrency}")
        if on_error not in ("none", "zero", "outcome"):
            raise RewardConfigError("on_error must be 'none', 'zero' or 'outcome'")
        if isinstance(judge, GuardedJudge):  # already guarded: check here, not twice
            if metajudge is None:
                metajudge = judge.metajudge
            if verdict is None:
                verdict = judge.checker.spec
            judge = judge.fn
        if verdict is None:
            verdict = judge.verdict if isinstance(judge, LLMJudge) else "auto"
        self.judge = judge
        self.checker = Checker(
            metajudge=metajudge, verdict=verdict, cache=cache, telemetry=telemetry
        )
        if isinstance(judge, LLMJudge):  # its litellm route, warmed in this thread
            from judgeguard.preload import preload

            preload(litellm_models=(judge.model,))
        self.concurrency = concurrency
        self.on_error = on_error
        self.__name__ = name or "judgeguard"
        self.__qualname__ = self.__name__
        self._is_async = isinstance(judge, LLMJudge) or inspect.iscoroutinefunction(judge)
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        #: The last batch's report, and its checks in input order.
        self.last_batch: BatchReport = BatchReport()
        self.last_checks: list[Check] = []

    @property
    def metajudge(self) -> Any:
        """The MetaJudge in use (``None``: checks end ``skipped`` and rewards are ungated)."""
        return self.checker.metajudge

    def __repr__(self) -> str:
        return (
            f"RewardFunction({self.__name__!r}, judge={self.judge!r}, metajudge={self.metajudge!r})"
        )

    def metrics(self, prefix: str = "judgeguard/") -> dict[str, float]:
        """The last batch's diagnostics as ``{name: float}`` (for ``trainer.log``)."""
        return self.last_batch.as_metrics(prefix)

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        """Gated rewards for a batch, in input order (runs the batch on its own event loop)."""
        return _run_sync(lambda: self.acall(prompts, completions, **kwargs))

    async def acall(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        """Async twin of calling the function: the batch's gated rewards, in input order."""
        checks = await self.acheck(prompts, completions, **kwargs)
        self._log_to_trainer(checks, kwargs)
        return [self.reward_of(c) for c in checks]

    def _log_to_trainer(self, checks: list[Check], kwargs: Mapping[str, Any]) -> None:
        """TRL passes ``log_metric(name, value)`` and ``log_extra(column, values)``: the
        batch's diagnostics go to its logs (``judgeguard/mean_r_rationale`` …) and each
        sample's R_rationale and review flag to its completions table."""
        log_metric, log_extra = kwargs.get("log_metric"), kwargs.get("log_extra")
        try:
            if callable(log_metric):
                for name, value in self.metrics(f"{self.__name__}/").items():
                    log_metric(name, value)
            if callable(log_extra):
                log_extra(f"{self.__name__}/r_rationale", [c.r_rationale for c in checks])
                log_extra(f"{self.__name__}/needs_review", [c.needs_review for c in checks])
        except Exception:  # the trainer's logging never costs the rewards
            log.warning("judgeguard: could not log the batch to the trainer", exc_info=True)

    async def acheck(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[Check]:
        """The batch's finished checks in input order (also in :attr:`last_checks`)."""
        if len(prompts) != len(completions):
            raise RewardConfigError(
                f"{len(prompts)} prompts but {len(completions)} completions: they must align"
            )
        started = time.perf_counter()
        n = len(completions)
        rows = _rows(n, kwargs)
        items = [
            (prompt_text(p), completion_text(c), rows[i])
            for i, (p, c) in enumerate(zip(prompts, completions, strict=True))
        ]
        # duplicates in a batch (same prompt, completion and row) are checked once
        first: dict[Any, int] = {}
        owner: list[int] = []
        for i, (p, c, row) in enumerate(items):
            owner.append(first.setdefault((p, c, _freeze(row)), i))
        unique = sorted(set(owner))
        limit = asyncio.Semaphore(self.concurrency)

        async def one(i: int) -> Check:
            async with limit:
                return await self._check_one(*items[i])

        results = await asyncio.gather(*(one(i) for i in unique))
        by_index = dict(zip(unique, results, strict=True))
        checks = [by_index[owner[i]] for i in range(n)]
        self._report(checks, len(unique), time.perf_counter() - started)
        return checks

    def reward_of(self, check: Check) -> float | None:
        """The reward a finished check gives, after the ``on_error`` policy."""
        if check.reward is not None:
            return check.reward
        if self.on_error == "zero":
            return 0.0
        if self.on_error == "outcome":
            return check.r_outcome
        return None

    def _report(self, checks: list[Check], unique: int, seconds: float) -> None:
        def mean(values: list[float | None]) -> float | None:
            got = [v for v in values if v is not None]
            return sum(got) / len(got) if got else None

        rewards = [self.reward_of(c) for c in checks]
        reasons: dict[str, int] = {}
        for c in checks:
            if c.reward is None:
                key = f"{c.status}:{c.reason}"
                reasons[key] = reasons.get(key, 0) + 1
        report = BatchReport(
            size=len(checks),
            unique=unique,
            duplicates=len(checks) - unique,
            checked=sum(1 for c in checks if c.r_rationale is not None),
            failed=sum(1 for r in rewards if r is None),
            flagged=sum(1 for c in checks if c.needs_review),
            cache_hits=sum(1 for c in checks if c.cached),
            mean_reward=mean(rewards),
            mean_r_rationale=mean([c.r_rationale for c in checks]),
            mean_r_outcome=mean([c.r_outcome for c in checks]),
            seconds=seconds,
            reasons=reasons,
        )
        with self._lock:
            self.last_batch, self.last_checks = report, checks

    async def _call_judge(self, prompt: str, completion: str, row: dict[str, Any]) -> Any:
        if self._is_async:
            return await self.judge(prompt, completion, **row)
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    self.concurrency, thread_name_prefix="judgeguard-reward-judge"
                )
        ctx = contextvars.copy_context()
        call = functools.partial(ctx.run, self.judge, prompt, completion, **row)
        return await loop.run_in_executor(self._executor, call)

    async def _check_one(self, prompt: str, completion: str, row: dict[str, Any]) -> Check:
        from judgeguard.pipeline import CheckRequest, failed_check, run_check

        checker = self.checker
        try:
            output = await self._call_judge(prompt, completion, row)
        except RewardConfigError:  # a template naming a missing column: the user's to fix
            raise
        except Exception as exc:
            message = f"the judge failed: {type(exc).__name__}: {safe_str(exc)}"
            log.debug("judgeguard: %s", message)
            return failed_check("error", "judge_error", message, checker.metajudge)
        context: dict[str, Any] = {"question": prompt, "response": completion}
        label = reference = None
        for key, value in row.items():
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            if key == "label":
                label = value
            elif key == "reference" and isinstance(value, (list, tuple)):
                reference = [str(v) for v in value]
            elif key in ("reference", "answer", "solution", "ground_truth"):
                context.setdefault("reference_answer", value)
            elif isinstance(value, (str, int, float, bool)):
                context[key] = value
        try:
            request = CheckRequest(
                context=context,
                label=label,
                reference=reference,
                output=output,
                judge=getattr(self.judge, "__name__", None) or type(self.judge).__name__,
            )
            return await run_check(request, checker.settings, checker.telemetry)
        except Exception as exc:  # judgeguard's own failure: the sample's, not the batch's
            log.warning("judgeguard: a reward check crashed", exc_info=True)
            return failed_check(
                "error", "internal_error", f"{type(exc).__name__}: {safe_str(exc)}",
                checker.metajudge,
            )  # fmt: skip

    def close(self) -> None:
        """Stop the threads that run a sync judge (started on first use)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def _run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    return run_sync(factory, "judgeguard-reward-batch")


def reward_fn(
    judge: Any,
    *,
    metajudge: Any = None,
    verdict: Any = None,
    cache: Any = True,
    concurrency: int = 64,
    on_error: Literal["none", "zero", "outcome"] = "none",
    name: str | None = None,
    asynchronous: bool = False,
    telemetry: Any = None,
) -> Any:
    """A rationale-gated reward function for TRL's ``reward_funcs`` (and any batch trainer).

    ``judge`` is a :class:`LLMJudge` or your function ``judge(prompt, completion, **row)``
    (sync or async, possibly ``@jg.guard``-ed: then its MetaJudge and verdict spec are
    used, and it is checked once, here) returning the judge's output. ``metajudge`` as for
    :func:`judgeguard.guard` (default ``$JUDGEGUARD_METAJUDGE``); ``verdict`` the parse
    spec (default: the LLMJudge's, else ``"auto"``); ``cache`` as for the guard.

    The result ``fn(prompts, completions, **kwargs) -> list[float | None]`` takes
    plain-text or conversational prompts/completions and TRL's dataset columns as kwargs
    (a ``label`` column is the gold verdict: R_outcome is 1/0 against it; ``reference``,
    ``answer``, ``solution``, ``ground_truth`` give the reference answer; other scalar
    columns join the MetaJudge's context and the judge's row). All judge calls and checks
    of a batch run concurrently, at most ``concurrency`` at a time; duplicates are judged
    and checked once. A failed check gives ``None`` (TRL: no reward for that sample),
    or 0.0 / the ungated R_outcome with ``on_error="zero"`` / ``"outcome"``.
    ``asynchronous=True`` returns an ``async def`` function instead (TRL awaits those
    concurrently with its other async reward functions). Both have ``__name__`` (``name``,
    default ``"judgeguard"``: TRL logs ``rewards/judgeguard/mean``), ``.metrics()`` (the
    last batch's diagnostics: mean R_rationale, share flagged, share failed, cache hits …),
    ``.last_batch`` (a :class:`BatchReport`, on the sync one) and ``.reward`` (the
    :class:`RewardFunction`).
    """
    rf = RewardFunction(
        judge,
        metajudge=metajudge,
        verdict=verdict,
        cache=cache,
        concurrency=concurrency,
        on_error=on_error,
        name=name,
        telemetry=telemetry,
    )
    if not asynchronous:
        return rf

    async def gated_reward(
        prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        return await rf.acall(prompts, completions, **kwargs)

    gated_reward.__name__ = gated_reward.__qualname__ = rf.__name__
    gated_reward.metrics = rf.metrics  # type: ignore[attr-defined]
    gated_reward.reward = rf  # type: ignore[attr-defined]
    return gated_reward


# -- verl -------------------------------------------------------------------------------------

_default: RewardFunction | None = None
_failed_score = 0.0
_default_lock = threading.Lock()


def _load_config() -> dict[str, Any]:
    """The reward's settings: ``$JUDGEGUARD_REWARD_CONFIG`` (a JSON or TOML file), then
    environment variables over it (``JUDGEGUARD_JUDGE=module:func``,
    ``JUDGEGUARD_JUDGE_MODEL``, ``JUDGEGUARD_JUDGE_PROMPT``, ``JUDGEGUARD_METAJUDGE``)."""
    config: dict[str, Any] = {}
    path = env.reward_config_path()
    if path:
        try:
            with open(path, "rb") as f:
                raw = f.read()
            if path.endswith(".toml"):  # Python 3.11+ (tomllib)
                import importlib

                config = importlib.import_module("tomllib").loads(raw.decode("utf-8"))
            else:
                config = json.loads(raw)
        except (OSError, ValueError, ImportError) as exc:
            raise RewardConfigError(f"cannot read $JUDGEGUARD_REWARD_CONFIG={path}: {exc}") from exc
        if not isinstance(config, dict):
            raise RewardConfigError(f"{path} must hold a table/object of settings")
    config.update(env.reward_overrides())
    return config


def load_judge(spec: str) -> Any:
    """``"package.module:function"`` → that function (for ``--judge`` and ``JUDGEGUARD_JUDGE``)."""
    import importlib

    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise RewardConfigError(f"a judge is named as MODULE:FUNC, got {spec!r}")
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise RewardConfigError(f"cannot load the judge {spec!r}: {exc}") from exc
    return obj


def from_config(config: Mapping[str, Any]) -> RewardFunction:
    """A :class:`RewardFunction` from settings: ``judge`` (MODULE:FUNC) or ``judge_model``
    (+ ``judge_prompt``, ``judge_kwargs``), ``metajudge`` (+ ``metajudge_kwargs``),
    ``verdict``, ``cache``, ``concurrency``, ``on_error``."""
    from judgeguard.metajudge import MetaJudge

    known = {
        "judge", "judge_model", "judge_prompt", "judge_kwargs", "metajudge",
        "metajudge_kwargs", "verdict", "cache", "concurrency", "on_error", "failed_score",
    }  # fmt: skip
    unknown = sorted(set(config) - known)
    if unknown:
        raise RewardConfigError(f"unknown reward settings {unknown} (known: {sorted(known)})")
    if config.get("judge"):
        judge = load_judge(str(config["judge"]))
    elif config.get("judge_model"):
        judge = LLMJudge(
            str(config["judge_model"]),
            prompt=str(config.get("judge_prompt") or "pointwise"),
            **dict(config.get("judge_kwargs") or {}),
        )
    else:
        raise RewardConfigError(
            "no judge configured: set JUDGEGUARD_JUDGE=module:func or JUDGEGUARD_JUDGE_MODEL "
            "(or judge / judge_model in $JUDGEGUARD_REWARD_CONFIG)"
        )
    metajudge = config.get("metajudge")
    if metajudge is not None and config.get("metajudge_kwargs"):
        models = metajudge.split(",") if isinstance(metajudge, str) else metajudge
        metajudge = MetaJudge(models, **dict(config["metajudge_kwargs"]))
    return RewardFunction(
        judge,
        metajudge=metajudge,
        verdict=config.get("verdict"),
        cache=config.get("cache", True),
        concurrency=int(config.get("concurrency", 64)),
        on_error=config.get("on_error", "none"),
    )


def default_reward() -> RewardFunction:
    """The process's reward function built from :func:`_load_config` (once)."""
    global _default, _failed_score
    with _default_lock:
        if _default is None:
            config = _load_config()
            _default = from_config(config)
            _failed_score = float(config.get("failed_score", 0.0))
        return _default


def _verl_row(
    data_source: Any, ground_truth: Any, extra_info: Mapping[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    extra = dict(extra_info or {})
    prompt = extra.pop("question", None) or extra.pop("prompt", None) or ""
    row: dict[str, Any] = {
        k: v for k, v in extra.items() if isinstance(v, (str, int, float, bool)) and k != "index"
    }
    if ground_truth is not None and ground_truth != "":
        row["reference"] = (
            ground_truth if isinstance(ground_truth, str) else json.dumps(ground_truth, default=str)
        )
    if data_source is not None:
        row["data_source"] = str(data_source)
    return prompt_text(prompt), row


def _verl_result(check: Check, rf: RewardFunction, failed_score: float) -> dict[str, Any]:
    reward = rf.reward_of(check)
    return {
        "score": failed_score if reward is None else reward,
        "r_rationale": check.r_rationale,
        "r_outcome": check.r_outcome,
        "needs_review": check.needs_review,
        "check_failed": reward is None,
    }


def compute_score(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """verl's custom reward function: ``{"score", "r_rationale", "r_outcome", "needs_review",
    "check_failed"}`` for one response.

    Configured from the environment (see :func:`_load_config`). ``ground_truth`` is the
    reference answer (the ``{reference}`` of the judge prompt); ``extra_info["question"]``
    (or ``"prompt"``) the prompt; other scalar ``extra_info`` fields join the row. verl
    needs a number: a failed check scores ``failed_score`` (setting, default 0.0) and is
    marked ``check_failed``.
    """
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info])[0]


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """The batched form (verl's ``BatchRewardManager``): one result per response, in order,
    the batch checked concurrently."""
    rf = default_reward()
    n = len(solution_strs)
    if not (len(data_sources) == len(ground_truths) == n):
        raise RewardConfigError("data_sources, solution_strs and ground_truths must align")
    infos = list(extra_infos) if extra_infos is not None else [None] * n
    prompts, rows = [], []
    for ds, gt, info in zip(data_sources, ground_truths, infos, strict=True):
        prompt, row = _verl_row(ds, gt, info)
        prompts.append(prompt)
        rows.append(row)
    columns = sorted({k for r in rows for k in r})
    cols = {k: [r.get(k) for r in rows] for k in columns}
    checks = _run_sync(lambda: rf.acheck(prompts, list(solution_strs), **cols))
    return [_verl_result(c, rf, _failed_score) for c in checks]
