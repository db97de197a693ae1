"""The audit's aggregation: typed per-line rows in, per-judge and overall figures out."""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from judgeguard.audit.inputs import NO_OUTPUT
from judgeguard.verdicts import pairwise_option

__all__ = [
    "ATTEMPTED",
    "SUMMARY_KEYS",
    "AuditRow",
    "AuditSummary",
    "ExactSum",
    "JudgeStats",
    "format_figure",
    "one_line",
    "summary_rows",
]

SUMMARY_KEYS = (
    "n",
    "parse_rate",
    "outcome_accuracy",
    "swap_agreement",
    "rc",
    "mean_r_rationale",
    "mean_reward",
    "flagged_rate",
    "deceptive_rate",
    "errors",
)
#: Check statuses for which the MetaJudge was asked (an attempted check).
ATTEMPTED = ("consistent", "inconsistent", "error")
#: How many flagged lines the summary keeps for the report.
FLAGGED_KEPT = 200


@dataclass(frozen=True)
class AuditRow:
    """What the aggregation reads of one line's result record (``--out``'s JSON object)."""

    line: int
    status: str
    judge: str = "unknown"
    reason: str | None = None
    error: str | None = None
    kind: str | None = None
    verdict: str | None = None
    correct: bool | None = None
    r_rationale: float | None = None
    reward: float | None = None
    needs_review: bool | None = None
    pair_id: Any = None
    swapped: bool | None = None
    #: a line without the judge's output: the keys it has, and its text keys' lengths
    keys: tuple[str, ...] | None = None
    text_keys: Mapping[str, int] | None = None
    #: the whole result record (kept for the report's flagged cases)
    record: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> AuditRow:
        """The row of a result record (freshly built or read back from the cache)."""
        keys = record.get("keys")
        return cls(
            line=int(record.get("line") or 0),
            status=str(record.get("status")),
            judge=str(record.get("judge", "unknown")),
            reason=record.get("reason"),
            error=record.get("error"),
            kind=record.get("kind"),
            verdict=record.get("verdict"),
            correct=record.get("correct"),
            r_rationale=record.get("r_rationale"),
            reward=record.get("reward"),
            needs_review=record.get("needs_review"),
            pair_id=record.get("pair_id"),
            swapped=record.get("swapped"),
            keys=tuple(keys) if keys is not None else None,
            text_keys=record.get("text_keys"),
            record=record,
        )


