"""One audit line: the JSON line in, a check request out; the check in, a result record out."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from judgeguard.audit.inputs import NO_OUTPUT, AuditConfig, dig, truthy
from judgeguard.cache import cache_key
from judgeguard.errors import ParseError
from judgeguard.gating import Gate
from judgeguard.scrub import clean_text

if TYPE_CHECKING:  # pydantic models load on first parse: a fully cached rerun never needs them
    from judgeguard.pipeline import CheckRequest
    from judgeguard.schema import Check
    from judgeguard.verdicts import Verdict, VerdictSpec

__all__ = ["Line", "LineAuditor", "dump_json"]


@dataclass
class Line:
    """One input line on its way through the audit."""

    number: int
    raw: bytes
    record: dict[str, Any] | None = None
    error: str | None = None
    judge: str = "unknown"
    verdict: Verdict | None = None
    parse_error: ParseError | None = None
    label: Verdict | None = None
    label_text: str | None = None
    check: Check | None = None


#: The fields a result record carries under their own (or their mapped) name.
_WRITTEN = ("output", "rationale", "verdict", "label", "judge", "id")


class LineAuditor:
    """Turns a line into a check request and a checked line into its result record."""

    def __init__(self, config: AuditConfig) -> None:
        self.config = config
        self._spec: VerdictSpec | None = None
        self._key_prefix: bytes | None = None
        mj = config.metajudge
        #: the gate that turns each answer into a reward (default: the MetaJudge's)
        self.gate: Gate = config.gate or (mj.gate if mj is not None else Gate())
        # no gate here: cached records are re-gated on read (:meth:`regate`)
        self.settings = {
            "spec": config.verdict,
            "fields": sorted(config.fields.items()),
            "metajudge": mj.sampling_key() if mj is not None else None,
            "format": 2,  # result records carry pair_id/swapped as mapped
        }
        self._written = {config.fields.get(name, name) for name in _WRITTEN}

    def line_key(self, raw: bytes) -> str:
        """The line cache's key of a raw line under this audit's settings."""
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

    def field(self, record: Mapping[str, Any], name: str) -> Any:
        """A contract field of a line, through its ``--field`` mapping."""
        path = self.config.fields.get(name)
        return dig(record, path) if path else record.get(name)

    @property
    def spec(self) -> VerdictSpec:
        """The parsed ``--verdict`` spec (built on first use: it needs pydantic)."""
        if self._spec is None:
            from judgeguard.verdicts import VerdictSpec

            self._spec = VerdictSpec.coerce(self.config.verdict)
        return self._spec

    def prepare(self, line: Line) -> CheckRequest | None:
        """Parse one line; returns the check request to submit, or ``None`` (the line's
        error or parse error is noted on it)."""
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
        line.judge = str(self.field(record, "judge") or "unknown")
        label = self.field(record, "label")
        if label is not None:
            line.label_text = str(label)
        output = self.field(record, "output")
        try:
            if output is not None:
                judgment = parse(output, self.spec)
            elif (
                self.field(record, "rationale") is not None
                and self.field(record, "verdict") is not None
            ):
                judgment = judgment_from_parts(
                    str(self.field(record, "rationale")), self.field(record, "verdict"), self.spec
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
        context = {k: self.field(record, k) for k in ("question", "response_a", "response_b")}
        context = {k: v for k, v in context.items() if v is not None}
        reference = self.field(record, "reference")
        if isinstance(reference, str):
            reference = [reference]
        if not (
            isinstance(reference, list) and reference and all(isinstance(r, str) for r in reference)
        ):
            reference = None
        return CheckRequest(
            judgment, context or None, line.label, reference, id=line.number, judge=line.judge
        )

    def result_record(self, line: Line) -> dict[str, Any]:
        """The line's result record (one ``--out`` JSON object)."""
        rec = line.record or {}
        out: dict[str, Any] = {
            "line": line.number,
            "id": self.field(rec, "id") if rec else None,
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
        pair_id = self.field(rec, "pair_id")
        if pair_id is not None:
            out["pair_id"] = pair_id
            out["swapped"] = truthy(self.field(rec, "swapped"))
        if line.parse_error is not None:
            out.update(
                status="unparsed",
                reason=line.parse_error.reason,
                error=str(line.parse_error),
                label=line.label_text,
            )
            return self._carry(out, rec)
        v = line.verdict
        out.update(
            verdict=v.render() if v else None,
            kind=v.kind if v else None,
            label=line.label_text,
            correct=(
                v.agrees_with(line.label) if v is not None and line.label is not None else None
            ),
        )
        if line.check is not None:
            out.update(_check_fields(line.check))
        return self._carry(out, rec)

    def _carry(self, out: dict[str, Any], rec: Mapping[str, Any]) -> dict[str, Any]:
        """The line's other fields under ``fields`` (those already in the result, under
        their own or their mapped name, are left out)."""
        extra = {k: v for k, v in rec.items() if k not in self._written}
        if extra:
            out["fields"] = extra
        return out


def _check_fields(check: Check) -> dict[str, Any]:
    """A check's part of a result record."""
    out: dict[str, Any] = {
        "status": check.status,
        "reason": check.reason,
        "r_rationale": check.r_rationale,
        "r_outcome": check.r_outcome,
        "reward": check.reward,
        "needs_review": (
            check.needs_review if check.status in ("consistent", "inconsistent") else None
        ),
        "supported": check.supported.render() if check.supported else None,
        "explanation": check.explanation,
        "cached": check.cached,
        "error": check.error,
    }
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
    return out


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
