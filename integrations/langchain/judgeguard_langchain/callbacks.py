"""``JudgeGuardCallbackHandler``: check a judge model's outputs without wrapping the chain."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from judgeguard_langchain._core import (
    Checker,
    CheckOptions,
    GuardConfigError,
    GuardResult,
    OnResult,
    Telemetry,
)
from judgeguard_langchain.context import context_from_messages

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from judgeguard.schema import Check

__all__ = ["CONTEXT_METADATA_KEY", "HandlerContext", "JudgeGuardCallbackHandler"]

#: Run-metadata key read for per-call context (``{"label": ..., "reference": ...}``).
CONTEXT_METADATA_KEY = "judgeguard_context"

#: ``None`` (the prompt's last human message as question), a fixed mapping, or a
#: function of the prompt (the chat messages, or the prompt string of a text LLM).
HandlerContext = (
    Mapping[str, Any] | Callable[[Sequence[BaseMessage] | str], Mapping[str, Any]] | None
)


class JudgeGuardCallbackHandler(BaseCallbackHandler):
    """Checks every output of the model it is attached to, as it ends (``on_llm_end``).

    For judges you cannot wrap: attach it to the chat model (or text LLM) that acts as
    the judge, ``model.invoke(..., config={"callbacks": [handler]})`` or
    ``model.with_config(callbacks=[handler])``. It is inherited by child runs, so
    attached to a whole chain it checks every model call in it. Each finished model run
    is submitted through one :class:`judgeguard.Checker` (background dispatcher,
    cache, MetaJudge, gate, telemetry, ``on_result``); the handle is kept in
    :attr:`results` under the run id, and :meth:`checks` waits for them all.

    ``context=None`` takes the last human message (or the text prompt) as the
    question; a mapping gives fixed context values; a function gets the chat messages
    (or the prompt string) and returns the context. Per-call values — ``label``,
    ``reference``, candidates — can be passed as run metadata under
    ``"judgeguard_context"`` and are merged on top. Works for sync and async runs
    (LangChain calls a sync handler of an async run in its executor); handler errors
    never reach the judge's caller.
    """

    def __init__(
        self,
        *,
        on_result: OnResult | None = None,
        context: HandlerContext = None,
        telemetry: Telemetry | None = None,
        **options: Unpack[CheckOptions],
    ) -> None:
        if context is not None and not isinstance(context, Mapping) and not callable(context):
            raise GuardConfigError(
                "context= must be None, a mapping of context values or a function of the "
                f"prompt messages, got {type(context).__name__}"
            )
        self.checker = Checker(on_result=on_result, telemetry=telemetry, **options)
        self.context = context
        #: The handle of each checked model run, by run id (insertion-ordered).
        self.results: dict[UUID, GuardResult[Any]] = {}
        self._contexts: dict[UUID, dict[str, Any]] = {}
        self._lock = threading.Lock()

    # -- the callback protocol -----------------------------------------------------------
    @property
    def ignore_chain(self) -> bool:
        """Chain events are not needed."""
        return True

    @property
    def ignore_agent(self) -> bool:
        """Agent events are not needed."""
        return True

    @property
    def ignore_retriever(self) -> bool:
        """Retriever events are not needed."""
        return True

    @property
    def ignore_custom_event(self) -> bool:
        """Custom events are not needed."""
        return True

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Remember the context of a chat model run (its prompt messages, its metadata)."""
        prompt = messages[0] if messages else []
        self._remember(run_id, prompt, metadata)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Remember the context of a text LLM run (its prompt, its metadata)."""
        self._remember(run_id, prompts[0] if prompts else "", metadata)

    def on_llm_end(
        self,
        response: LLMResult,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Submit the check of the run's final output (the first generation)."""
        with self._lock:
            context = self._contexts.pop(run_id, {})
        output = final_output(response)
        if output is None:
            return
        result = self.checker.submit(output, context, run_id=str(run_id))
        with self._lock:
            self.results[run_id] = result

    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Forget a failed run (nothing to check)."""
        with self._lock:
            self._contexts.pop(run_id, None)

    # -- results -------------------------------------------------------------------------
    def checks(self, timeout: float | None = None) -> list[Check]:
        """The finished :class:`judgeguard.Check` of every run so far, in run order.

        Waits up to ``timeout`` seconds for each; raises ``TimeoutError`` if one is late.
        """
        with self._lock:
            handles = list(self.results.values())
        return [h.check(timeout) for h in handles]

    def clear(self) -> None:
        """Forget the handles kept so far (a long-lived handler keeps one per run)."""
        with self._lock:
            self.results.clear()

    # -- internals -----------------------------------------------------------------------
    def _remember(
        self,
        run_id: UUID,
        prompt: Sequence[BaseMessage] | str,
        metadata: Mapping[str, Any] | None,
    ) -> None:
        if self.context is None:
            context = (
                ({"question": prompt} if prompt.strip() else {})
                if isinstance(prompt, str)
                else context_from_messages(prompt)
            )
        elif isinstance(self.context, Mapping):
            context = dict(self.context)
        else:
            context = dict(self.context(prompt))
        extra = (metadata or {}).get(CONTEXT_METADATA_KEY)
        if isinstance(extra, Mapping):
            context.update(extra)
        with self._lock:
            self._contexts[run_id] = context


def final_output(response: LLMResult) -> Any:
    """The judge's final output in an ``LLMResult``: the first generation's message or text."""
    if not response.generations or not response.generations[0]:
        return None
    generation = response.generations[0][0]
    message = getattr(generation, "message", None)
    return message if message is not None else generation.text