class ExactSum:
    """A sum of floats kept exact (an integer over a power of two), so that a mean is the
    correctly rounded one whatever order the values were added or partial sums merged in:
    a distributed audit's means equal the local audit's to the last bit. ``float()`` gives
    the total, ``total / n`` the correctly rounded mean."""

    __slots__ = ("_exp", "_num", "_special")

    def __init__(self, value: float = 0.0) -> None:
        self._num, self._exp = 0, 0
        self._special = 0.0  # NaN and infinities, which have no exact ratio
        if value:
            self._add(value)

    def _add(self, other: ExactSum | float) -> None:
        if isinstance(other, ExactSum):
            num, exp, self._special = other._num, other._exp, self._special + other._special
        else:
            value = float(other)
            if not math.isfinite(value):
                self._special += value
                return
            num, den = value.as_integer_ratio()
            exp = den.bit_length() - 1
        if exp > self._exp:
            self._num <<= exp - self._exp
            self._exp = exp
        self._num += num << (self._exp - exp)

    def __iadd__(self, other: ExactSum | float) -> ExactSum:
        self._add(other)
        return self

    def __add__(self, other: ExactSum | float) -> ExactSum:
        out = ExactSum()
        out._add(self)
        out._add(other)
        return out

    def __truediv__(self, n: int) -> float:
        if self._special:
            return float(self) / n
        return self._num / (n << self._exp)  # int / int is correctly rounded

    def __float__(self) -> float:
        return self._num / (1 << self._exp) + self._special

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (int, float)):
            other = ExactSum(float(other))
        if not isinstance(other, ExactSum):
            return NotImplemented
        exp = max(self._exp, other._exp)
        return (self._num << (exp - self._exp)) == (other._num << (exp - other._exp)) and (
            self._special == other._special
            or (math.isnan(self._special) and math.isnan(other._special))
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"ExactSum({float(self)!r})"


@dataclass
class JudgeStats:
    """Running totals of one judge (or of all judges)."""

    n: int = 0
    parsed: int = 0
    labeled: int = 0
    correct: int = 0
    pairs: int = 0
    pairs_agree: int = 0
    checked: int = 0
    consistent: int = 0
    r_sum: ExactSum = field(default_factory=ExactSum)
    reward_n: int = 0
    reward_sum: ExactSum = field(default_factory=ExactSum)
    flagged: int = 0
    correct_checked: int = 0
    deceptive: int = 0
    attempted: int = 0
    errors: int = 0
    error_reasons: Counter[str] = field(default_factory=Counter)

    def add(self, row: AuditRow) -> None:
        """Count one parsed line's row."""
        status, done = row.status, row.status in ("consistent", "inconsistent")
        self.parsed += 1
        if status in ATTEMPTED:
            self.attempted += 1
        if status == "error":
            self.errors += 1
            self.error_reasons[row.reason or "unknown"] += 1
        if row.correct is not None:
            self.labeled += 1
            self.correct += bool(row.correct)
        if done:
            self.checked += 1
            self.consistent += status == "consistent"
            self.r_sum += row.r_rationale or 0.0
            self.flagged += bool(row.needs_review)
            if row.correct:
                self.correct_checked += 1
                self.deceptive += status == "inconsistent"
        if row.reward is not None:
            self.reward_n += 1
            self.reward_sum += row.reward

    def merge(self, other: JudgeStats) -> None:
        """Add another part's totals (a distributed audit's partial sums): every figure is a
        count or a sum, so merged parts give exactly the totals of one pass."""
        for f in dataclasses.fields(self):
            if f.name != "error_reasons":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.error_reasons.update(other.error_reasons)

    def summary(self) -> dict[str, Any]:
        """The contract's figures: rates as fractions, ``None`` where they do not apply;
        ``errors`` counts checks that ended in ``error``, ``error_reasons`` per reason code."""

        def rate(a: float | ExactSum, b: int) -> float | None:
            return a / b if b else None

        return {
            "n": self.n,
            "parse_rate": rate(self.parsed, self.n),
            "outcome_accuracy": rate(self.correct, self.labeled),
            "swap_agreement": rate(self.pairs_agree, self.pairs),
            "rc": rate(self.consistent, self.checked),
            "mean_r_rationale": rate(self.r_sum, self.checked),
            "mean_reward": rate(self.reward_sum, self.reward_n),
            "flagged_rate": rate(self.flagged, self.checked),
            "deceptive_rate": rate(self.deceptive, self.correct_checked),
            "errors": self.errors,
            "error_reasons": dict(sorted(self.error_reasons.items())),
        }


def _winner(rendered: str, swapped: bool) -> str:
    """The winner (A, B or tie) of a rendered pairwise verdict, mirrored if swapped."""
    verdict = pairwise_option(rendered)
    winner = (verdict.mirrored() if swapped else verdict).winner
    assert winner is not None
    return winner


@dataclass
class AuditSummary:
    """Per-judge and overall statistics, plus what the report needs."""

    judges: dict[str, JudgeStats] = field(default_factory=dict)
    overall: JudgeStats = field(default_factory=JudgeStats)
    malformed: list[tuple[int, str]] = field(default_factory=list)
    swap_confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    r_values: list[float] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    flagged: list[dict[str, Any]] = field(default_factory=list)
    lines: int = 0
    metajudge: str | None = None
    #: the gate's settings (review threshold, floor, failure policy) when a MetaJudge ran
    gate: dict[str, Any] | None = None
    interrupted: bool = False
    #: lines without the judge's output, and the keys those lines do have
    missing_output: int = 0
    missing_output_keys: Counter[str] = field(default_factory=Counter)
    #: string-valued keys of those lines with their total text length (a --field hint)
    missing_output_texts: Counter[str] = field(default_factory=Counter)
    #: one error message per reason code, and how often each crash cause occurred
    error_examples: dict[str, str] = field(default_factory=dict)
    crashes: Counter[str] = field(default_factory=Counter)
    #: checks a MetaJudge did not run (empty rationale, unknown scale …) per reason code
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_examples: dict[str, str] = field(default_factory=dict)
    #: the first order of each swapped pair, waiting for its twin: (judge, pair) -> order
    _pending_pairs: dict[tuple[str, str], tuple[bool, str]] = field(
        default_factory=dict, repr=False
    )

    def add(self, row: AuditRow) -> None:
        """Count one line's result row (in input order)."""
        self.lines += 1
        if row.status == "malformed":
            self.malformed.append((row.line, row.error or ""))
            if row.keys is not None:
                self.missing_output += 1
                self.missing_output_keys.update(row.keys)
                self.missing_output_texts.update(row.text_keys or {})
            return
        stats = self.judges.setdefault(row.judge, JudgeStats())
        stats.n += 1
        self.overall.n += 1
        if row.status == "unparsed":
            return
        self._note_failure(row)
        stats.add(row)
        self.overall.add(row)
        if row.status in ("consistent", "inconsistent"):
            self.r_values.append(row.r_rationale or 0.0)
            if row.needs_review and len(self.flagged) < FLAGGED_KEPT:
                self.flagged.append(dict(row.record))
        if row.reward is not None:
            self.rewards.append(row.reward)
        self._pair(row)

    def _note_failure(self, row: AuditRow) -> None:
        reason = row.reason or "unknown"
        if row.status == "skipped" and self.metajudge is not None:
            self.skipped[reason] += 1
            self.skipped_examples.setdefault(reason, str(row.error or ""))
        if row.status == "error":
            self.error_examples.setdefault(reason, str(row.error or ""))
            if reason == "internal_error":
                self.crashes[one_line(str(row.error or ""), 200, strip_classes=False)] += 1

    def add_pair(self, row: AuditRow) -> None:
        """Count one line's part in position-swap agreement only (rows of one pair in
        input order): how a distributed audit pairs twins that landed in different blocks,
        after grouping them by ``pair_id``."""
        self._pair(row)

    def merge(self, other: AuditSummary) -> None:
        """Add a part of the same audit whose lines come after this one's (a distributed
        audit's partial summaries, merged in input order): counts and sums add, lists
        extend, the first example per reason is kept. Pairs still waiting for their twin
        are not merged: a distributed audit pairs twins by grouping them first
        (:meth:`add_pair`)."""
        self.lines += other.lines
        self.overall.merge(other.overall)
        for name, stats in other.judges.items():
            self.judges.setdefault(name, JudgeStats()).merge(stats)
        self.malformed.extend(other.malformed)
        for first, row in other.swap_confusion.items():
            cell = self.swap_confusion.setdefault(first, {})
            for second, count in row.items():
                cell[second] = cell.get(second, 0) + count
        self.r_values.extend(other.r_values)
        self.rewards.extend(other.rewards)
        self.flagged.extend(other.flagged[: max(0, FLAGGED_KEPT - len(self.flagged))])
        self.missing_output += other.missing_output
        self.missing_output_keys.update(other.missing_output_keys)
        self.missing_output_texts.update(other.missing_output_texts)
        for reason, text in other.error_examples.items():
            self.error_examples.setdefault(reason, text)
        self.crashes.update(other.crashes)
        self.skipped.update(other.skipped)
        for reason, text in other.skipped_examples.items():
            self.skipped_examples.setdefault(reason, text)
        self.interrupted = self.interrupted or other.interrupted

    def _pair(self, row: AuditRow) -> None:
        if row.pair_id is None or row.swapped is None or row.kind != "pairwise":
            return
        assert row.verdict is not None
        winner = _winner(row.verdict, row.swapped)
        key = (row.judge, str(row.pair_id))
        other = self._pending_pairs.pop(key, None)
        if other is None or other[0] == row.swapped:
            self._pending_pairs[key] = (row.swapped, winner)
            return
        first, second = (other[1], winner) if not other[0] else (winner, other[1])
        agree = first == second
        for st in (self.judges.setdefault(row.judge, JudgeStats()), self.overall):
            st.pairs += 1
            st.pairs_agree += agree
        cell = self.swap_confusion.setdefault(str(first), {})
        cell[str(second)] = cell.get(str(second), 0) + 1

    def failure_line(self) -> str | None:
        """``"all 6 checks failed: server_error (upstream exploded)"`` when a MetaJudge was
        asked and every check it was asked for failed; else ``None``."""
        o = self.overall
        if self.metajudge is None or o.attempted == 0 or o.errors < o.attempted:
            return None
        parts = []
        for reason, _count in o.error_reasons.most_common(3):
            example = self.error_examples.get(reason, "").removeprefix(f"{reason}: ")
            example = one_line(example)
            parts.append(f"{reason} ({example})" if example else reason)
        noun = "check" if o.attempted == 1 else "checks"
        return f"all {o.attempted} {noun} failed: " + "; ".join(parts)

    def missing_field_hint(self) -> str | None:
        """When most lines lack the judge's output: which field, the keys they do have,
        and a ``--field`` suggestion; else ``None``."""
        if not self.missing_output or 2 * self.missing_output <= self.lines:
            return None
        keys = ", ".join(k for k, _ in self.missing_output_keys.most_common(12))
        text = (
            f"{self.missing_output} of {self.lines} lines were skipped: {NO_OUTPUT}. "
            f"Their keys: {keys or '(none)'}."
        )
        if 2 * self.missing_output_keys["rationale"] > self.missing_output:
            text += " They have a rationale but no verdict: map it with --field verdict=KEY"
        elif self.missing_output_texts:
            guess = self.missing_output_texts.most_common(1)[0][0]
            text += f" Map the judge's output with --field output={guess}"
        else:
            text += " Map the judge's output with --field output=KEY"
        return text + " (dotted paths reach nested keys, e.g. output=judgment.text)."

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` contract: ``{"judges": {name: {...}}, "overall": {...}}``."""
        out: dict[str, Any] = {
            "judges": {k: v.summary() for k, v in sorted(self.judges.items())},
            "overall": self.overall.summary(),
        }
        if self.gate is not None:
            out["gate"] = self.gate
        return out


_EXC_PREFIX = re.compile(r"^(?:[\w.]*(?:Error|Exception)\s*[:\-]\s*)+")


def one_line(text: str, limit: int = 160, *, strip_classes: bool = True) -> str:
    """An error message on one line, without the chain of exception-class prefixes that
    litellm puts in front (``InternalServerError: litellm.InternalServerError: …``)."""
    text = " ".join(text.split())
    if strip_classes:
        text = _EXC_PREFIX.sub("", text) or text
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def summary_rows(summary: AuditSummary) -> list[tuple[str, dict[str, Any]]]:
    """(name, figures) per judge, then ``overall``."""
    rows = [(k, v.summary()) for k, v in sorted(summary.judges.items())]
    rows.append(("overall", summary.overall.summary()))
    return rows


def format_figure(key: str, value: Any) -> str:
    """A figure for a table: counts, means to 3 decimals, rates as percentages, ``–``
    where it does not apply."""
    if value is None:
        return "–"
    if key in ("n", "errors"):
        return str(value)
    if key.startswith("mean_"):
        return f"{value:.3f}"
    return f"{100 * value:.1f}%"
