"""judgeguard for LangChain: guard judge runnables and judge models with rationale checks.

``JudgeGuardRunnable`` wraps any judge runnable (``prompt | model | parser``,
``with_structured_output``, evaluation chains); ``JudgeGuardCallbackHandler`` checks the
outputs of a judge model it is attached to through ``config={"callbacks": [...]}``.
"""

from judgeguard_langchain._version import __version__
from judgeguard_langchain.callbacks import (
    CONTEXT_METADATA_KEY,
    JudgeGuardCallbackHandler,
    final_output,
)
from judgeguard_langchain.context import (
    CHECK_EVENT,
    METADATA_PREFIX,
    check_summary,
    context_from_input,
    context_from_messages,
    result_summary,
)
from judgeguard_langchain.runnable import JudgeGuardRunnable

__all__ = [
    "CHECK_EVENT",
    "CONTEXT_METADATA_KEY",
    "METADATA_PREFIX",
    "JudgeGuardCallbackHandler",
    "JudgeGuardRunnable",
    "__version__",
    "check_summary",
    "context_from_input",
    "context_from_messages",
    "final_output",
    "result_summary",
]
