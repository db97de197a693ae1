"""Structured judge output: JSON objects (in text or as values), tool-call arguments, XML tags."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from judgeguard.errors import AmbiguousVerdict, excerpt
from judgeguard.verdicts import Verdict, VerdictSpec, interpret_value

__all__ = ["FieldVerdict", "find_json_objects", "find_tags", "verdict_from_mapping"]

#: Keys holding the reasoning, in order of preference (matched case-insensitively, also
#: as the last word of a longer key such as ``step_by_step_reasoning``).
REASONING_KEYS = (
    "reasoning",
    "rationale",
    "reason",
    "reasons",
    "explanation",
    "explanations",
    "comment",
    "comments",
    "feedback",
    "analysis",
    "justification",
    "critique",
    "thoughts",
    "evaluation",
    "assessment",
)
#: Keys holding the verdict, in order of preference.
VERDICT_KEYS = (
    "verdict",
    "winner",
    "preference",
    "preferred",
    "choice",
    "decision",
    "label",
    "grade",
    "value",
    "result",
    "pass",
    "passed",
    "score",
    "rating",
    "answer",
)
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def _key_rank(key: str, vocab: tuple[str, ...]) -> int | None:
    """Rank of ``key`` in ``vocab`` (by its last word), or ``None``."""
    low = key.lower()
    if low in vocab:
        return vocab.index(low)
    words = [w.lower() for w in _WORDS.findall(key)]
    if words and words[-1] in vocab:
        return vocab.index(words[-1]) + len(vocab)
    return None


@dataclass(frozen=True)
class FieldVerdict:
    """A verdict read from a mapping, with the reasoning found beside it."""

    verdict: Verdict
    key: str
    reasoning: str | None
    reasoning_list: tuple[str, ...] | None


def _walk(obj: Mapping[str, Any], depth: int = 0) -> Iterator[Mapping[str, Any]]:
    yield obj
    if depth < 2:
        for v in obj.values():
            if isinstance(v, Mapping):
                yield from _walk(v, depth + 1)


def verdict_from_mapping(obj: Mapping[str, Any], spec: VerdictSpec) -> FieldVerdict | None:
    """Find a verdict-like and a reasoning-like key in a mapping (or one nested in it).

    Keys are matched case-insensitively by :data:`VERDICT_KEYS` and
    :data:`REASONING_KEYS` preference order; the first verdict key whose value reads as
    an allowed verdict wins. Returns ``None`` when no key holds a verdict.
    """
    for level in _walk(obj):
        keys = [k for k in level if isinstance(k, str)]
        ranked = sorted(
            ((r, k) for k in keys if (r := _key_rank(k, VERDICT_KEYS)) is not None),
            key=lambda t: t[0],
        )
        # openevals results ({"key", "score", "comment"}) score on [0, 1]
        implied = (0.0, 1.0) if {"key", "score", "comment"} <= set(keys) else None
        for _, key in ranked:
            value = level[key]
            if isinstance(value, Mapping):
                continue
            verdict = interpret_value(value, spec, key=key, implied_scale=implied)
            if verdict is None:
                continue
            reasoning, items = _reasoning(level) or _reasoning(obj) or (None, None)
            return FieldVerdict(verdict, key, reasoning, items)
    return None


def _reasoning(obj: Mapping[str, Any]) -> tuple[str, tuple[str, ...] | None] | None:
    ranked = sorted(
        (
            (r, k)
            for k in obj
            if isinstance(k, str) and (r := _key_rank(k, REASONING_KEYS)) is not None
        ),
        key=lambda t: t[0],
    )
    for _, key in ranked:
        value = obj[key]
        if isinstance(value, str) and value.strip():
            return value, None
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            items = tuple(v.strip() for v in value if v.strip())
            return "\n".join(f"- {v}" for v in items), items
    return None


def find_json_objects(text: str, max_attempts: int = 256) -> list[tuple[int, int, dict[str, Any]]]:
    """JSON objects embedded in text (bare, in code fences or in prose), with offsets."""
    decoder = json.JSONDecoder()
    found: list[tuple[int, int, dict[str, Any]]] = []
    pos, attempts = 0, 0
    while attempts < max_attempts:
        start = text.find("{", pos)
        if start == -1:
            break
        attempts += 1
        try:
            obj, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            pos = start + 1
            continue
        if isinstance(obj, dict):
            found.append((start, end, obj))
        pos = end
    return found


_TAG_RE = re.compile(
    r"<(?P<name>[A-Za-z][\w-]{0,40})(?:\s[^<>]{0,200})?>(?P<body>.*?)</(?P=name)\s*>", re.DOTALL
)


def find_tags(text: str) -> list[tuple[str, int, int, int, int]]:
    """XML-style tags: (name, start, end, body_start, body_end), outermost first."""
    out = []
    for m in _TAG_RE.finditer(text):
        if m.group("name").lower() in ("think", "thinking"):
            continue
        out.append((m.group("name"), m.start(), m.end(), m.start("body"), m.end("body")))
    return out


def tag_verdict(
    text: str,
    spec: VerdictSpec,
) -> tuple[Verdict, tuple[int, int], tuple[int, int] | None] | None:
    """A verdict in XML-style tags: (verdict, tag span, reasoning body span or None).

    Several verdict tags that disagree raise :class:`AmbiguousVerdict`; the reasoning is
    the body of the best-ranked reasoning-like tag, when there is one.
    """
    tags = find_tags(text)
    verdict_tags = []
    for name, start, end, bs, be in tags:
        if _key_rank(name, VERDICT_KEYS) is None:
            continue
        v = interpret_value(text[bs:be], spec, key=name)
        if v is not None:
            verdict_tags.append((v, (start, end)))
    if not verdict_tags:
        return None
    verdict, span = verdict_tags[-1]
    distinct = {v.render() for v, _ in verdict_tags}
    if len(distinct) > 1:
        raise AmbiguousVerdict(
            f"the judge gave several different verdict tags: {sorted(distinct)}",
            excerpt=excerpt(text, span[0], span[1]),
            candidates=tuple(sorted(distinct)),
        )
    body = None
    ranked = sorted(
        (
            (r, bs, be)
            for name, _s, _e, bs, be in tags
            if (r := _key_rank(name, REASONING_KEYS)) is not None
        ),
        key=lambda t: t[0],
    )
    if ranked:
        body = (ranked[0][1], ranked[0][2])
    return verdict, span, body
