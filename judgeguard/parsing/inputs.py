"""Reading whatever a judge returned (str, dict, pydantic, dataclass, completions, messages)."""

from __future__ import annotations

import bisect
import codecs
import dataclasses
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from judgeguard.errors import UnsupportedOutput
from judgeguard.verdicts import safe_text

__all__ = ["SCAN_LIMIT", "JudgeOutput", "read_output", "scan_window", "split_thinking"]


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


#: Outputs longer than this many characters are scanned from their tail only: the
#: verdict of a huge output sits at its end, and bounding what is scanned bounds how long
#: any single regex call holds the GIL. ``Judgment.unscanned_chars`` says what was skipped.
SCAN_LIMIT = 64 * 1024
#: How far into the scanned tail the cut may move forward to start on a line boundary.
_ALIGN = 2048


def scan_window(text: str, limit: int | None = None) -> tuple[str, int]:
    """The part of ``text`` the parser reads, and how many leading characters it skips.

    Texts of at most ``limit`` (default :data:`SCAN_LIMIT`) characters are read whole;
    longer ones from their last ``limit`` characters, starting at a line start when one
    is near the cut.
    """
    limit = SCAN_LIMIT if limit is None else limit
    if len(text) <= limit:
        return text, 0
    cut = len(text) - limit
    newline = text.find("\n", cut, cut + _ALIGN)
    if newline != -1:
        cut = newline + 1
    return text[cut:], cut


_THINK_TAG = re.compile(r"<(/?)(think|thinking)>", re.IGNORECASE)
_SPACES = re.compile(r"\s*")
#: Most "<" :func:`tag_matches` tries one by one before leaving the rest to the pattern
_MOST_ANGLES = 16


def tag_matches(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)`` for a pattern whose every match opens with ``"<"`` and
    holds no other: tried where ``"<"`` occurs (a search for one character; most outputs
    hold a few at most), past :data:`_MOST_ANGLES` of them by the pattern's own scan.
    (A match holds no "<" but its first, so the next "<" is past its end.) Matches are
    made one at a time, as ``finditer`` makes them: a text of many tags holds the GIL
    no longer, and keeps no more of them alive, than it did."""
    find = text.find
    i = find("<")
    for _ in range(_MOST_ANGLES):
        if i == -1:
            return
        m = pattern.match(text, i)
        if m is not None:
            yield m
        i = find("<", i + 1)
    if i != -1:
        yield from pattern.finditer(text, i)


def split_thinking(text: str) -> tuple[str, str | None]:
    """Split reasoning-model output into (visible answer, thinking).

    Handles ``<think>…</think>`` blocks and outputs whose chat template dropped the
    opening tag (everything before a lone ``</think>`` is thinking). Linear time: the
    tags are found in one pass and each opening tag is paired with the first closing
    tag of its name after it (what a lazy ``<think>(.*?)</think>`` match would pick).
    """
    opens: list[tuple[int, int, str]] = []
    closes: dict[str, list[tuple[int, int]]] = {"think": [], "thinking": []}
    for m in tag_matches(_THINK_TAG, text):
        name = m.group(2).lower()
        if m.group(1):
            closes[name].append((m.start(), m.end()))
        else:
            opens.append((m.start(), m.end(), name))
    if not opens and not closes["think"] and not closes["thinking"]:
        return text, None  # no tags at all (what every branch below ends in then)
    close_starts = {name: [s for s, _ in spans] for name, spans in closes.items()}
    blocks: list[str] = []
    cuts: list[tuple[int, int]] = []
    pos = 0
    for start, end, name in opens:
        if start < pos:
            continue
        k = bisect.bisect_left(close_starts[name], end)
        if k == len(close_starts[name]):
            continue  # never closed: a later opening tag of the other name may still be
        cs, ce = closes[name][k]
        blocks.append(text[end:cs])
        match_end = _SPACES.match(text, ce).end()  # type: ignore[union-attr]
        cuts.append((start, match_end))
        pos = match_end
    if blocks:
        kept, prev = [], 0
        for s, e in cuts:
            kept.append(text[prev:s])
            prev = e
        kept.append(text[prev:])
        return "".join(kept), "\n\n".join(b.strip("\n") for b in blocks)
    first_close = min(
        (spans[0] for spans in closes.values() if spans), default=None, key=lambda t: t[0]
    )
    if first_close is not None and not any(s < first_close[0] for s, _, _ in opens):
        return text[first_close[1] :].lstrip("\n"), text[: first_close[0]].strip("\n")
    opened = re.match(r"\s*<(think|thinking)>", text, re.IGNORECASE)
    if opened:  # an unclosed block: the model never left its thinking
        return "", text[opened.end() :]
    return text, None


_DECODE_STEP = 1 << 20


def _decode(data: bytes | bytearray | memoryview) -> str:
    """UTF-8 text of ``data`` (invalid bytes replaced), decoded 1 MB at a time so that no
    single call holds the GIL for long on a huge output."""
    if len(data) <= _DECODE_STEP:
        return bytes(data).decode("utf-8", errors="replace")
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    view = memoryview(data).cast("B")
    parts = [decoder.decode(view[i : i + _DECODE_STEP]) for i in range(0, len(view), _DECODE_STEP)]
    parts.append(decoder.decode(b"", final=True))
    return "".join(parts)


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
            except (ValueError, RecursionError):  # not JSON, or nested too deeply
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
    raw = text if text or not structured else dump_json(structured[-1])
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
    dataclasses, litellm/OpenAI chat completions, LangChain messages and LangChain
    ``with_structured_output(include_raw=True)`` results (the ``parsed`` value, else the
    ``raw`` message). Anything else
    raises :class:`judgeguard.UnsupportedOutput`.
    """
    if isinstance(output, str):
        return JudgeOutput(text=output, raw=output)
    if isinstance(output, (bytes, bytearray, memoryview)):
        text = _decode(output)
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
    if _is_include_raw(output):
        return _from_include_raw(output)
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


