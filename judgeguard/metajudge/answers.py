"""Reading the MetaJudge's answers: support probabilities, atomic reasons, RESULT lines."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from judgeguard.errors import JudgeguardError
from judgeguard.metajudge.metrics import ALLOWED_SCORES
from judgeguard.scrub import clean_text

__all__ = [
    "MalformedAnswer",
    "SupportAnswer",
    "normalise",
    "read_match_lines",
    "read_reasons",
    "read_support",
]


class MalformedAnswer(JudgeguardError):
    """The MetaJudge's answer does not follow the requested format (``reason`` says how)."""

    def __init__(self, message: str, reason: str = "malformed_answer") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SupportAnswer:
    """A validated support-check answer; ``probabilities`` sum to 1 over all options."""

    probabilities: dict[str, float]
    explanation: str
    unsupported_claims: list[str]


def _json_object(text: str) -> dict[str, Any]:
    """The last JSON object in ``text`` (bare, fenced or after prose)."""
    if not text or not text.strip():
        raise MalformedAnswer("the answer is empty", "empty_answer")
    decoder = json.JSONDecoder()
    found: dict[str, Any] | None = None
    pos = 0
    while (start := text.find("{", pos)) != -1:
        try:
            obj, end = decoder.raw_decode(text, start)
        except ValueError:
            pos = start + 1
            continue
        if isinstance(obj, dict):
            found = obj
        pos = end
    if found is None:
        raise MalformedAnswer("the answer holds no JSON object", "no_json")
    return found


def _option_key(key: str, options: Sequence[str]) -> str | None:
    """Map an answer key to an option, tolerating spacing, case and ``7.0`` for ``7``."""
    norm = re.sub(r"\s+", "", str(key)).strip("\"'[]").lower()
    for option in options:
        if norm == option.lower():
            return option
    # a strength level the options do not have: "A>>B" counts for "A>B"
    collapsed = norm.replace(">>", ">")
    for option in options:
        if collapsed == option.lower():
            return option
    try:
        value = float(norm)
    except ValueError:
        return None
    for option in options:
        try:
            if float(option) == value:
                return option
        except ValueError:
            continue
    return None


def _probability(key: str, value: Any) -> float:
    """One probability as a finite float ≥ 0; :class:`MalformedAnswer` otherwise.

    Integers too large for a float (a 400-digit number), ``inf``, ``nan`` and negative
    numbers are malformed, never an exception of another kind.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedAnswer(
            f"probability for {_short(key)} is not a number: {_short(value)}", "bad_probability"
        )
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or number < 0:
        raise MalformedAnswer(
            f"probability for {_short(key)} is not a finite number ≥ 0: {_short(value)}",
            "bad_probability",
        )
    return number


def _short(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return "an integer of more than 40 digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def normalise(weights: dict[str, float]) -> dict[str, float]:
    """Weights ≥ 0 scaled to sum to 1, without overflow or underflow.

    Dividing by the largest weight first keeps every value in [0, 1], so the sum is at
    most the number of options (``1e308`` three times stays 1/3 each). Raises
    :class:`MalformedAnswer` when every weight is 0.
    """
    top = max(weights.values(), default=0.0)
    if not top > 0:
        raise MalformedAnswer("the probabilities sum to 0", "bad_probability")
    scaled = {k: v / top for k, v in weights.items()}
    total = math.fsum(scaled.values())
    return {k: v / total for k, v in scaled.items()}


def read_support(text: str, options: Sequence[str]) -> SupportAnswer:
    """Validate a support-check answer against the verdict options.

    Every key must name an option (missing options count 0), every probability must be a
    finite number ≥ 0 that fits a float, and at least one positive; the distribution is
    renormalised to sum to 1 (models often answer 0.99 or 1.01, or percentages).
    Raises :class:`MalformedAnswer` otherwise. Lone surrogates in the explanation and
    claims are replaced by U+FFFD.
    """
    obj = _json_object(text)
    probs = obj.get("probabilities")
    if not isinstance(probs, dict) or not probs:
        raise MalformedAnswer('the JSON object has no "probabilities" object', "no_probabilities")
    given: list[tuple[str, float]] = []
    for key, value in probs.items():
        option = _option_key(key, options)
        if option is None:
            raise MalformedAnswer(
                f"{_short(key)} is not one of the options {list(options)}", "unknown_option"
            )
        given.append((option, _probability(key, value)))
    # two keys may name one option ("A>>B" and "A>B" without strengths): scale, then add
    top = max(v for _, v in given)
    out = dict.fromkeys(options, 0.0)
    if top > 0:
        for option, value in given:
            out[option] += value / top
    explanation = obj.get("explanation")
    claims = obj.get("unsupported_claims") or []
    return SupportAnswer(
        probabilities=normalise(out),
        explanation=clean_text(explanation) if isinstance(explanation, str) else "",
        unsupported_claims=[clean_text(str(c)) for c in claims] if isinstance(claims, list) else [],
    )


def read_reasons(text: str) -> list[str]:
    """The ``{"reasons": [...]}`` answer of a decomposition (an empty list is valid)."""
    obj = _json_object(text)
    reasons = obj.get("reasons")
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise MalformedAnswer('the JSON object has no "reasons" list of strings', "no_reasons")
    return [clean_text(r.strip()) for r in reasons if r.strip()]


_BLOCK = re.compile(r"<RESULT_START>(.*?)<RESULT_END>", re.DOTALL)
# bounded digit runs: a 5000-digit index must not reach int() (its digit limit raises)
_LINE = re.compile(
    r"^\s*-?\s*R(\d{1,9})\s*@\s*S(\d{1,9})\s*:\s*([-+]?\d{1,9}(?:\.\d{1,12})?)(?![\d.])",
    re.MULTILINE,
)


def read_match_lines(text: str, n_reference: int, n_judge: int) -> list[tuple[int, int, float]]:
    """The paper's ``- R{i}@S{j}: score`` lines, exactly one per reference item.

    Raises :class:`MalformedAnswer` for a missing block, a missing, repeated or extra
    reference line, a judge index outside 0..n_judge, or a score off the
    {0, 0.25, 0.5, 0.75, 1} grid.
    """
    blocks = _BLOCK.findall(text or "")
    if not blocks:
        raise MalformedAnswer("no <RESULT_START> … <RESULT_END> block", "no_result_block")
    lines = [(int(r), int(s), float(v)) for r, s, v in _LINE.findall(blocks[-1])]
    seen: dict[int, tuple[int, int, float]] = {}
    for r, s, v in lines:
        if not 1 <= r <= n_reference:
            raise MalformedAnswer(f"R{r} is not a reference item (R1..R{n_reference})", "bad_index")
        if not 0 <= s <= n_judge:
            raise MalformedAnswer(f"S{s} is not an original item (S0..S{n_judge})", "bad_index")
        if v not in ALLOWED_SCORES:
            raise MalformedAnswer(
                f"score {v:g} for R{r} is not one of 0, 0.25, 0.5, 0.75, 1", "bad_score"
            )
        if r in seen:
            raise MalformedAnswer(f"R{r} has more than one line", "repeated_line")
        seen[r] = (r, s, v)
    missing = [r for r in range(1, n_reference + 1) if r not in seen]
    if missing:
        raise MalformedAnswer(
            "missing lines for " + ", ".join(f"R{r}" for r in missing), "missing_line"
        )
    return [seen[r] for r in range(1, n_reference + 1)]
