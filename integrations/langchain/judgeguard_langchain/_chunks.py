"""Adding up streamed chunks into the final value (``+`` when the chunks support it)."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessageChunk

__all__ = ["Accumulator"]


class Accumulator:
    """Adds chunks with ``+`` (strings, message chunks, addable dicts), else keeps the last.

    Lists are never concatenated: output parsers stream a growing list, each chunk whole.

    ``AIMessageChunk``s are merged in one addition when the value is read (adding them
    one at a time re-parses tool-call arguments each time). With ``sticky=True`` a chunk
    that cannot be added switches to keep-the-last for the rest of the stream (right for
    outputs such as a JSON parser's growing dicts); with ``sticky=False`` later chunks
    are tried again (how LangChain gathers streamed inputs).
    """

    def __init__(self, *, sticky: bool = True) -> None:
        self._value: Any = None
        self._messages: list[AIMessageChunk] = []
        self._addable = True
        self._sticky = sticky
        self.count = 0

    def add(self, chunk: Any) -> None:
        """Add one chunk."""
        self.count += 1
        if self._value is None and self._addable and isinstance(chunk, AIMessageChunk):
            self._messages.append(chunk)
            return
        self._flush()
        self._add(chunk)

    @property
    def value(self) -> Any:
        """The accumulated value (``None`` before the first chunk)."""
        self._flush()
        return self._value

    def _flush(self) -> None:
        if not self._messages:
            return
        chunks, self._messages = self._messages, []
        try:
            self._value = chunks[0] + chunks[1:] if len(chunks) > 1 else chunks[0]
        except (TypeError, ValueError):
            for chunk in chunks:
                self._add(chunk)

    def _add(self, chunk: Any) -> None:
        if self._value is None or not self._addable:
            self._value = chunk
            return
        if isinstance(chunk, list):  # parsers stream growing lists, not pieces of one
            self._value = chunk
            self._addable = not self._sticky
            return
        try:
            self._value = self._value + chunk
        except TypeError:
            self._value = chunk
            self._addable = not self._sticky
