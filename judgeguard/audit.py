"""The audit: logged judgments (JSONL) in, per-line results and per-judge reliability out.

Streaming: lines are read, parsed and checked a window at a time, and results are
written in input order, so memory stays flat in the number of lines (only the first
order of a swapped pair waits for its twin). Checks go through the same dispatcher,
cache and telemetry as the guard. A second, line-level cache entry (keyed on the raw
line and the audit settings) makes a rerun skip even the parse: an interrupted audit
resumes at cache speed and errors are retried.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from judgeguard.cache import DiskCache, cache_key
from judgeguard.dispatch import Dispatcher
from judgeguard.errors import JudgeguardError, ParseError
from judgeguard.gating import Gate
from judgeguard.scrub import clean_text

if TYPE_CHECKING:  # pydantic models load on first parse: a fully cached rerun never needs them
    from judgeguard.schema import Check
    from judgeguard.verdicts import Verdict, VerdictSpec

__all__ = [
    "AuditConfig",
    "AuditError",
    "AuditSummary",
    "JudgeStats",
    "check_config",
    "dump_json",
    "read_lines",
    "run_audit",
]

#: Input paths that mean "read standard input".
STDIN = ("-", "/dev/stdin")

#: The contract's input field names (remappable with ``--field name=dotted.path``).
FIELDS = (
    "output",
    "rationale",
    "verdict",
    "judge",
    "label",
    "pair_id",
    "swapped",
    "reference",
    "question",
    "response_a",
    "response_b",
    "id",
)
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
#: The message of a line without the judge's output.
NO_OUTPUT = "no 'output' (or 'rationale' + 'verdict') field"


class AuditError(JudgeguardError, ValueError):
    """An audit that cannot start (bad file, bad field mapping); the message says why."""


@dataclass
class AuditConfig:
    """Settings of one audit run (see ``judgeguard audit --help``)."""

    metajudge: Any = None
    verdict: str = "auto"
    fields: dict[str, str] = field(default_factory=dict)
    concurrency: int = 16
    limit: int | None = None
    workers: int = 1
    cache: DiskCache | None = None
    telemetry: Any = None
    #: turns each MetaJudge answer into a reward (default: the MetaJudge's default gate);
    #: not part of any cache key, so a rerun with another gate makes no MetaJudge call
    gate: Gate | None = None


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
    r_sum: float = 0.0
    reward_n: int = 0
    reward_sum: float = 0.0
    flagged: int = 0
    correct_checked: int = 0
    deceptive: int = 0
    attempted: int = 0
    errors: int = 0
    error_reasons: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        """The contract's figures: rates as fractions, ``None`` where they do not apply;
        ``errors`` counts checks that ended in ``error``, ``error_reasons`` per reason code."""

        def rate(a: float, b: int) -> float | None:
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

    def failure_line(self) -> str | None:
        """``"all 6 checks failed: server_error (upstream exploded)"`` when a MetaJudge was
        asked and every check it was asked for failed; else ``None``."""
        o = self.overall
        if self.metajudge is None or o.attempted == 0 or o.errors < o.attempted:
            return None
        parts = []
        for reason, _count in o.error_reasons.most_common(3):
            example = self.error_examples.get(reason, "").removeprefix(f"{reason}: ")
            example = _one_line(example)
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


def _one_line(text: str, limit: int = 160, *, strip_classes: bool = True) -> str:
    """An error message on one line, without the chain of exception-class prefixes that
    litellm puts in front (``InternalServerError: litellm.InternalServerError: …``)."""
    text = " ".join(text.split())
    if strip_classes:
        text = _EXC_PREFIX.sub("", text) or text
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _finite(obj: Any) -> Any:
    """``obj`` with non-finite floats (NaN, ±inf) replaced by ``None``."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def dump_json(obj: Any, **kwargs: Any) -> str:
    """Strictly valid JSON in valid UTF-8: NaN and infinities (which ``json`` would write as
    the invalid ``NaN``/``Infinity``) become ``null``, as in JavaScript's
    ``JSON.stringify``, and lone surrogates (which no UTF-8 file can hold) U+FFFD."""
    kwargs.setdefault("ensure_ascii", False)
    kwargs.setdefault("default", str)
    try:
        text = json.dumps(obj, allow_nan=False, **kwargs)
    except ValueError:
        text = json.dumps(_finite(obj), allow_nan=False, **kwargs)
    return clean_text(text)


