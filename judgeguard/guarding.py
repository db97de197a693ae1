"""The guard stage: wrap a judge so every verdict is parsed, checked, gated, cached, traced.

(The module is ``guarding``, not ``guard``: importing a submodule named ``guard`` would make
Python replace the package attribute ``judgeguard.guard`` — the decorator — by the module.)

The guarded judge returns exactly what the judge returned (the same object). The check
runs in the background dispatcher unless ``wait=True``; a MetaJudge failure never
changes, delays or breaks the judge's own return in background mode.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import random
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    Literal,
    ParamSpec,
    TypeVar,
    overload,
)

from opentelemetry.trace import INVALID_SPAN

from judgeguard.cache import DiskCache
from judgeguard.context import AUTO_CONTEXT, ContextError, auto_context, pick_context
from judgeguard.dispatch import PendingCheck, finished, get_dispatcher
from judgeguard.errors import GuardConfigError, ParseError, safe_str
from judgeguard.gating import Gate
from judgeguard.options import (
    ContextSource,
    ContextSpec,
    GuardOptions,
    OnResult,
    ResultCallback,
    SettingsOptions,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from judgeguard.metajudge import MetaJudge
    from judgeguard.pipeline import CheckSettings
    from judgeguard.schema import Check, Judgment
    from judgeguard.telemetry import Telemetry
    from judgeguard.verdicts import VerdictSpec

__all__ = [
    "AUTO_CONTEXT",
    "Checker",
    "GuardConfigError",
    "GuardOptions",
    "GuardResult",
    "GuardedJudge",
    "guard",
]

P = ParamSpec("P")
Q = ParamSpec("Q")
R = TypeVar("R")
T = TypeVar("T")
S = TypeVar("S")

log = logging.getLogger("judgeguard")


class _LazyJudgment:
    """Parses the output once, on first need, from whichever thread needs it first."""

    def __init__(self, output: object, spec: VerdictSpec) -> None:
        self._output, self._spec = output, spec
        self._lock = threading.Lock()
        self._done = False
        self._value: Judgment | None = None
        self._error: ParseError | None = None

    def get(self) -> Judgment:
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
        assert self._value is not None
        return self._value

    def failure(self) -> ParseError | None:
        """The parse error, once parsed (``None`` before, or when it parsed)."""
        return self._error

    def peek(self) -> tuple[Judgment | None, bool]:
        """``(judgment or None, parse failed)`` without parsing."""
        if not self._done:
            return None, False
        return self._value, self._error is not None

    def offer(self, judgment: Judgment | None) -> None:
        """Take a judgment parsed elsewhere (the check worker), unless parsed already."""
        if judgment is not None and not self._done:
            with self._lock:
                if not self._done:
                    self._value, self._done = judgment, True


class GuardResult(Generic[T]):
    """The handle of one guarded call: its output, its judgment and its pending check."""

    def __init__(self, output: T, lazy: _LazyJudgment | None, pending: PendingCheck[Check]) -> None:
        self.output: T = output
        self._lazy = lazy
        self._pending = pending

    @property
    def judgment(self) -> Judgment | None:
        """The parsed :class:`judgeguard.Judgment`, or ``None`` when the output did not parse."""
        if self._lazy is None:
            return None
        try:
            return self._lazy.get()
        except ParseError:
            return None

    def check(self, timeout: float | None = None) -> Check:
        """The finished :class:`judgeguard.Check` (waits up to ``timeout`` seconds)."""
        return self._pending.result(timeout)

    async def acheck(self) -> Check:
        """Await the finished :class:`judgeguard.Check`."""
        return await self._pending.aresult()

    def reward(self, timeout: float | None = None) -> float | None:
        """The gated reward ``R_rationale × R_outcome`` (``None`` if the check failed)."""
        return self.check(timeout).reward

    def done(self) -> bool:
        """Whether the check has finished."""
        return self._pending.done()


def _checked_on_result(on_result: OnResult | None) -> OnResult | None:
    """``on_result`` as given, a list of callables frozen into a tuple; anything else is a
    :class:`GuardConfigError` now rather than a logged failure on every check."""
    if on_result is None or callable(on_result):
        return on_result
    if isinstance(on_result, (str, bytes)) or not isinstance(on_result, Sequence):
        raise GuardConfigError(
            f"on_result must be a callable or a list of callables, not {type(on_result).__name__}"
        )
    callbacks = tuple(on_result)
    for callback in callbacks:
        if not callable(callback):
            raise GuardConfigError(
                f"on_result: every item must be callable; got {type(callback).__name__}"
            )
    return callbacks or None


class Checker:
    """Submits checks of judge outputs you already have (what :func:`guard` uses inside).

    Holds the check settings (a :class:`judgeguard.pipeline.CheckSettings`: MetaJudge,
    verdict spec, cache, gate, ``sample``, ``offload``, ``on_unparsed``,
    ``check_timeout``; pass ``settings`` or the options of :func:`guard` that build it,
    not both), the telemetry and
    ``on_result``, so that wrappers such as the LangChain runnable can submit outputs
    without re-implementing the pipeline. :meth:`submit` and :meth:`asubmit` return a
    :class:`GuardResult`.
    """

    def __init__(
        self,
        settings: CheckSettings | None = None,
        *,
        on_result: OnResult | None = None,
        telemetry: Telemetry | None = None,
        **options: Unpack[SettingsOptions],
    ) -> None:
        from judgeguard.pipeline import CheckSettings

        if settings is None:
            settings = CheckSettings.resolve(**options)
        elif options:
            raise GuardConfigError(
                f"pass settings= or the options that build it, not both (got {sorted(options)})"
            )
        self.settings = settings
        #: The settings' parts, for reading (``settings`` is frozen: they cannot go stale).
        self.metajudge: MetaJudge | None = settings.metajudge
        self.spec: VerdictSpec = settings.spec
        self.cache: DiskCache | None = settings.cache
        self.offload: Literal["thread", "process"] = settings.offload
        #: The gate that turns each MetaJudge answer into a reward (default: the
        #: MetaJudge's default gate, else ``Gate()``).
        self.gate: Gate = settings.gate
        self.on_result = _checked_on_result(on_result)
        #: the checked judge's name on metrics (a guard sets its function's name)
        self.judge_name: str | None = None
        self._telemetry = telemetry
        self._rng = random.Random()
        self._worker_config: Any = _UNSET
        from judgeguard.preload import preload

        preload(
            litellm_models=settings.metajudge.models if settings.metajudge is not None else (),
            options=settings.metajudge.litellm_kwargs if settings.metajudge is not None else None,
            offload=settings.offload == "process",
            cache=settings.cache is not None,
        )

    def worker_config(self) -> Any:
        """The settings sent to the check worker (``None`` when they do not pickle)."""
        if self._worker_config is _UNSET:
            from judgeguard.offload import worker_config

            self._worker_config = worker_config(self.settings)
        return self._worker_config

    @property
    def telemetry(self) -> Telemetry:
        """The Telemetry in use (the process default unless one was passed)."""
        if self._telemetry is not None:
            return self._telemetry
        from judgeguard.telemetry import get_telemetry

        return get_telemetry()

    def submit(
        self,
        output: T,
        context: ContextSource = None,
        *,
        span: Any = None,
        wait: bool = False,
        run_id: str | None = None,
    ) -> GuardResult[T]:
        """Check ``output`` in the background (``wait=True``: return once checked).

        ``context`` is a mapping (question, candidates, ``label``, ``reference`` …) or a
        function returning one, called only when a check is actually submitted; ``span``
        is the judge span to link the evaluator span to (or parent it, with ``wait``);
        ``run_id``, the front end's id of the call (a LangChain run id), is put on the
        check (:attr:`judgeguard.Check.run_id`). Never raises (a failure of judgeguard's
        own becomes the check's status), except the :class:`judgeguard.ParseError` that
        ``on_unparsed="raise"`` asks for.
        """
        lazy = self._lazy(output)
        try:
            prepared = self._prepare(output, lazy, context, span, wait, run_id)
            if isinstance(prepared, GuardResult):
                return prepared
            pending = get_dispatcher().submit(*prepared)
        except Exception as exc:  # the guard's promise: never the caller's error
            return self._crashed(output, lazy, exc, run_id)
        if wait:
            pending.result()
        return GuardResult(output, lazy, pending)

    async def asubmit(
        self,
        output: T,
        context: ContextSource = None,
        *,
        span: Any = None,
        wait: bool = False,
        run_id: str | None = None,
    ) -> GuardResult[T]:
        """Async twin of :meth:`submit` (waits for queue room without blocking the loop)."""
        lazy = self._lazy(output)
        try:
            prepared = self._prepare(output, lazy, context, span, wait, run_id)
            if isinstance(prepared, GuardResult):
                return prepared
            pending = await get_dispatcher().asubmit(*prepared)
        except Exception as exc:  # the guard's promise: never the caller's error
            return self._crashed(output, lazy, exc, run_id)
        if wait:
            await pending.aresult()
        return GuardResult(output, lazy, pending)

    def _lazy(self, output: object) -> _LazyJudgment:
        """The output's judgment, parsed later on the dispatcher thread; parsed now only when
        ``on_unparsed="raise"`` asks for the :class:`ParseError` in the caller."""
        lazy = _LazyJudgment(output, self.spec)
        if self.settings.on_unparsed == "raise":
            with contextlib.suppress(Exception):  # a crash of the parser is the check's
                lazy.get()
            failure = lazy.failure()
            if isinstance(failure, ParseError):
                raise failure
        return lazy

    def _crashed(
        self, output: T, lazy: _LazyJudgment, exc: BaseException, run_id: str | None
    ) -> GuardResult[T]:
        """The handle of a call whose check could not even be submitted."""
        from judgeguard.pipeline import failed_check

        reason = "bad_context" if isinstance(exc, ContextError) else "internal_error"
        if reason == "internal_error":
            log.warning("judgeguard: could not submit a check", exc_info=exc)
        message = f"{type(exc).__name__}: {safe_str(exc)}"
        check = self.gate.apply_to(failed_check("error", reason, message, self.metajudge))
        check.run_id = run_id
        return GuardResult(output, lazy, finished(check, self._callbacks(None)))

    def _callbacks(self, context: contextvars.Context | None) -> list[Callable[[Check], None]]:
        """Each ``on_result`` callable wrapped to run in the judge call's context, isolated
        from the dispatcher and from the others: whatever one raises (``SystemExit``
        included) is logged and counted, and the next still runs."""
        on_result = self.on_result
        if on_result is None:
            return []
        telemetry = self.telemetry
        callbacks = [on_result] if callable(on_result) else on_result

        def isolated(callback: ResultCallback) -> Callable[[Check], None]:
            def deliver(check: Check) -> None:
                try:
                    if context is None:
                        callback(check)
                    else:
                        context.copy().run(callback, check)
                except BaseException:  # a callback never takes the dispatcher down
                    log.exception(
                        "judgeguard: an on_result callback raised; the check is unaffected"
                    )
                    telemetry.record_callback_error()

            return deliver

        return [isolated(callback) for callback in callbacks]

    def _prepare(
        self,
        output: T,
        lazy: _LazyJudgment,
        context_source: ContextSource,
        span: Any,
        wait: bool,
        run_id: str | None = None,
    ) -> GuardResult[T] | tuple[Any, Any, list[Callable[[Check], None]]]:
        """The check job for one output, or a finished result when nothing is to be run."""
        from judgeguard import pipeline
        from judgeguard.telemetry import stamp_span_ids

        settings, tel = self.settings, self.telemetry
        callbacks = self._callbacks(contextvars.copy_context())
        if settings.sample < 1.0 and self._rng.random() >= settings.sample:
            sampled_out = pipeline.sampled_out_check(settings)
            sampled_out.run_id = run_id
            return GuardResult(output, lazy, finished(sampled_out, callbacks))
        try:
            context = dict((context_source() if callable(context_source) else context_source) or {})
        except Exception as exc:  # a context= function's error is the check's
            raise ContextError(f"building the check's context failed: {exc!r}") from exc
        label = context.pop("label", None)
        reference = context.pop("reference", None)
        judge_ctx = tel.link_context(span) if span is not None else None
        child = wait

        async def job() -> Check:
            judgment, failed = lazy.peek()  # the request is built here, not in the caller
            parsed = pipeline.CheckRequest(
                judgment,
                context or None,
                label,
                reference,
                output=output if judgment is None else None,
                judge=self.judge_name,
            )
            if settings.offload == "process" and not failed:
                from judgeguard import offload

                check = await offload.run(
                    parsed, settings, tel, self.worker_config(), judge_span=judge_ctx, child=child
                )
            else:
                check = await pipeline.run_check(
                    parsed, settings, tel, judge_span=judge_ctx, child=child
                )
            lazy.offer(check.judgment)
            check.run_id = run_id
            return check

        def fallback(status: str, reason: str, message: str) -> Check:
            check = settings.gate.apply_to(
                pipeline.failed_check(status, reason, message, settings.metajudge)
            )
            check.run_id = run_id
            stamp_span_ids(check, judge_ctx)
            # counted, though it has no span of its own
            tel.record_check(INVALID_SPAN, check, judge=self.judge_name)
            return check

        return job, fallback, callbacks


class GuardedJudge(Generic[P, R]):
    """A judge function wrapped by :func:`guard` (callable like the original).

    Typed after the judge: for ``def judge(q: str) -> str`` it is
    ``GuardedJudge[[str], str]``, so ``judge(q)`` is a ``str`` and ``judge.run(q)`` a
    ``GuardResult[str]``; an ``async def`` judge's call is awaitable, and
    ``await judge.arun(q)`` gives the handle of the awaited output.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        checker: Checker,
        context: ContextSpec = None,
        wait: bool = False,
        name: str | None = None,
    ) -> None:
        self.fn: Callable[P, R] = fn
        self.checker = checker
        self.context = context
        self.wait = wait
        self.name = str(name or getattr(fn, "__qualname__", getattr(fn, "__name__", "judge")))
        if checker.judge_name is None:
            checker.judge_name = self.name
        self.is_async = inspect.iscoroutinefunction(fn)
        try:
            self._signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            self._signature = None
        self._bound_self: Any = None
        self._check_context_names()
        functools.update_wrapper(self, fn)

    def _check_context_names(self) -> None:
        """``context=`` names that no call could ever supply fail here, at decoration."""
        spec = self.context
        if self._signature is None or spec is None or callable(spec) or isinstance(spec, str):
            return
        params = self._signature.parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return
        names = spec.values() if isinstance(spec, Mapping) else spec
        unknown = [n for n in names if n not in params]
        if unknown:
            raise GuardConfigError(
                f"context= names parameters {unknown} that {self.name} does not have "
                f"(its parameters: {list(params)})"
            )

    # methods: bind like a function
    @overload
    def __get__(self, instance: None, owner: type | None = None) -> GuardedJudge[P, R]: ...
    @overload
    def __get__(
        self: GuardedJudge[Concatenate[S, Q], R], instance: S, owner: type | None = None
    ) -> GuardedJudge[Q, R]: ...
    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        bound = object.__new__(type(self))
        bound.__dict__.update(self.__dict__)
        bound._bound_self = instance
        return bound

    @property
    def metajudge(self) -> MetaJudge | None:
        """The MetaJudge in use (``None`` when checks are skipped)."""
        return self.checker.metajudge

    @property
    def cache(self) -> DiskCache | None:
        """The result cache in use (``None`` when caching is off)."""
        return self.checker.cache

    def _args(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return args if self._bound_self is None else (self._bound_self, *args)

    # -- calling ----------------------------------------------------------------------------
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if self.is_async:
            return self._acall(args, kwargs)  # type: ignore[return-value]
        return self._call(args, kwargs).output

    def run(self, *args: P.args, **kwargs: P.kwargs) -> GuardResult[R]:
        """Call the judge and return a :class:`GuardResult` handle (output + check)."""
        if self.is_async:
            raise GuardConfigError(f"{self.name} is async: use `await guarded.arun(...)`")
        return self._call(args, kwargs)

    @overload
    async def arun(
        self: GuardedJudge[Q, Awaitable[T]], *args: Q.args, **kwargs: Q.kwargs
    ) -> GuardResult[T]: ...
    @overload
    async def arun(
        self: GuardedJudge[Q, T], *args: Q.args, **kwargs: Q.kwargs
    ) -> GuardResult[T]: ...
    async def arun(self, *args: Any, **kwargs: Any) -> GuardResult[Any]:
        """Async twin of :meth:`run` (for async and sync judges alike)."""
        if not self.is_async:
            return self._call(args, kwargs)
        return await self._arun(args, kwargs)

    async def _acall(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return (await self._arun(args, kwargs)).output

    def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> GuardResult[R]:
        full = self._args(args)
        fn: Callable[..., R] = self.fn
        with judge_span(self.checker, self.name) as span:
            output = fn(*full, **kwargs)
            if span.is_recording():
                self._record_call(span, full, kwargs, output)
            result = self.checker.submit(
                output, lambda: self._context(full, kwargs), span=span, wait=self.wait
            )
        return result

    async def _arun(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> GuardResult[Any]:
        full = self._args(args)
        fn: Callable[..., Awaitable[Any]] = self.fn  # type: ignore[assignment]
        with judge_span(self.checker, self.name) as span:
            output = await fn(*full, **kwargs)
            if span.is_recording():
                self._record_call(span, full, kwargs, output)
            result = await self.checker.asubmit(
                output, lambda: self._context(full, kwargs), span=span, wait=self.wait
            )
        return result

    def _record_call(
        self, span: Any, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
    ) -> None:
        """The call's arguments and output on the judge span (content capture only)."""
        try:
            telemetry = self.checker.telemetry
            if telemetry.capture_content:
                telemetry.record_call(span, self._arguments(args, kwargs), output)
        except Exception:  # tracing must never break the judge call
            log.warning("judgeguard: could not record the judge call on its span", exc_info=True)

    def _arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by parameter name (``self`` left out)."""
        values: dict[str, Any] = dict(kwargs)
        if self._signature is not None:
            try:
                bound = self._signature.bind_partial(*args, **kwargs)
                bound.apply_defaults()
                values = dict(bound.arguments)
            except TypeError:
                pass
        values.pop("self", None)
        return values

    def _context(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Question, candidates, label and reference pulled from the call's arguments."""
        if callable(self.context) and not isinstance(self.context, (Mapping, Sequence)):
            return dict(self.context(*args, **kwargs))
        values = self._arguments(args, kwargs)
        if self.context is None:
            return auto_context(values)
        where = f"that {self.name} was not called with"
        return pick_context(self.context, values, names="parameters", where=where)


_UNSET: Any = object()


@contextlib.contextmanager
def judge_span(checker: Checker, name: str) -> Iterator[Any]:
    """The judge span around a guarded call, which never adds an error of its own.

    The judge's own exception passes through unchanged (recorded on the span); a failure
    of the tracing itself (a broken provider or exporter) is logged, and the call goes on
    without a span.
    """
    try:
        scope = checker.telemetry.judge_span(name)
        span = scope.__enter__()
    except Exception:  # tracing must never break the judge call
        log.warning("judgeguard: could not open the judge span", exc_info=True)
        yield INVALID_SPAN
        return
    try:
        yield span
    except BaseException as exc:
        with contextlib.suppress(Exception):
            scope.__exit__(type(exc), exc, exc.__traceback__)
        raise
    try:
        scope.__exit__(None, None, None)
    except Exception:
        log.warning("judgeguard: could not end the judge span", exc_info=True)


@overload
def guard(fn: Callable[P, R], /, **options: Unpack[GuardOptions]) -> GuardedJudge[P, R]: ...
@overload
def guard(
    fn: None = None, /, **options: Unpack[GuardOptions]
) -> Callable[[Callable[P, R]], GuardedJudge[P, R]]: ...
def guard(
    fn: Callable[P, R] | None = None,
    /,
    *,
    context: ContextSpec = None,
    on_result: OnResult | None = None,
    wait: bool = False,
    telemetry: Telemetry | None = None,
    name: str | None = None,
    **options: Unpack[SettingsOptions],
) -> GuardedJudge[P, R] | Callable[[Callable[P, R]], GuardedJudge[P, R]]:
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
    ``$JUDGEGUARD_OFFLOAD``, else ``"thread"``; see :mod:`judgeguard.offload`); ``gate``
    is the :class:`judgeguard.Gate` that turns each MetaJudge answer into the reward
    (review threshold, floor, ``on_error``; default: the MetaJudge's default gate) —
    applied after the cache, so another gate on a cached answer costs no call;
    ``check_timeout`` (seconds, default none) bounds each check from its start to its
    result: a check that takes longer ends ``error`` with reason ``check_timeout``
    (gated like any failed check, delivered like any other; the dispatcher's own bound,
    300 s, applies either way). Judge exceptions propagate unchanged and are recorded on
    the judge span.
    """

    from judgeguard.pipeline import CheckSettings

    settings = CheckSettings.resolve(**options)

    def wrap(f: Callable[P, R]) -> GuardedJudge[P, R]:
        checker = Checker(settings, on_result=on_result, telemetry=telemetry)
        return GuardedJudge(f, checker=checker, context=context, wait=wait, name=name)

    return wrap(fn) if fn is not None else wrap
