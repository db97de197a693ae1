"""``JudgeGuardRunnable``: a Runnable that guards any LangChain judge (chain, model, parser).

The wrapper is a run of its own (named ``JudgeGuard`` unless ``name=`` says otherwise);
the wrapped runnable runs as its child with the same config and callbacks, and its
output is returned unchanged — the very same object. After the judge's output is
complete, one :class:`judgeguard.Checker` submits the check: the same background
dispatcher, cache, MetaJudge and telemetry as ``@judgeguard.guard``.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.callbacks.manager import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
    adispatch_custom_event,
    dispatch_custom_event,
)
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.base import coerce_to_runnable
from langchain_core.runnables.utils import ConfigurableFieldSpec, coro_with_context
from langchain_core.tracers.base import AsyncBaseTracer, BaseTracer
from langchain_core.utils.pydantic import TypeBaseModel

from judgeguard_langchain._chunks import Accumulator
from judgeguard_langchain._core import (
    Checker,
    ContextSource,
    GuardResult,
    OnResult,
    SettingsOptions,
    Telemetry,
    judge_span,
)
from judgeguard_langchain.context import (
    CHECK_EVENT,
    ContextSpec,
    context_from_input,
    metadata_from_summary,
    result_summary,
    validate_context_spec,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["JudgeGuardRunnable"]

Input = TypeVar("Input")
Output = TypeVar("Output")
T = TypeVar("T")


class JudgeGuardRunnable(Runnable[Input, Output]):
    """Guard a LangChain judge: every output is parsed, checked, gated, cached and traced.

    ``judge_runnable`` is any Runnable (or a function, coerced to one) whose output is a
    judge's verdict with its reasoning: a string, a chat message, a dict such as an
    evaluation chain's ``{"reasoning", "value", "score"}``, or a pydantic model from
    ``with_structured_output``. ``invoke``/``ainvoke``/``batch``/``abatch``/``stream``/
    ``astream`` return exactly what the wrapped runnable returns (streams pass every
    chunk through untouched; the check starts once the stream ends, on the chunks added
    up with ``+`` or the last chunk when they do not add). ``invoke_with_check`` and
    ``ainvoke_with_check`` return a :class:`judgeguard.GuardResult` handle instead.

    ``context`` says where question, candidates, ``label`` and ``reference`` come from
    in the input: ``None`` for the common key names (``question``, ``answer_a`` …), a
    mapping ``{context_key: input_key}``, a list of keys, or a function of the input.
    ``metajudge``, ``verdict``, ``on_result``, ``cache``, ``on_unparsed``, ``sample``,
    ``telemetry``, ``offload``, ``gate`` and ``check_timeout`` mean what they mean for
    :func:`judgeguard.guard`.

    With ``wait=True`` the run ends after the check, and the check summary is sent as
    the custom event ``"judgeguard.check"`` and written into the run's metadata
    (``judgeguard.status``, ``judgeguard.r_rationale``, ``judgeguard.reward``,
    ``judgeguard.needs_review`` …) so that LangSmith or OpenInference tracers show it on
    the run. With ``wait=False`` (default) the run never waits for the MetaJudge: the
    event and metadata carry ``status="pending"`` with the parsed verdict, and the
    finished check arrives through ``on_result``, the handle, and the OpenTelemetry
    evaluator span linked to the judge span.
    """

    def __init__(
        self,
        judge_runnable: Runnable[Input, Output] | Callable[[Input], Output],
        *,
        context: ContextSpec = None,
        on_result: OnResult | None = None,
        wait: bool = False,
        telemetry: Telemetry | None = None,
        name: str | None = None,
        **options: Unpack[SettingsOptions],
    ) -> None:
        validate_context_spec(context)
        self.bound: Runnable[Input, Output] = coerce_to_runnable(judge_runnable)
        self.checker = Checker(on_result=on_result, telemetry=telemetry, **options)
        self.context: ContextSpec = context
        self.wait = wait
        self.name = name or "JudgeGuard"
        self.judge_name = name or self.bound.get_name()
        self.checker.judge_name = self.judge_name  # metrics' judgeguard.judge.name

    def __repr__(self) -> str:
        return f"JudgeGuardRunnable({self.bound!r})"

    @property
    def metajudge(self) -> Any:
        """The MetaJudge in use (``None``: checks end ``skipped``)."""
        return self.checker.metajudge

    # -- schema: the wrapped runnable's --------------------------------------------------
    @property
    def InputType(self) -> Any:
        """The wrapped runnable's input type."""
        return self.bound.InputType

    @property
    def OutputType(self) -> Any:
        """The wrapped runnable's output type."""
        return self.bound.OutputType

    def get_input_schema(self, config: RunnableConfig | None = None) -> TypeBaseModel:
        """The wrapped runnable's input schema."""
        return self.bound.get_input_schema(config)

    def get_output_schema(self, config: RunnableConfig | None = None) -> TypeBaseModel:
        """The wrapped runnable's output schema."""
        return self.bound.get_output_schema(config)

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        """The wrapped runnable's configurable fields."""
        return self.bound.config_specs

    # -- invoke --------------------------------------------------------------------------
    def invoke(self, input: Input, config: RunnableConfig | None = None, **kwargs: Any) -> Output:
        """Run the judge and return its output unchanged (the check runs as configured)."""
        return self.invoke_with_check(input, config, **kwargs).output

    async def ainvoke(
        self, input: Input, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Output:
        """Async twin of :meth:`invoke`."""
        return (await self.ainvoke_with_check(input, config, **kwargs)).output

    def invoke_with_check(
        self, input: Input, config: RunnableConfig | None = None, **kwargs: Any
    ) -> GuardResult[Output]:
        """Run the judge; return the handle: ``.output``, ``.judgment``, ``.check(timeout)``."""
        box: list[GuardResult[Output]] = []

        def run(
            value: Input, run_manager: CallbackManagerForChainRun, config: RunnableConfig
        ) -> Output:
            result = self._call_judge(value, run_manager, config, kwargs)
            box.append(result)
            return result.output

        self._call_with_config(run, input, config)
        return box[0]

    async def ainvoke_with_check(
        self, input: Input, config: RunnableConfig | None = None, **kwargs: Any
    ) -> GuardResult[Output]:
        """Async twin of :meth:`invoke_with_check` (``await handle.acheck()``)."""
        box: list[GuardResult[Output]] = []

        async def run(
            value: Input, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
        ) -> Output:
            result = await self._acall_judge(value, run_manager, config, kwargs)
            box.append(result)
            return result.output

        await self._acall_with_config(run, input, config)
        return box[0]

    def _context(self, value: Any) -> ContextSource:
        """The check's context from the input, or (when it cannot be built) a function
        raising why, so that the check ends ``bad_context`` and the judge still runs."""
        try:
            return context_from_input(self.context, value)
        except Exception as exc:  # the guard's promise: never the caller's error
            error = exc

            def failing() -> dict[str, Any]:
                raise error

            return failing

    def _call_judge(
        self,
        value: Input,
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        kwargs: dict[str, Any],
    ) -> GuardResult[Output]:
        context = self._context(value)
        with judge_span(self.checker, self.judge_name) as span:
            output = self.bound.invoke(value, config, **kwargs)
            result = self.checker.submit(
                output, context, span=span, wait=self.wait, run_id=str(run_manager.run_id)
            )
        self._report(result, run_manager, config)
        return result

    async def _acall_judge(
        self,
        value: Input,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        kwargs: dict[str, Any],
    ) -> GuardResult[Output]:
        context = self._context(value)
        with judge_span(self.checker, self.judge_name) as span:
            output = await self.bound.ainvoke(value, config, **kwargs)
            result = await self.checker.asubmit(
                output, context, span=span, wait=self.wait, run_id=str(run_manager.run_id)
            )
        await self._areport(result, run_manager, config)
        return result

    # -- stream --------------------------------------------------------------------------
    def stream(
        self, input: Input, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Output]:
        """Stream the judge's chunks untouched; the check starts when the stream ends."""
        yield from self.transform(iter([input]), config, **kwargs)

    async def astream(
        self, input: Input, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Output]:
        """Async twin of :meth:`stream`."""

        async def one() -> AsyncIterator[Input]:
            yield input

        async for chunk in self.atransform(one(), config, **kwargs):
            yield chunk

    def transform(
        self, input: Iterator[Input], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Output]:
        """Stream over streamed input (how ``|`` sequences stream through the guard)."""
        yield from self._transform_stream_with_config(input, self._transform, config, **kwargs)

    async def atransform(
        self, input: AsyncIterator[Input], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Output]:
        """Async twin of :meth:`transform`."""
        async for chunk in self._atransform_stream_with_config(
            input, self._atransform, config, **kwargs
        ):
            yield chunk

    def _transform(
        self,
        inputs: Iterator[Input],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Iterator[Output]:
        seen, out = Accumulator(sticky=False), Accumulator()

        def tap() -> Iterator[Input]:
            for chunk in inputs:
                seen.add(chunk)
                yield chunk

        scope = _SpanScope(self.checker.telemetry, self.judge_name)
        source = scope.run(self.bound.transform, tap(), config, **kwargs)
        result = None
        try:
            while True:
                try:
                    chunk = scope.run(next, source)
                except StopIteration:
                    break
                out.add(chunk)
                yield chunk
            if out.count:
                context = self._context(seen.value)
                result = scope.run(
                    self.checker.submit,
                    out.value,
                    context,
                    span=scope.span,
                    wait=self.wait,
                    run_id=str(run_manager.run_id),
                )
        except BaseException as exc:  # incl. GeneratorExit: the consumer stopped early
            try:
                close = getattr(source, "close", None)
                if close is not None:
                    scope.run(close)
            finally:
                scope.exit(exc)
            raise
        scope.exit(None)
        if result is not None:
            self._report(result, run_manager, config)

    async def _atransform(
        self,
        inputs: AsyncIterator[Input],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> AsyncIterator[Output]:
        seen, out = Accumulator(sticky=False), Accumulator()

        async def tap() -> AsyncIterator[Input]:
            async for chunk in inputs:
                seen.add(chunk)
                yield chunk

        scope = _SpanScope(self.checker.telemetry, self.judge_name)
        source = scope.run(self.bound.atransform, tap(), config, **kwargs)
        result = None
        try:
            while True:
                try:
                    chunk = await scope.arun(_anext(source))
                except StopAsyncIteration:
                    break
                out.add(chunk)
                yield chunk
            if out.count:
                context = self._context(seen.value)
                result = await scope.arun(
                    self.checker.asubmit(
                        out.value,
                        context,
                        span=scope.span,
                        wait=self.wait,
                        run_id=str(run_manager.run_id),
                    )
                )
        except BaseException as exc:
            try:
                aclose = getattr(source, "aclose", None)
                if aclose is not None:
                    await scope.arun(aclose())
            except Exception:  # already being finalized by the event loop
                pass
            finally:
                scope.exit(exc)
            raise
        scope.exit(None)
        if result is not None:
            await self._areport(result, run_manager, config)

    # -- LangChain-native visibility -----------------------------------------------------
    def _report(
        self,
        result: GuardResult[Any],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> None:
        if not run_manager.handlers:  # nobody listens: do not parse in the caller's thread
            return
        summary = result_summary(result)
        _annotate_run(run_manager.handlers, run_manager.run_id, summary)
        dispatch_custom_event(CHECK_EVENT, summary, config=config)

    async def _areport(
        self,
        result: GuardResult[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> None:
        if not run_manager.handlers:
            return
        summary = result_summary(result)
        _annotate_run(run_manager.handlers, run_manager.run_id, summary)
        await adispatch_custom_event(CHECK_EVENT, summary, config=config)


def _annotate_run(handlers: list[Any], run_id: Any, summary: dict[str, Any]) -> None:
    """Write the summary into the metadata of the run as each tracer holds it.

    LangSmith's tracer sends ``extra.metadata`` when the run ends, and OpenInference's
    turns it into the span's ``metadata`` attribute; a new dict is set so that metadata
    shared with other runs is left alone.
    """
    entries = metadata_from_summary(summary)
    for handler in handlers:
        if not isinstance(handler, (BaseTracer, AsyncBaseTracer)):
            continue
        run = handler.run_map.get(str(run_id))
        if run is not None:
            run.extra["metadata"] = {**(run.extra.get("metadata") or {}), **entries}


async def _anext(iterator: AsyncIterator[T]) -> T:
    return await iterator.__anext__()


class _SpanScope:
    """The judge span of a stream, current in a private context across the stream's steps.

    A stream is consumed step by step, possibly from different contexts, and may be
    abandoned anywhere; opening the span and running every step of the wrapped stream in
    one :class:`contextvars.Context` keeps the span current for the wrapped runnable and
    lets it be closed cleanly from wherever the stream ends.
    """

    def __init__(self, telemetry: Any, name: str) -> None:
        self.ctx = contextvars.copy_context()
        self._cm = telemetry.judge_span(name)
        self.span: Any = self.ctx.run(self._cm.__enter__)
        self._tracing = bool(self.span.is_recording())

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``fn`` inside the scope's context."""
        return self.ctx.run(fn, *args, **kwargs)

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` inside the scope's context (directly when tracing is off)."""
        if not self._tracing:
            return await coro
        return await coro_with_context(coro, self.ctx)

    def exit(self, exc: BaseException | None) -> None:
        """End the span (recording ``exc`` as the judge span does for an invoke)."""
        if exc is None:
            self.ctx.run(self._cm.__exit__, None, None, None)
        else:
            self.ctx.run(self._cm.__exit__, type(exc), exc, exc.__traceback__)