def _truthy(value: Any) -> bool | None:
    """A ``swapped`` flag: booleans, 0/1 and true/false/yes/no strings, missing = not
    swapped; anything else ``None`` (the line is left out of swap agreement)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "yes", "1", "y"):
            return True
        if low in ("false", "no", "0", "n", ""):
            return False
    return None


def _dig(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(obj, Mapping) and part in obj:
            obj = obj[part]
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


_WINNERS = {"A>>B": "A", "A>B": "A", "A=B": "tie", "B>A": "B", "B>>A": "B"}
_MIRROR = {"A": "B", "B": "A", "tie": "tie"}


def _winner(rendered: str, swapped: bool) -> str:
    """The winner (A, B or tie) of a rendered pairwise verdict, mirrored if swapped."""
    winner = _WINNERS[rendered]
    return _MIRROR[winner] if swapped else winner


def is_stdin(path: str | Path) -> bool:
    """Whether ``path`` names standard input (``-`` or ``/dev/stdin``)."""
    return str(path) in STDIN


def read_lines(path: str | Path, limit: int | None = None) -> Iterator[tuple[int, bytes]]:
    """Non-empty lines of a JSONL file (``-``: standard input) with their 1-based
    numbers, streamed."""
    if str(path) == "-":
        yield from _numbered(sys.stdin.buffer, limit)
        return
    with open(path, "rb") as f:
        yield from _numbered(f, limit)


def _numbered(f: Any, limit: int | None) -> Iterator[tuple[int, bytes]]:
    count = 0
    for number, raw in enumerate(f, 1):
        if not raw.strip():
            continue
        if limit is not None and count >= limit:
            return
        count += 1
        yield number, raw


@dataclass
class _Line:
    number: int
    raw: bytes
    record: dict[str, Any] | None = None
    error: str | None = None
    judge: str = "unknown"
    verdict: Verdict | None = None
    parse_error: ParseError | None = None
    label: Verdict | None = None
    label_text: str | None = None
    result: dict[str, Any] | None = None
    check: Check | None = None


class _Auditor:
    def __init__(self, config: AuditConfig) -> None:
        self.config = config
        self._spec: VerdictSpec | None = None
        self.summary = AuditSummary(metajudge=config.metajudge.model if config.metajudge else None)
        self.pending_pairs: dict[tuple[str, str], tuple[bool, str]] = {}
        mj = config.metajudge
        self.gate: Gate = config.gate or (mj.gate if mj is not None else Gate())
        if mj is not None:
            self.summary.gate = dataclasses.asdict(self.gate)
        self._key_prefix: bytes | None = None
        # no gate here: cached records are re-gated on read (:meth:`regate`)
        self.settings = {
            "spec": config.verdict,
            "fields": sorted(config.fields.items()),
            "metajudge": mj.sampling_key() if mj is not None else None,
            "format": 2,  # result records carry pair_id/swapped as mapped
        }
        written = ("output", "rationale", "verdict", "label", "judge", "id")
        self._written = {config.fields.get(name, name) for name in written}

    # -- one line ---------------------------------------------------------------------------
    def line_key(self, raw: bytes) -> str:
        if self._key_prefix is None:
            self._key_prefix = cache_key("audit_line", settings=self.settings).encode()
        return hashlib.sha256(self._key_prefix + raw).hexdigest()

    def regate(self, result: dict[str, Any]) -> dict[str, Any]:
        """A cached result record with reward and review flag from this audit's gate
        (the record keeps R_rationale and R_outcome, all the gate needs)."""
        if result.get("status") in ("consistent", "inconsistent"):
            gated = self.gate.apply(result.get("r_rationale"), result.get("r_outcome"))
            result["reward"], result["needs_review"] = gated.reward, gated.needs_review
        return result

    def field_(self, record: Mapping[str, Any], name: str) -> Any:
        path = self.config.fields.get(name)
        return _dig(record, path) if path else record.get(name)

    @property
    def spec(self) -> VerdictSpec:
        """The parsed ``--verdict`` spec (built on first use: it needs pydantic)."""
        if self._spec is None:
            from judgeguard.verdicts import VerdictSpec

            self._spec = VerdictSpec.coerce(self.config.verdict)
        return self._spec

    def prepare(self, line: _Line) -> Any:
        """Parse one line; returns the check request to submit, or None."""
        from judgeguard.parsing import judgment_from_parts, parse
        from judgeguard.pipeline import CheckRequest
        from judgeguard.verdicts import Verdict, VerdictSpec

        try:
            record = json.loads(line.raw)
        except ValueError as exc:
            line.error = f"invalid JSON: {exc}"
            return None
        if not isinstance(record, dict):
            line.error = "a line must hold a JSON object"
            return None
        line.record = record
        line.judge = str(self.field_(record, "judge") or "unknown")
        label = self.field_(record, "label")
        if label is not None:
            line.label_text = str(label)
        output = self.field_(record, "output")
        try:
            if output is not None:
                judgment = parse(output, self.spec)
            elif (
                self.field_(record, "rationale") is not None
                and self.field_(record, "verdict") is not None
            ):
                judgment = judgment_from_parts(
                    str(self.field_(record, "rationale")), self.field_(record, "verdict"), self.spec
                )
            else:
                line.error = NO_OUTPUT
                return None
        except ParseError as exc:
            line.parse_error = exc
            return None
        line.verdict = judgment.verdict
        if label is not None:
            try:
                line.label = Verdict.parse(
                    label,
                    VerdictSpec(
                        kind=judgment.verdict.kind,
                        scale=judgment.verdict.scale,
                        options=judgment.verdict.options,
                    ),
                )
            except ParseError:
                line.label = None
        context = {k: self.field_(record, k) for k in ("question", "response_a", "response_b")}
        context = {k: v for k, v in context.items() if v is not None}
        reference = self.field_(record, "reference")
        if isinstance(reference, str):
            reference = [reference]
        if not (
            isinstance(reference, list) and reference and all(isinstance(r, str) for r in reference)
        ):
            reference = None
        return CheckRequest(judgment, context or None, line.label, reference)

    def result_record(self, line: _Line) -> dict[str, Any]:
        rec = line.record or {}
        out: dict[str, Any] = {
            "line": line.number,
            "id": self.field_(rec, "id") if rec else None,
            "judge": line.judge,
        }
        if line.error is not None:
            out.update(status="malformed", reason="malformed_line", error=line.error)
            if line.error == NO_OUTPUT:
                out["keys"] = sorted(str(k) for k in rec)
                out["text_keys"] = {
                    str(k): len(v) for k, v in rec.items() if isinstance(v, str) and v.strip()
                }
            return out
        pair_id = self.field_(rec, "pair_id")
        if pair_id is not None:
            out["pair_id"] = pair_id
            out["swapped"] = _truthy(self.field_(rec, "swapped"))
        if line.parse_error is not None:
            out.update(
                status="unparsed",
                reason=line.parse_error.reason,
                error=str(line.parse_error),
                label=line.label_text,
            )
            return self._carry(out, rec)
        check = line.check
        v = line.verdict
        out.update(
            verdict=v.render() if v else None,
            kind=v.kind if v else None,
            label=line.label_text,
            correct=(
                v.agrees_with(line.label) if v is not None and line.label is not None else None
            ),
        )
        if check is not None:
            out.update(
                status=check.status,
                reason=check.reason,
                r_rationale=check.r_rationale,
                r_outcome=check.r_outcome,
                reward=check.reward,
                needs_review=check.needs_review
                if check.status in ("consistent", "inconsistent")
                else None,
                supported=check.supported.render() if check.supported else None,
                explanation=check.explanation,
                cached=check.cached,
                error=check.error,
            )
            m = check.reference_match
            if m is not None:
                out["reference_check"] = {
                    "status": m.status,
                    "recall": m.recall,
                    "precision": m.precision,
                    "f1": m.f1,
                    "ap": m.ap,
                    "reason": m.reason,
                }
            if check.judgment is not None:
                out["rationale"] = check.judgment.rationale
        return self._carry(out, rec)

    def _carry(self, out: dict[str, Any], rec: Mapping[str, Any]) -> dict[str, Any]:
        """The line's other fields under ``fields`` (those already in the result, under
        their own or their mapped name, are left out)."""
        extra = {k: v for k, v in rec.items() if k not in self._written}
        if extra:
            out["fields"] = extra
        return out

    # -- aggregation ----------------------------------------------------------------------
    def account(self, result: dict[str, Any]) -> None:
        s = self.summary
        s.lines += 1
        if result["status"] == "malformed":
            s.malformed.append((result["line"], result.get("error") or ""))
            if "keys" in result:
                s.missing_output += 1
                s.missing_output_keys.update(result["keys"])
                s.missing_output_texts.update(result.get("text_keys") or {})
            return
        judge = result["judge"]
        stats = s.judges.setdefault(judge, JudgeStats())
        for st in (stats, s.overall):
            st.n += 1
        if result["status"] == "unparsed":
            return
        correct = result.get("correct")
        status = result.get("status")
        done = status in ("consistent", "inconsistent")
        if status == "skipped" and s.metajudge is not None:
            reason = str(result.get("reason") or "unknown")
            s.skipped[reason] += 1
            s.skipped_examples.setdefault(reason, str(result.get("error") or ""))
        if status == "error":
            reason = str(result.get("reason") or "unknown")
            s.error_examples.setdefault(reason, str(result.get("error") or ""))
            if reason == "internal_error":
                s.crashes[_one_line(str(result.get("error") or ""), 200, strip_classes=False)] += 1
        for st in (stats, s.overall):
            st.parsed += 1
            if status in ATTEMPTED:
                st.attempted += 1
            if status == "error":
                st.errors += 1
                st.error_reasons[str(result.get("reason") or "unknown")] += 1
            if correct is not None:
                st.labeled += 1
                st.correct += bool(correct)
            if done:
                st.checked += 1
                st.consistent += status == "consistent"
                st.r_sum += result.get("r_rationale") or 0.0
                st.flagged += bool(result.get("needs_review"))
                if correct:
                    st.correct_checked += 1
                    st.deceptive += status == "inconsistent"
            if result.get("reward") is not None:
                st.reward_n += 1
                st.reward_sum += result["reward"]
        if done:
            s.r_values.append(result.get("r_rationale") or 0.0)
            if result.get("needs_review") and len(s.flagged) < 200:
                s.flagged.append(result)
        if result.get("reward") is not None:
            s.rewards.append(result["reward"])
        self._pair(result)

    def _pair(self, result: dict[str, Any]) -> None:
        pair_id = result.get("pair_id")
        swapped = result.get("swapped")
        if pair_id is None or swapped is None or result.get("kind") != "pairwise":
            return
        winner = _winner(result["verdict"], swapped)
        key = (result["judge"], str(pair_id))
        other = self.pending_pairs.pop(key, None)
        if other is None or other[0] == swapped:
            self.pending_pairs[key] = (swapped, winner)
            return
        first, second = (other[1], winner) if not other[0] else (winner, other[1])
        agree = first == second
        for st in (self.summary.judges[result["judge"]], self.summary.overall):
            st.pairs += 1
            st.pairs_agree += agree
        row = self.summary.swap_confusion.setdefault(str(first), {})
        row[str(second)] = row.get(str(second), 0) + 1


class _Ready:
    """A line whose result is known (a cache hit)."""

    def __init__(self, result: dict[str, Any]) -> None:
        self._result = result

    def done(self) -> bool:
        return True

    def result(self) -> dict[str, Any]:
        return self._result


class _Batch:
    """Lines sent together to a worker process (submitted when full or when awaited)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.items: list[tuple[int, bytes]] = []
        self.future: Any = None

    def submit(self) -> None:
        if self.future is None:
            self.future = self.pool.submit(_worker_batch, self.items)


