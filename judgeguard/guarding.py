"""The guard stage: wrap a judge so every verdict is parsed, checked, gated, cached, traced.

(The module is ``guarding``, not ``guard``: importing a submodule named ``guard`` would make
Python replace the package attribute ``judgeguard.guard`` — the decorator — by the module.)

The guarded judge returns exactly what the judge returned (the same object). The check
runs in the background dispatcher unless ``wait=True``; a MetaJudge failure never
changes, delays or breaks the judge's own return in background mode.
"""

from __future__ import annotations

import functools
import inspect
import os
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar

from judgeguard.cache import DiskCache, default_cache
from judgeguard.dispatch import PendingCheck, finished, get_dispatcher
from judgeguard.errors import JudgeguardError, ParseError

__all__ = ["Checker", "GuardResult", "GuardedJudge", "guard"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

ContextSpec = Mapping[str, str] | Sequence[str] | Callable[..., Mapping[str, Any]] | None
ContextSource = Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None

#: Parameter names read as context when ``context=None`` (first match wins).
AUTO_CONTEXT: dict[str, tuple[str, ...]] = {
    "question": ("question", "prompt", "input", "query", "instruction", "inputs"),
    "response_a": ("response_a", "answer_a", "output_a", "completion_a", "a"),
    "response_b": ("response_b", "answer_b", "output_b", "completion_b", "b"),
    "response": ("response", "answer", "output", "completion", "prediction", "outputs"),
    "rubric": ("rubric", "criteria"),
    "label": ("label", "gold", "gold_label", "expected_verdict", "ground_truth"),
    "reference": ("reference", "reference_reasons", "reference_outputs"),
}


class GuardConfigError(JudgeguardError, ValueError):
    """A guard option that cannot work (the message says which and why)."""


def _resolve_metajudge(metajudge: Any) -> Any:
    from judgeguard.metajudge import MetaJudge

    if metajudge is None:
        env = os.environ.get("JUDGEGUARD_METAJUDGE")
        if not env:
            return None
        metajudge = [m.strip() for m in env.split(",") if m.strip()]
    if isinstance(metajudge, MetaJudge):
        return metajudge
    if isinstance(metajudge, (str, list, tuple)):
        return MetaJudge(metajudge)
    raise GuardConfigError(
        f"metajudge= must be a MetaJudge, a litellm model string or a list of them, "
        f"got {type(metajudge).__name__}"
    )


def _resolve_cache(cache: bool | str | os.PathLike[str] | DiskCache | None) -> DiskCache | None:
    if cache is None or cache is False:
        return None
    if cache is True:
        return default_cache()
    if isinstance(cache, DiskCache):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        return DiskCache(cache)
    raise GuardConfigError("cache= must be True, False, a directory path or a jg.DiskCache")


class _LazyJudgment:
    """Parses the output once, on first need, from whichever thread needs it first."""

    def __init__(self, output: Any, spec: Any) -> None:
        self._output, self._spec = output, spec
        self._lock = threading.Lock()
        self._done = False
        self._value: Any = None
        self._error: ParseError | None = None

    def get(self) -> Any:
        if not self._done:
            with self._lock:
                if not self._done:
                    from judgeguard.parsing import parse

                    try:
                        self._value = parse(self._output, self._spec)
                    except ParseError as exc:
                        self._error = exc
                    self._done = True
        if self._error is not None:
            raise self._error
        return self._value

    def peek(self) -> tuple[Any, bool]:
        """``(judgment or None, parse failed)`` without parsing."""
        if not self._done:
            return None, False
        return self._value, self._error is not None

    def offer(self, judgment: Any) -> None:
        """Take a judgment parsed elsewhere (the check worker), unless parsed already."""
        if judgment is not None and not self._done:
            with self._lock:
                if not self._done:
                    self._value, self._done = judgment, True


class GuardResult(Generic[T]):
    """The handle of one guarded call: its output, its judgment and its pending check."""

    def __init__(self, output: T, lazy: _LazyJudgment | None, pending: PendingCheck[Any]) -> None:
        self.output = output
        self._lazy = lazy
        self._pending = pending

    @property
    def judgment(self) -> Any:
        """The parsed :class:`judgeguard.Judgment`, or ``None`` when the output did not parse."""
        if self._lazy is None:
            return None
        try:
            return self._lazy.get()
        except ParseError:
            return None

    def check(self, timeout: float | None = None) -> Any:
        """The finished :class:`judgeguard.Check` (waits up to ``timeout`` seconds)."""
        return self._pending.result(timeout)

    async def acheck(self) -> Any:
        """Await the finished :class:`judgeguard.Check`."""
        return await self._pending.aresult()

    def reward(self, timeout: float | None = None) -> float | None:
        """The gated reward ``R_rationale × R_outcome`` (``None`` if the check failed)."""
        return self.check(timeout).reward  # type: ignore[no-any-return]

    def done(self) -> bool:
        """Whether the check has finished."""
        return self._pending.done()


class Checker:
    """Submits checks of judge outputs you already have (what :func:`guard` uses inside).

    Holds the resolved configuration — MetaJudge, verdict spec, cache, telemetry,
    ``on_result``, ``on_unparsed`` and ``sample`` (see :func:`guard`) — so that wrappers
    such as the LangChain runnable can submit outputs without re-implementing the
    pipeline. :meth:`submit` and :meth:`asubmit` return a :class:`GuardResult`.
    """

    def __init__(
        self,
        *,
        metajudge: Any = None,
        verdict: Any = "auto",
        on_result: Callable[[Any], Any] | None = None,
        cache: bool | str | os.PathLike[str] | DiskCache | None = True,
        on_unparsed: Literal["record", "raise"] = "record",
        sample: float = 1.0,
        telemetry: Any = None,
        offload: Literal["thread", "process"] | None = None,
    ) -> None:
        from judgeguard.verdicts import VerdictSpec

        if on_unparsed not in ("record", "raise"):
            raise GuardConfigError("on_unparsed must be 'record' or 'raise'")
        if offload is None:
            offload = os.environ.get("JUDGEGUARD_OFFLOAD", "").strip().lower() or "thread"  # type: ignore[assignment]
        if offload not in ("thread", "process"):
            raise GuardConfigError(
                f"offload must be 'thread' or 'process' (also in $JUDGEGUARD_OFFLOAD), "
                f"got {offload!r}"
            )
        if not 0.0 <= sample <= 1.0:
            raise GuardConfigError(f"sample must lie in [0, 1], got {sample}")
        self.metajudge = _resolve_metajudge(metajudge)
        self.spec = VerdictSpec.coerce(verdict)
        self.on_result = on_result
        self.cache = _resolve_cache(cache)
        self.on_unparsed = on_unparsed
        self.sample = sample
        self.offload: Literal["thread", "process"] = offload
        self._telemetry = telemetry
        self._rng = random.Random()
        self._worker_config: Any = _UNSET

    def worker_config(self) -> Any:
        """The settings sent to the check worker (``None`` when they do not pickle)."""
        if self._worker_config is _UNSET:
            from judgeguard.offload import worker_config

            self._worker_config = worker_config(self.metajudge, self.spec, self.cache)
        return self._worker_config

    @property
    def telemetry(self) -> Any:
        """The Telemetry in use (the process default unless one was passed)."""
        if self._telemetry is not None:
            return self._telemetry
        from judgeguard.telemetry import get_telemetry

        return get_telemetry()

    def submit(
        self, output: Any, context: ContextSource = None, *, span: Any = None, wait: bool = False
    ) -> GuardResult[Any]:
        """Check ``output`` in the background (``wait=True``: return once checked).

        ``context`` is a mapping (question, candidates, ``label``, ``reference`` …) or a
        function returning one, called only when a check is actually submitted; ``span``
        is the judge span to link the evaluator span to (or parent it, with ``wait``).
        """
        prepared = self._prepare(output, context, span, wait)
        if isinstance(prepared, GuardResult):
            return prepared
        pending = get_dispatcher().submit(*prepared[1:])
        if wait:
            pending.result()
        return GuardResult(output, prepared[0], pending)

    async def asubmit(
        self, output: Any, context: ContextSource = None, *, span: Any = None, wait: bool = False
    ) -> GuardResult[Any]:
        """Async twin of :meth:`submit` (waits for queue room without blocking the loop)."""
        prepared = self._prepare(output, context, span, wait)
        if isinstance(prepared, GuardResult):
            return prepared
        pending = await get_dispatcher().asubmit(*prepared[1:])
        if wait:
            await pending.aresult()
        return GuardResult(output, prepared[0], pending)

    def _prepare(
        self, output: Any, context_source: ContextSource, span: Any, wait: bool
    ) -> GuardResult[Any] | tuple[_LazyJudgment, Any, Any, list[Any]]:
        """The check job for one output, or a finished result when nothing is to be run."""
        from judgeguard.pipeline import check_output, failed_check
        from judgeguard.schema import Check

        tel = self.telemetry
        if span is None:
            from opentelemetry.trace import INVALID_SPAN

            span = INVALID_SPAN
        lazy = _LazyJudgment(output, self.spec)
        callbacks = [self.on_result] if self.on_result is not None else []
        if self.on_unparsed == "raise" or span.is_recording():
            try:
                judgment = lazy.get()
                tel.record_judgment(span, judgment, None, _outcome_or_none(judgment))
            except ParseError as exc:
                tel.record_judgment(span, None, exc, None)
                if self.on_unparsed == "raise":
                    raise
        if self.sample < 1.0 and self._rng.random() >= self.sample:
            return GuardResult(
                output,
                lazy,
                finished(
                    Check(
                        status="skipped",
                        reason="sampled_out",
                        error=f"not sampled (sample={self.sample})",
                    ),
                    callbacks,
                ),
            )
        offload = self.offload == "process"
        if not offload and metajudge_needs_priming(self.metajudge):
            from judgeguard.metajudge.client import import_litellm

            get_dispatcher().prime(import_litellm)
        context = dict((context_source() if callable(context_source) else context_source) or {})
        label = context.pop("label", None)
        reference = context.pop("reference", None)
        metajudge, cache = self.metajudge, self.cache
        judge_ctx = tel.link_context(span)
        child = wait

        async def job() -> Check:
            judgment, failed = lazy.peek()
            config = self.worker_config() if offload and not failed else None
            if config is not None:
                from judgeguard.offload import WorkerUnavailable, run_offloaded

                try:
                    check = await run_offloaded(
                        config, output, judgment, context, label, reference, tel, cache,
                        judge_span=judge_ctx, child=child,
                    )  # fmt: skip
                except WorkerUnavailable:
                    pass  # logged once; run it here
                else:
                    lazy.offer(check.judgment)
                    return check
            return await check_output(
                lazy.get, context, label, reference, metajudge, cache, tel,
                judge_span=judge_ctx, child=child,
            )  # fmt: skip

        def fallback(status: str, reason: str, message: str) -> Check:
            return failed_check(status, reason, message, metajudge)

        return lazy, job, fallback, callbacks


class GuardedJudge(Generic[F]):
    """A judge function wrapped by :func:`guard` (callable like the original)."""

    def __init__(
        self,
        fn: F,
        *,
        metajudge: Any,
        verdict: Any,
        context: ContextSpec,
        on_result: Callable[[Any], Any] | None,
        wait: bool,
        cache: bool | str | os.PathLike[str] | DiskCache | None,
        on_unparsed: Literal["record", "raise"],
        sample: float,
        telemetry: Any,
        name: str | None,
        offload: Literal["thread", "process"] | None = None,
    ) -> None:
        self.fn = fn
        self.checker = Checker(
            metajudge=metajudge,
            verdict=verdict,
            on_result=on_result,
            cache=cache,
            on_unparsed=on_unparsed,
            sample=sample,
            telemetry=telemetry,
            offload=offload,
        )
        self.context = context
        self.wait = wait
        self.name = name or getattr(fn, "__qualname__", getattr(fn, "__name__", "judge"))
        self.is_async = inspect.iscoroutinefunction(fn)
        try:
            self._signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            self._signature = None
        self._bound_self: Any = None
        functools.update_wrapper(self, fn)

    # methods: bind like a function
    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        bound = object.__new__(type(self))
        bound.__dict__.update(self.__dict__)
        bound._bound_self = instance
        return bound

    @property
    def metajudge(self) -> Any:
        """The MetaJudge in use (``None`` when checks are skipped)."""
        return self.checker.metajudge

    @property
    def cache(self) -> DiskCache | None:
        """The result cache in use (``None`` when caching is off)."""
        return self.checker.cache

    def _args(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return args if self._bound_self is None else (self._bound_self, *args)

    # -- calling ----------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.is_async:
            return self._acall(args, kwargs)
        return self._call(args, kwargs).output

    def run(self, *args: Any, **kwargs: Any) -> GuardResult[Any]:
        """Call the judge and return a :class:`GuardResult` handle (output + check)."""
        if self.is_async:
            raise GuardConfigError(f"{self.name} is async: use `await guarded.arun(...)`")
        return self._call(args, kwargs)

    async def arun(self, *args: Any, **kwargs: Any) -> GuardResult[Any]:
        """Async twin of :meth:`run` (for async and sync judges alike)."""
        if not self.is_async:
            return self._call(args, kwargs)
        return await self._arun(args, kwargs)

    async def _acall(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return (await self._arun(args, kwargs)).output

    def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> GuardResult[Any]:
        full = self._args(args)
        with self.checker.telemetry.judge_span(self.name) as span:
            output = self.fn(*full, **kwargs)
            result = self.checker.submit(
                output, lambda: self._context(full, kwargs), span=span, wait=self.wait
            )
        return result

    async def _arun(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> GuardResult[Any]:
        full = self._args(args)
        with self.checker.telemetry.judge_span(self.name) as span:
            output = await self.fn(*full, **kwargs)
            result = await self.checker.asubmit(
                output, lambda: self._context(full, kwargs), span=span, wait=self.wait
            )
        return result

    def _context(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Question, candidates, label and reference pulled from the call's arguments."""
        if callable(self.context) and not isinstance(self.context, (Mapping, Sequence)):
            return dict(self.context(*args, **kwargs))
        values: dict[str, Any] = dict(kwargs)
        if self._signature is not None:
            try:
                bound = self._signature.bind_partial(*args, **kwargs)
                bound.apply_defaults()
                values = dict(bound.arguments)
            except TypeError:
                pass
        values.pop("self", None)
        if self.context is None:
            out: dict[str, Any] = {}
            for key, names in AUTO_CONTEXT.items():
                for n in names:
                    if n in values and values[n] is not None:
                        out[key] = values[n]
                        break
            ref = out.get("reference")
            if ref is not None and not (
                isinstance(ref, (list, tuple)) and all(isinstance(r, str) for r in ref)
            ):
                out["reference_answer"] = out.pop("reference")  # an answer, not reasons
            return out
        mapping = (
            dict(self.context)
            if isinstance(self.context, Mapping)
            else {n: n for n in self.context}
        )
        missing = [param for param in mapping.values() if param not in values]
        if missing:
            raise GuardConfigError(
                f"context= names parameters {missing} that {self.name} was not called with"
            )
        return {key: values[param] for key, param in mapping.items()}


_primed_pid: int | None = None
_UNSET: Any = object()


def metajudge_needs_priming(metajudge: Any) -> bool:
    """True once per process when a MetaJudge is in use: litellm's first import takes
    seconds and must happen in the dispatcher thread before the first check needs it."""
    global _primed_pid
    if metajudge is None or _primed_pid == os.getpid():
        return False
    _primed_pid = os.getpid()
    return True


def _outcome_or_none(judgment: Any) -> float | None:
    try:
        return judgment.verdict.outcome()  # type: ignore[no-any-return]
    except Exception:
        return None


def guard(
    fn: F | None = None,
    /,
    *,
    metajudge: Any = None,
    verdict: Any = "auto",
    context: ContextSpec = None,
    on_result: Callable[[Any], Any] | None = None,
    wait: bool = False,
    cache: bool | str | os.PathLike[str] | DiskCache | None = True,
    on_unparsed: Literal["record", "raise"] = "record",
    sample: float = 1.0,
    telemetry: Any = None,
    name: str | None = None,
    offload: Literal["thread", "process"] | None = None,
) -> Any:
    """Guard a judge function: parse, check, gate, cache and trace each verdict.

    Use as ``@jg.guard``, ``@jg.guard(metajudge=...)`` or ``jg.guard(fn, ...)``, on sync
    or async functions and methods. Calling the guarded judge returns exactly what the
    judge returned; ``.run(...)`` / ``await .arun(...)`` return a :class:`GuardResult`
    handle. ``metajudge`` is a :class:`judgeguard.MetaJudge`, a model string or a list
    (default ``$JUDGEGUARD_METAJUDGE``; without one, checks end ``skipped``).
    ``verdict`` is the parse spec; ``context`` says where question, candidates,
    ``label`` and ``reference`` come from (parameter names, a mapping
    ``{context_key: parameter}``, or a function of the call's arguments; default: common
    parameter names); ``on_result`` gets every finished :class:`judgeguard.Check` (in the
    dispatcher thread); ``wait=True`` returns only after the check; ``cache`` is True
    (default directory), False, a directory or a :class:`judgeguard.DiskCache`;
    ``on_unparsed="raise"`` raises the :class:`judgeguard.ParseError` from the call
    instead of recording status ``unparsed``; ``sample`` checks only that fraction of
    calls (the rest end ``skipped``, reason ``sampled_out``); ``offload="process"`` runs
    the parse and the MetaJudge calls in a worker process instead of the dispatcher
    thread, so they never hold the judge's GIL; it pays off with a CPU to spare (default
    ``$JUDGEGUARD_OFFLOAD``, else ``"thread"``; see :mod:`judgeguard.offload`). Judge
    exceptions propagate unchanged and are recorded on the judge span.
    """

    def wrap(f: F) -> GuardedJudge[F]:
        return GuardedJudge(
            f,
            metajudge=metajudge,
            verdict=verdict,
            context=context,
            on_result=on_result,
            wait=wait,
            cache=cache,
            on_unparsed=on_unparsed,
            sample=sample,
            telemetry=telemetry,
            name=name,
            offload=offload,
        )

    return wrap(fn) if fn is not None else wrap