#: Nesting depth beyond which :func:`dump_json` writes ``"…"`` instead of the value.
_MAX_DUMP_DEPTH = 64


def dump_json(obj: Any) -> str:
    """JSON text of a judge's structured output that never raises.

    Values JSON cannot hold are written as text (``str()``, or a stand-in when that
    fails); when the whole value cannot be dumped (nesting deeper than the recursion
    limit, cycles, integers too long for ``str``), a sanitised copy is: nesting cut at
    64 levels, cycles and huge integers replaced by short stand-ins.
    """
    try:
        return json.dumps(obj, ensure_ascii=False, default=safe_text)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(_sanitised(obj, 0, set()), ensure_ascii=False, default=safe_text)


def _sanitised(value: Any, depth: int, path: set[int]) -> Any:
    if isinstance(value, (str, bool, float)) or value is None:
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 4096 else safe_text(value)
    if depth >= _MAX_DUMP_DEPTH:
        return "…"
    if id(value) in path:
        return "<cycle>"
    if isinstance(value, Mapping):
        path.add(id(value))
        out = {safe_text(k): _sanitised(v, depth + 1, path) for k, v in value.items()}
        path.discard(id(value))
        return out
    if isinstance(value, (list, tuple)):
        path.add(id(value))
        items = [_sanitised(v, depth + 1, path) for v in value]
        path.discard(id(value))
        return items
    return safe_text(value)


def _is_include_raw(obj: Any) -> bool:
    """LangChain ``with_structured_output(include_raw=True)``: {raw, parsed, parsing_error}."""
    return isinstance(obj, Mapping) and set(obj) >= {"raw", "parsed"} and len(obj) <= 3


def _from_include_raw(obj: Mapping[str, Any]) -> JudgeOutput:
    """The ``parsed`` value when there is one, else the ``raw`` message; the model name
    and response id come from the raw message either way."""
    raw_msg = obj.get("raw")
    meta = read_output(raw_msg) if raw_msg is not None else None
    parsed = obj.get("parsed")
    if parsed is None:
        if meta is None:
            error = obj.get("parsing_error")
            raise UnsupportedOutput(
                "a structured-output result with neither a parsed value nor a raw message"
                + (f" (parsing_error: {safe_text(error)})" if error is not None else "")
            )
        return meta
    out = read_output(parsed)
    if meta is None:
        return out
    return dataclasses.replace(
        out,
        thinking=out.thinking or meta.thinking,
        model=out.model or meta.model,
        response_id=out.response_id or meta.response_id,
    )


def _from_mapping(obj: Mapping[str, Any]) -> JudgeOutput:
    raw = dump_json(obj)
    text = ""
    for key in ("output", "text", "content", "completion", "response"):
        value = obj.get(key)
        if isinstance(value, str):
            text = value
            break
    return JudgeOutput(text=text, raw=raw, structured=(obj,))