class _BatchSlot:
    def __init__(self, batch: _Batch, pos: int) -> None:
        self.batch, self.pos = batch, pos

    def done(self) -> bool:
        return self.batch.future is not None and bool(self.batch.future.done())

    def result(self) -> dict[str, Any]:
        self.batch.submit()
        return self.batch.future.result()[self.pos]  # type: ignore[no-any-return]


class _LocalChecker:
    """Parses and checks lines on this process's own dispatcher."""

    def __init__(
        self,
        auditor: _Auditor,
        config: AuditConfig,
        tel: Any,
        store: Callable[[str | None, dict[str, Any]], None],
    ) -> None:
        self.auditor, self.config, self.tel, self.store = auditor, config, tel, store
        window = max(4 * config.concurrency, 64)
        # the checks are the audit's main work: no lower priority
        self.dispatcher = Dispatcher(
            concurrency=config.concurrency, max_queue=window + 1, on_full="wait", nice=0
        )
        self.primed = False

    def slot(self, line: _Line, key: str | None) -> Any:
        from judgeguard.pipeline import failed_check, run_check

        request = self.auditor.prepare(line)
        config, tel, auditor, store = self.config, self.tel, self.auditor, self.store

        # The job builds and stores the line's result itself: every cache write then
        # happens on the dispatcher thread (SQLite writers on two threads wait on each
        # other's locks, which cost milliseconds per line).
        async def job() -> dict[str, Any]:
            if request is not None:
                line.check = await run_check(
                    request, config.metajudge, config.cache, tel, gate=auditor.gate
                )
            result = auditor.result_record(line)
            store(key, result)
            return result

        def fallback(status: str, reason: str, message: str) -> dict[str, Any]:
            failed = failed_check(status, reason, message, config.metajudge)
            line.check = auditor.gate.apply_to(failed)
            return auditor.result_record(line)

        if request is not None and not self.primed and config.metajudge is not None:
            # litellm's slow first import happens only once a check is needed: a rerun
            # served by the cache never pays for it
            from functools import partial

            from judgeguard.metajudge.transport import import_clients

            mj = config.metajudge
            self.dispatcher.prime(partial(import_clients, mj.models, mj.litellm_kwargs))
            self.primed = True
        return self.dispatcher.submit(job, fallback)

    def interrupt(self) -> None:
        self.dispatcher.shutdown(timeout=2.0)

    def close(self) -> None:
        self.dispatcher.close(timeout=0.1)


