"""Structured judge output: JSON objects (in text or as values), tool-call arguments, XML tags."""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from judgeguard.errors import AmbiguousVerdict, excerpt
from judgeguard.parsing.inputs import tag_matches
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


_DECODER = json.JSONDecoder()  # holds no state between calls


def find_json_objects(text: str, max_attempts: int = 256) -> list[tuple[int, int, dict[str, Any]]]:
    """JSON objects embedded in text (bare, in code fences or in prose), with offsets.

    Decoding is tried at each ``{`` (at most ``max_attempts`` times); the characters
    failed attempts read are budgeted at a few times the text's length, so that text
    full of unterminated objects costs linear time.
    """
    decoder = _DECODER
    found: list[tuple[int, int, dict[str, Any]]] = []
    pos, attempts = 0, 0
    budget = 4 * len(text) + 4096  # characters failed attempts may read in total
    while attempts < max_attempts and budget > 0:
        start = text.find("{", pos)
        if start == -1:
            break
        attempts += 1
        try:
            obj, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            budget -= max(exc.pos - start, 1)
            pos = start + 1
            continue
        except (ValueError, RecursionError):  # nested deeper than the recursion limit
            budget -= len(text) - start
            pos = start + 1
            continue
        if isinstance(obj, dict):
            found.append((start, end, obj))
        pos = end
    return found


_OPEN_TAG = re.compile(r"<(?P<name>[A-Za-z][\w-]{0,40})(?:\s[^<>]{0,200})?>")
_CLOSE_TAG = re.compile(r"</(?P<name>[A-Za-z][\w-]*)\s*>")


def find_tags(text: str) -> list[tuple[str, int, int, int, int]]:
    """XML-style tags: (name, start, end, body_start, body_end), outermost first.

    Each opening tag is paired with the first closing tag of its name after it, scanning
    left to right and skipping what a pair encloses (a lazy ``<x>(.*?)</x>`` match), in
    linear time: unclosed tags cost one lookup each, not a scan to the end of the text.
    """
    closes: dict[str, list[tuple[int, int]]] = {}
    for m in tag_matches(_CLOSE_TAG, text):
        closes.setdefault(m.group("name"), []).append((m.start(), m.end()))
    if not closes:
        return []  # no opening tag can be paired
    close_starts = {name: [s for s, _ in spans] for name, spans in closes.items()}
    out = []
    pos = 0
    for m in tag_matches(_OPEN_TAG, text):
        if m.start() < pos:
            continue
        name = m.group("name")
        starts = close_starts.get(name)
        if not starts:
            continue
        k = bisect.bisect_left(starts, m.end())
        if k == len(starts):
            continue
        cs, ce = closes[name][k]
        pos = ce
        if name.lower() in ("think", "thinking"):
            continue
        out.append((name, m.start(), ce, m.end(), cs))
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
