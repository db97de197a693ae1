"""Where a check's context comes from: a judge call's arguments, a runnable's input, chat messages.

The context is a mapping such as ``{"question": ..., "response_a": ..., "label": ...,
"reference": [...]}``. The guard (:mod:`judgeguard.guarding`) builds it from the guarded
function's arguments, the LangChain integration from a runnable's input or a chat model's
messages; both use the functions here, so a key name means the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from judgeguard.errors import ContextError, GuardConfigError
from judgeguard.options import ContextSpec  # one alias for the guard and LangChain

__all__ = [
    "AUTO_CONTEXT",
    "ContextError",
    "ContextSpec",
    "auto_context",
    "context_from_input",
    "context_from_messages",
    "pick_context",
    "validate_context_spec",
]

#: Parameter (or input key) names read as context when ``context=None`` (first match wins).
AUTO_CONTEXT: dict[str, tuple[str, ...]] = {
    "question": ("question", "prompt", "input", "query", "instruction", "inputs"),
    "response_a": ("response_a", "answer_a", "output_a", "completion_a", "a"),
    "response_b": ("response_b", "answer_b", "output_b", "completion_b", "b"),
    "response": ("response", "answer", "output", "completion", "prediction", "outputs"),
    "rubric": ("rubric", "criteria"),
    "label": ("label", "gold", "gold_label", "expected_verdict", "ground_truth"),
    "reference": ("reference", "reference_reasons", "reference_outputs"),
}


def auto_context(values: Mapping[str, Any]) -> dict[str, Any]:
    """The context found under the common names of :data:`AUTO_CONTEXT` in ``values``.

    A ``reference`` that is not a list of strings (atomic reasons) is a reference
    *answer*: it is returned as ``reference_answer``.
    """
    out: dict[str, Any] = {}
    for key, names in AUTO_CONTEXT.items():
        for name in names:
            if values.get(name) is not None:
                out[key] = values[name]
                break
    ref = out.get("reference")
    if ref is not None and not (
        isinstance(ref, (list, tuple)) and all(isinstance(r, str) for r in ref)
    ):
        out["reference_answer"] = out.pop("reference")  # an answer, not atomic reasons
    return out


def pick_context(
    spec: Mapping[str, str] | Sequence[str], values: Mapping[str, Any], *, names: str, where: str
) -> dict[str, Any]:
    """``{context_key: values[name]}`` for a mapping ``{context_key: name}`` or a list of
    names; raises :class:`ContextError` naming the missing ones, as in ``context= names
    {names} [...] {where}`` (e.g. ``names="parameters"``, ``where="that my_judge was not
    called with"``)."""
    mapping = dict(spec) if isinstance(spec, Mapping) else {name: name for name in spec}
    missing = [name for name in mapping.values() if name not in values]
    if missing:
        raise ContextError(f"context= names {names} {missing} {where}")
    return {key: values[name] for key, name in mapping.items()}


def validate_context_spec(spec: Any) -> None:
    """Raise :class:`judgeguard.GuardConfigError` when ``context=`` cannot work."""
    if spec is None or isinstance(spec, Mapping):
        if isinstance(spec, Mapping) and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in spec.items()
        ):
            raise GuardConfigError(
                "context= as a mapping must map context keys to input keys (both str), "
                "e.g. {'question': 'query', 'label': 'gold'}"
            )
        return
    if isinstance(spec, str):
        raise GuardConfigError(
            f"context={spec!r} is a single string: pass a list of input keys ([{spec!r}]) "
            f"or a mapping ({{'question': {spec!r}}})"
        )
    if isinstance(spec, Sequence):
        if not all(isinstance(k, str) for k in spec):
            raise GuardConfigError("context= as a list must hold input key names (str)")
        return
    if callable(spec):
        return
    raise GuardConfigError(
        "context= must be None, a mapping {context_key: input_key}, a list of input keys "
        f"or a function of the input, got {type(spec).__name__}"
    )


def _message_text(message: Any) -> str | None:
    text = getattr(message, "text", None)
    if isinstance(text, str):  # a property in langchain-core 1.x
        return str(text)
    if callable(text):  # a method before 1.0
        text = text()
        if isinstance(text, str):
            return text
    content = getattr(message, "content", None)
    return content if isinstance(content, str) else None


def _is_human(message: Any) -> bool:
    kind = getattr(message, "type", None)
    if kind is None and isinstance(message, tuple) and len(message) == 2:
        kind = message[0]
    return kind in ("human", "user")


def context_from_messages(messages: Sequence[Any]) -> dict[str, Any]:
    """``{"question": <last human message text>}`` from chat messages (``{}`` if none).

    Messages are LangChain messages (``.type == "human"``) or ``(role, text)`` tuples.
    """
    for message in reversed(list(messages)):
        if _is_human(message):
            text = message[1] if isinstance(message, tuple) else _message_text(message)
            if isinstance(text, str) and text.strip():
                return {"question": text}
    return {}


def _as_mapping(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, Mapping):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        data = dump()
        if isinstance(data, Mapping):
            return data
    return None


def context_from_input(spec: ContextSpec, value: Any) -> dict[str, Any]:
    """The check context (question, candidates, ``label``, ``reference`` …) for one input.

    ``spec=None`` reads the common key names of :data:`AUTO_CONTEXT` from a dict input
    (a plain string input becomes the question; chat messages or a prompt value give their
    last human message as the question); a mapping ``{context_key: input_key}`` or a list
    of keys picks keys of a dict input (missing keys raise :class:`ContextError`, a
    :class:`judgeguard.GuardConfigError`); a function gets the whole input.
    """
    if callable(spec) and not isinstance(spec, (Mapping, Sequence)):
        return dict(spec(value))
    to_messages = getattr(value, "to_messages", None)  # a PromptValue
    values = None if callable(to_messages) else _as_mapping(value)
    if spec is None:
        if values is not None:
            return auto_context(values)
        if isinstance(value, str):
            return {"question": value} if value.strip() else {}
        if callable(to_messages):
            return context_from_messages(to_messages())
        if isinstance(value, Sequence):
            return context_from_messages(value)
        return {}
    if values is None:
        raise ContextError(
            f"context={spec!r} names input keys, but the input is a "
            f"{type(value).__name__}, not a dict; pass context= as a function of the input"
        )
    where = f"that the input does not have (it has {sorted(map(str, values))})"
    return pick_context(spec, values, names="input keys", where=where)
