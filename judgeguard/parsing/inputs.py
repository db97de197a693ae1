"""Reading whatever a judge returned (str, dict, pydantic, dataclass, completions, messages)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from judgeguard.errors import UnsupportedOutput

__all__ = ["JudgeOutput", "read_output", "split_thinking"]


@dataclass(frozen=True)
class JudgeOutput:
    """A judge's output reduced to text, optional thinking and optional structured fields.

    ``structured`` holds mappings the judge returned as data (a dict, a model, tool-call
    arguments); ``text`` holds its visible text answer.
    """

    text: str
    raw: str
    thinking: str | None = None
    structured: tuple[Mapping[str, Any], ...] = ()
    structured_kind: str = "mapping"
    model: str | None = None
    response_id: str | None = None


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


_THINK_RE = re.compile(r"<(think|thinking)>(.*?)</\1>\s*", re.DOTALL | re.IGNORECASE)


def split_thinking(text: str) -> tuple[str, str | None]:
    """Split reasoning-model output into (visible answer, thinking).

    Handles ``<think>…</think>`` blocks and outputs whose chat template dropped the
    opening tag (everything before a lone ``</think>`` is thinking).
    """
    blocks = [m.group(2) for m in _THINK_RE.finditer(text)]
    if blocks:
        return _THINK_RE.sub("", text), "\n\n".join(b.strip("\n") for b in blocks)
    close = re.search(r"</(think|thinking)>", text, re.IGNORECASE)
    if close and not re.search(r"<(think|thinking)>", text[: close.start()], re.IGNORECASE):
        return text[close.end() :].lstrip("\n"), text[: close.start()].strip("\n")
    opened = re.match(r"\s*<(think|thinking)>", text, re.IGNORECASE)
    if opened:  # an unclosed block: the model never left its thinking
        return "", text[opened.end() :]
    return text, None


def _content_text(content: Any) -> tuple[str, str | None]:
    """Text and thinking from message content: a string or a list of content blocks."""
    if content is None:
        return "", None
    if isinstance(content, str):
        return content, None
    if isinstance(content, Sequence):
        texts: list[str] = []
        thoughts: list[str] = []
        for block in content:
            if isinstance(block, str):
                texts.append(block)
                continue
            kind = _get(block, "type")
            if kind in ("thinking", "reasoning", "redacted_thinking"):
                thought = _get(block, "thinking") or _get(block, "reasoning") or ""
                summary = _get(block, "summary")
                if not thought and isinstance(summary, Sequence):
                    thought = "\n".join(str(_get(s, "text", "")) for s in summary)
                if thought:
                    thoughts.append(str(thought))
            elif kind in ("text", "output_text", None):
                text = _get(block, "text")
                if isinstance(text, str):
                    texts.append(text)
        return "".join(texts), ("\n\n".join(thoughts) or None)
    raise UnsupportedOutput(
        f"message content of type {type(content).__name__} is neither text nor content blocks"
    )


def _tool_arguments(tool_calls: Any) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    if not isinstance(tool_calls, Sequence) or isinstance(tool_calls, str):
        return out
    for call in tool_calls:
        fn = _get(call, "function")
        args = _get(fn, "arguments") if fn is not None else _get(call, "args")
        if args is None:
            args = _get(call, "arguments") or _get(call, "input")
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                continue
        if isinstance(args, Mapping):
            out.append(args)
    return out


def _from_message(message: Any, model: str | None, response_id: str | None) -> JudgeOutput:
    text, block_thinking = _content_text(_get(message, "content"))
    kwargs = _get(message, "additional_kwargs") or {}
    thinking = (
        _get(message, "reasoning_content")
        or (kwargs.get("reasoning_content") if isinstance(kwargs, Mapping) else None)
        or block_thinking
    )
    tool_calls = _get(message, "tool_calls") or (
        kwargs.get("tool_calls") if isinstance(kwargs, Mapping) else None
    )
    structured = tuple(_tool_arguments(tool_calls))
    raw = (
        text
        if text or not structured
        else json.dumps(structured[-1], ensure_ascii=False, default=str)
    )
    meta = _get(message, "response_metadata") or {}
    if model is None and isinstance(meta, Mapping):
        model = meta.get("model_name") or meta.get("model")
    if response_id is None:
        response_id = _get(message, "id") if not isinstance(message, Mapping) else None
    return JudgeOutput(
        text=text,
        raw=raw,
        thinking=thinking if isinstance(thinking, str) else None,
        structured=structured,
        structured_kind="tool_call",
        model=model,
        response_id=response_id if isinstance(response_id, str) else None,
    )


def _is_completion(obj: Any) -> bool:
    choices = _get(obj, "choices")
    return (
        isinstance(choices, Sequence)
        and not isinstance(choices, str)
        and len(choices) > 0
        and _get(choices[0], "message") is not None
    )


def _is_message(obj: Any) -> bool:
    if isinstance(obj, Mapping):
        return "content" in obj and obj.get("role") in ("assistant", "ai")
    return hasattr(obj, "content") and (
        hasattr(obj, "additional_kwargs") or getattr(obj, "role", None) == "assistant"
    )


def read_output(output: Any) -> JudgeOutput:
    """Reduce a judge's return value to a :class:`JudgeOutput`.

    Accepts ``str``/``bytes``, mappings (plain dicts, LangChain evaluator results,
    openevals results, OpenAI-style completion or message dicts), pydantic models,
    dataclasses, litellm/OpenAI chat completions and LangChain messages. Anything else
    raises :class:`judgeguard.UnsupportedOutput`.
    """
    if isinstance(output, str):
        return JudgeOutput(text=output, raw=output)
    if isinstance(output, (bytes, bytearray)):
        text = bytes(output).decode("utf-8", errors="replace")
        return JudgeOutput(text=text, raw=text)
    if _is_completion(output):
        choice = _get(output, "choices")[0]
        model = _get(output, "model")
        rid = _get(output, "id")
        return _from_message(
            _get(choice, "message"),
            model if isinstance(model, str) else None,
            rid if isinstance(rid, str) else None,
        )
    if _is_message(output):
        return _from_message(output, None, None)
    if isinstance(output, Mapping):
        return _from_mapping(output)
    dump = getattr(output, "model_dump", None)
    if callable(dump) and not isinstance(output, type):
        data = dump()
        if isinstance(data, Mapping):
            return _from_mapping(data)
    if dataclasses.is_dataclass(output) and not isinstance(output, type):
        return _from_mapping(dataclasses.asdict(output))
    raise UnsupportedOutput(
        f"judgeguard cannot read a judge output of type {type(output).__name__}; return a str, "
        "a dict, a pydantic model, a dataclass, a chat completion or a LangChain message, or "
        "register a format with judgeguard.register_format(...)"
    )


def _from_mapping(obj: Mapping[str, Any]) -> JudgeOutput:
    try:
        raw = json.dumps(obj, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        raw = repr(obj)
    text = ""
    for key in ("output", "text", "content", "completion", "response"):
        value = obj.get(key)
        if isinstance(value, str):
            text = value
            break
    return JudgeOutput(text=text, raw=raw, structured=(obj,))