class _PoolChecker:
    """Sends lines in batches to worker processes (``workers`` > 1): each worker parses,
    checks and caches on its own dispatcher, past one process's litellm CPU ceiling."""

    def __init__(self, config: AuditConfig) -> None:
        import concurrent.futures
        import multiprocessing

        per_worker = max(1, config.concurrency // config.workers)
        payload = {
            "metajudge": config.metajudge,
            "gate": config.gate,
            "verdict": config.verdict,
            "fields": config.fields,
            "concurrency": per_worker,
            "cache_dir": str(config.cache.directory) if config.cache else None,
            "ttl": config.cache.ttl if config.cache else None,
        }
        self.pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=config.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(payload,),
        )
        self.batch_size = max(8, per_worker * 2)
        self.batch = _Batch(self.pool)

    def slot(self, line: _Line, key: str | None) -> Any:
        self.batch.items.append((line.number, line.raw))
        slot = _BatchSlot(self.batch, len(self.batch.items) - 1)
        if len(self.batch.items) >= self.batch_size:
            self.batch.submit()
            self.batch = _Batch(self.pool)
        return slot

    def interrupt(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


_worker_state: dict[str, Any] = {}


def _worker_init(payload: dict[str, Any]) -> None:
    from judgeguard.metajudge.transport import import_clients
    from judgeguard.telemetry import get_telemetry

    cache = DiskCache(payload["cache_dir"], ttl=payload["ttl"]) if payload["cache_dir"] else None
    config = AuditConfig(
        metajudge=payload["metajudge"],
        gate=payload["gate"],
        verdict=payload["verdict"],
        fields=payload["fields"],
        concurrency=payload["concurrency"],
        cache=cache,
    )
    auditor = _Auditor(config)
    store = _store_for(auditor, config)
    logging.getLogger("judgeguard").addFilter(_CrashDigest())
    _worker_state["checker"] = _LocalChecker(auditor, config, get_telemetry(), store)
    if config.metajudge is not None:
        import_clients(config.metajudge.models, config.metajudge.litellm_kwargs)


def _worker_batch(items: list[tuple[int, bytes]]) -> list[dict[str, Any]]:
    checker: _LocalChecker = _worker_state["checker"]
    slots = []
    for number, raw in items:
        line = _Line(number, raw)
        key = checker.auditor.line_key(raw) if checker.config.cache is not None else None
        slots.append(checker.slot(line, key))
    return [s.result() for s in slots]


def _store_for(
    auditor: _Auditor, config: AuditConfig
) -> Callable[[str | None, dict[str, Any]], None]:
    """Stores a line's result in the line cache when it is final (never errors)."""
    final = ("consistent", "inconsistent", "unparsed") + (
        ("skipped",) if config.metajudge is None else ()
    )

    def store(key: str | None, result: dict[str, Any]) -> None:
        if key is not None and config.cache is not None and result["status"] in final:
            config.cache.put_record(key, dump_json(result))

    return store


class _CrashDigest(logging.Filter):
    """Lets one "a check crashed" traceback per distinct cause through; the audit's
    summary counts them all (``AuditSummary.crashes``)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[str, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or "a check crashed" not in str(record.msg):
            return True
        exc = record.exc_info[1]
        cause = (type(exc).__name__, str(exc)[:200])
        if cause in self.seen:
            return False
        self.seen.add(cause)
        record.msg = f"{record.msg} (shown once per cause; the audit counts the others)"
        return True


def check_config(path: str | Path, config: AuditConfig) -> None:
    """Raise :class:`AuditError` when the audit cannot start: run before any output
    file is opened, so a refused run changes nothing."""
    if not is_stdin(path):
        p = Path(path)
        if not p.exists():
            raise AuditError(f"no such file: {p}")
        if p.is_dir():
            raise AuditError(f"{p} is a directory; give a JSONL file (or - for stdin)")
        if not os.access(p, os.R_OK):
            raise AuditError(f"cannot read {p}: permission denied")
    for name, dotted in config.fields.items():
        if name not in FIELDS:
            raise AuditError(f"--field {name}=…: unknown field; known fields: {list(FIELDS)}")
        if not dotted:
            raise AuditError(f"--field {name}= needs a path, e.g. {name}=judgment.response")
    if config.workers < 1:
        raise AuditError("--workers must be at least 1")
    if config.concurrency < 1:
        raise AuditError("--concurrency must be at least 1")
    if config.limit is not None and config.limit < 0:
        raise AuditError("--limit must be 0 or more")


def run_audit(
    path: str | Path,
    config: AuditConfig,
    out: IO[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> AuditSummary:
    """Audit a JSONL file (``-``: stdin) of logged judgments; write one result line per
    input line.

    ``out`` receives the results (JSONL, input order); ``progress(n)`` is told how many
    lines finished since its last call. With ``config.workers > 1`` the lines are parsed
    and checked in that many worker processes. Ctrl-C stops cleanly: finished lines are
    written, the summary covers them, ``summary.interrupted`` is set, and a rerun
    resumes from the cache.
    """
    from judgeguard.telemetry import get_telemetry

    check_config(path, config)
    auditor = _Auditor(config)
    cache = config.cache
    window = max(4 * config.concurrency, 64)
    checker: _LocalChecker | _PoolChecker = (
        _PoolChecker(config)
        if config.workers > 1
        else _LocalChecker(
            auditor, config, config.telemetry or get_telemetry(), _store_for(auditor, config)
        )
    )
    queue: list[Any] = []
    digest = _CrashDigest()
    logger = logging.getLogger("judgeguard")
    logger.addFilter(digest)

    def emit(result: dict[str, Any]) -> None:
        auditor.account(result)
        result.pop("text_keys", None)  # only for the --field hint
        if out is not None:
            out.write(dump_json(result) + "\n")
        if progress is not None:
            progress(1)

    try:
        for number, raw in read_lines(path, config.limit):
            key = auditor.line_key(raw) if cache is not None else None
            cached = cache.get_record(key) if key is not None and cache is not None else None
            if cached is not None:
                result = auditor.regate(json.loads(cached))
                result["line"] = number
                result["cached"] = True
                queue.append(_Ready(result))
            else:
                queue.append(checker.slot(_Line(number, raw), key))
            while queue and (len(queue) > window or queue[0].done()):
                emit(queue.pop(0).result())
        while queue:
            emit(queue.pop(0).result())
    except KeyboardInterrupt:
        auditor.summary.interrupted = True
        checker.interrupt()
        for slot in queue:
            if slot.done():
                try:
                    emit(slot.result())
                except Exception:  # a cancelled batch: its lines simply did not finish
                    break
            else:
                break
    finally:
        checker.close()
        logger.removeFilter(digest)
    return auditor.summary


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
