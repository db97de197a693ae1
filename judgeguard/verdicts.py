"""Verdicts (pairwise, score, label), the verdict= spec, and R_outcome normalisation."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from judgeguard.errors import InvalidVerdictSpec, ParseError, ScoreOutOfRange, excerpt

__all__ = [
    "LABEL_VALUES",
    "Verdict",
    "VerdictKind",
    "VerdictSpec",
    "interpret_value",
]

VerdictKind = Literal["pairwise", "score", "label"]
Winner = Literal["A", "B", "tie"]

#: Outcome value of common label words when no values are declared (1 = good, 0 = bad).
LABEL_VALUES: dict[str, float] = {
    **dict.fromkeys(
        [
            "pass",
            "passed",
            "yes",
            "y",
            "true",
            "correct",
            "relevant",
            "factual",
            "faithful",
            "grounded",
            "supported",
            "safe",
            "accurate",
            "consistent",
            "good",
            "acceptable",
            "accept",
            "accepted",
            "helpful",
        ],
        1.0,
    ),
    **dict.fromkeys(
        [
            "fail",
            "failed",
            "no",
            "n",
            "false",
            "incorrect",
            "irrelevant",
            "unrelated",
            "hallucinated",
            "unfaithful",
            "ungrounded",
            "unsupported",
            "unsafe",
            "inaccurate",
            "inconsistent",
            "bad",
            "unacceptable",
            "reject",
            "rejected",
            "unhelpful",
            "toxic",
        ],
        0.0,
    ),
    **dict.fromkeys(["partial", "partially correct", "partially_correct"], 0.5),
}

#: The other side of a binary label, used to offer the MetaJudge both options.
_LABEL_OPPOSITES: dict[str, str] = {}
for _a, _b in [
    ("pass", "fail"),
    ("passed", "failed"),
    ("yes", "no"),
    ("y", "n"),
    ("true", "false"),
    ("correct", "incorrect"),
    ("relevant", "unrelated"),
    ("factual", "hallucinated"),
    ("faithful", "unfaithful"),
    ("grounded", "ungrounded"),
    ("supported", "unsupported"),
    ("safe", "unsafe"),
    ("accurate", "inaccurate"),
    ("consistent", "inconsistent"),
    ("good", "bad"),
    ("acceptable", "unacceptable"),
    ("accept", "reject"),
    ("accepted", "rejected"),
    ("helpful", "unhelpful"),
]:
    _LABEL_OPPOSITES[_a] = _b
    _LABEL_OPPOSITES[_b] = _a

_PAIRWISE_OUTCOME: dict[tuple[str, int | None], float] = {
    ("A", 2): 1.0,
    ("A", 1): 0.75,
    ("tie", None): 0.5,
    ("B", 1): 0.25,
    ("B", 2): 0.0,
    ("A", None): 1.0,
    ("B", None): 0.0,
}


def _fmt_num(x: float) -> str:
    """Render a number without a trailing ``.0`` (``7.0`` -> ``7``, ``8.5`` -> ``8.5``)."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


class Verdict(BaseModel):
    """A judge's verdict: pairwise, score or label.

    Pairwise verdicts have a ``winner`` (``"A"``, ``"B"`` or ``"tie"``) and an optional
    ``strength`` (1 = better, 2 = much better; ``None`` when the format has no levels);
    they render as ``A>>B``, ``A>B``, ``A=B``, ``B>A``, ``B>>A``. Two-score formats keep
    the judge's ``scores`` for A and B. Score verdicts have a ``value`` on an inclusive
    ``scale`` (``None`` when the format does not say). Label verdicts have a lower-cased
    ``label``, the declared ``options`` when known and the label's outcome value.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: VerdictKind
    winner: Winner | None = None
    strength: Literal[1, 2] | None = None
    scores: tuple[float, float] | None = None
    value: float | None = None
    scale: tuple[float, float] | None = None
    label: str | None = None
    options: tuple[str, ...] | None = None
    label_value: float | None = None

    @model_validator(mode="after")
    def _check_kind_fields(self) -> Verdict:
        if self.kind == "pairwise":
            if self.winner is None:
                raise ValueError("a pairwise verdict needs winner='A', 'B' or 'tie'")
            if self.winner == "tie" and self.strength is not None:
                raise ValueError("a tie has no strength")
        elif self.kind == "score":
            if self.value is None or not math.isfinite(self.value):
                raise ValueError("a score verdict needs a finite value")
            if self.scale is not None:
                lo, hi = self.scale
                if not lo < hi:
                    raise ValueError(f"score scale must be increasing, got {self.scale}")
                if not lo <= self.value <= hi:
                    raise ValueError(f"score {self.value} lies outside the scale {lo}-{hi}")
        elif self.label is None or not self.label:
            raise ValueError("a label verdict needs a non-empty label")
        return self

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def pairwise(
        cls,
        winner: Winner,
        strength: Literal[1, 2] | None = None,
        scores: tuple[float, float] | None = None,
    ) -> Verdict:
        """A pairwise verdict (``winner`` in ``"A"``, ``"B"``, ``"tie"``)."""
        return cls(
            kind="pairwise",
            winner=winner,
            strength=None if winner == "tie" else strength,
            scores=scores,
        )

    @classmethod
    def score(cls, value: float, scale: tuple[float, float] | None = None) -> Verdict:
        """A score verdict; ``scale`` is the inclusive ``(low, high)`` range when known."""
        return cls(
            kind="score",
            value=float(value),
            scale=None if scale is None else (float(scale[0]), float(scale[1])),
        )

    @classmethod
    def of_label(
        cls,
        label: str,
        options: tuple[str, ...] | None = None,
        values: Mapping[str, float] | None = None,
    ) -> Verdict:
        """A label verdict; its outcome value comes from ``values`` or common label words."""
        norm = normalize_label(label)
        opts = None if options is None else tuple(normalize_label(o) for o in options)
        value = (values or {}).get(norm, LABEL_VALUES.get(norm))
        return cls(kind="label", label=norm, options=opts, label_value=value)

    # -- views --------------------------------------------------------------------------
    def render(self) -> str:
        """The canonical text of the verdict: ``A>>B`` … ``B>>A``, ``7``, ``pass``."""
        if self.kind == "pairwise":
            if self.winner == "tie":
                return "A=B"
            op = ">>" if self.strength == 2 else ">"
            return f"A{op}B" if self.winner == "A" else f"B{op}A"
        if self.kind == "score":
            assert self.value is not None
            return _fmt_num(self.value)
        assert self.label is not None
        return self.label

    def __str__(self) -> str:
        return self.render()

    def outcome(self) -> float | None:
        """R_outcome without a gold label: the verdict's own value in [0, 1].

        Score: its position on the scale (``None`` when the scale is unknown). Label: 1/0
        for pass/fail-like labels, the declared value otherwise (``None`` when unknown).
        Pairwise: the preference for A (A>>B 1.0, A>B 0.75, A=B 0.5, B>A 0.25, B>>A 0.0;
        without strength levels 1 / 0.5 / 0).
        """
        if self.kind == "pairwise":
            assert self.winner is not None
            return _PAIRWISE_OUTCOME[(self.winner, self.strength)]
        if self.kind == "score":
            if self.scale is None:
                return None
            assert self.value is not None
            lo, hi = self.scale
            return (self.value - lo) / (hi - lo)
        return self.label_value

    def agrees_with(self, gold: Verdict | str | float) -> bool:
        """Whether this verdict matches a gold label (R_outcome = 1 with a gold label).

        Pairwise verdicts agree when the winner is the same (strength is not compared:
        gold preference labels rarely carry it); scores when the values are equal;
        labels when the labels are equal, ignoring case.
        """
        if not isinstance(gold, Verdict):
            gold = Verdict.parse(gold, VerdictSpec(kind=self.kind))
        if gold.kind != self.kind:
            return False
        if self.kind == "pairwise":
            return self.winner == gold.winner
        if self.kind == "score":
            assert self.value is not None and gold.value is not None
            return math.isclose(self.value, gold.value, rel_tol=0, abs_tol=1e-9)
        return self.label == gold.label

    def mirrored(self) -> Verdict:
        """The same pairwise judgment with A and B swapped (identity for other kinds)."""
        if self.kind != "pairwise" or self.winner == "tie":
            return self
        scores = None if self.scores is None else (self.scores[1], self.scores[0])
        return self.model_copy(
            update={"winner": "B" if self.winner == "A" else "A", "scores": scores}
        )

    def option_space(self) -> tuple[str, ...]:
        """The rendered verdicts a judge of this kind could have returned.

        Pairwise: five options with strength levels, three without. Score: every
        integer step of an integer scale of 3 to 101 steps, else eleven evenly spaced
        points (``()`` when the scale is unknown). Label: the
        declared options, else the label and its usual opposite.
        """
        if self.kind == "pairwise":
            if self.strength is None and self.winner != "tie":
                return ("A>B", "A=B", "B>A")
            return ("A>>B", "A>B", "A=B", "B>A", "B>>A")
        if self.kind == "score":
            if self.scale is None:
                return ()
            lo, hi = self.scale
            if lo.is_integer() and hi.is_integer() and 2 <= hi - lo <= 100:
                return tuple(str(v) for v in range(int(lo), int(hi) + 1))
            return tuple(_fmt_num(round(lo + (hi - lo) * i / 10, 6)) for i in range(11))
        if self.options:
            return self.options
        assert self.label is not None
        other = _LABEL_OPPOSITES.get(self.label)
        return (self.label, other) if other else (self.label,)

    @classmethod
    def parse(cls, text: str | float | bool, spec: VerdictSpec | str | None = None) -> Verdict:
        """Read a rendered verdict such as ``"A>B"``, ``"[[B>>A]]"``, ``"7"`` or ``"pass"``.

        Used for gold labels and for the values of verdict keys in structured output.
        Raises :class:`judgeguard.ParseError` when the text is not a verdict.
        """
        result = interpret_value(text, VerdictSpec.coerce(spec))
        if result is None:
            raise ParseError(
                f"not a verdict: {text!r}", excerpt=excerpt(str(text)), reason="not_a_verdict"
            )
        return result


def normalize_label(label: str) -> str:
    """Lower-case a label and strip quotes, brackets, markdown and trailing punctuation."""
    return label.strip().strip("\"'`*[]()<>.,;:!").strip().lower()


_SCALE_RE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:-|\.\.|to|–)\s*(-?\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class VerdictSpec:
    """What kind of verdict to look for: the parsed form of ``verdict=``.

    Strings: ``"auto"`` (any kind), ``"pairwise"``, ``"score"`` (any scale),
    ``"score:1-10"``, ``"label"``, ``"label:pass,fail"`` or with values
    ``"label:good=1,ok=0.5,bad=0"``.
    """

    kind: Literal["auto", "pairwise", "score", "label"] = "auto"
    scale: tuple[float, float] | None = None
    options: tuple[str, ...] | None = None
    values: tuple[tuple[str, float], ...] = field(default=())

    @classmethod
    def coerce(cls, spec: VerdictSpec | str | None) -> VerdictSpec:
        """Accept a spec object, a spec string or ``None`` (= ``"auto"``)."""
        if spec is None:
            return cls()
        if isinstance(spec, VerdictSpec):
            return spec
        if not isinstance(spec, str):
            raise InvalidVerdictSpec(
                f"verdict= must be a string like 'pairwise', 'score:1-10' or 'label:pass,fail', "
                f"or a VerdictSpec; got {type(spec).__name__}"
            )
        return cls.parse(spec)

    @classmethod
    def parse(cls, spec: str) -> VerdictSpec:
        """Parse a spec string; raises :class:`InvalidVerdictSpec` with a usage hint."""
        head, _, rest = spec.strip().partition(":")
        head = head.strip().lower()
        rest = rest.strip()
        if head in ("auto", "", "pairwise") and not rest:
            return cls(kind="pairwise" if head == "pairwise" else "auto")
        if head == "score":
            if not rest:
                return cls(kind="score")
            m = _SCALE_RE.match(rest)
            if not m:
                raise InvalidVerdictSpec(
                    f"bad score scale {rest!r} in verdict spec {spec!r}: write e.g. 'score:1-10'"
                )
            lo, hi = float(m.group(1)), float(m.group(2))
            if not lo < hi:
                raise InvalidVerdictSpec(f"score scale must be increasing, got {spec!r}")
            return cls(kind="score", scale=(lo, hi))
        if head == "label":
            if not rest:
                return cls(kind="label")
            options: list[str] = []
            values: list[tuple[str, float]] = []
            for part in rest.split(","):
                name, eq, val = part.partition("=")
                norm = normalize_label(name)
                if not norm:
                    raise InvalidVerdictSpec(f"empty label option in verdict spec {spec!r}")
                options.append(norm)
                if eq:
                    try:
                        values.append((norm, float(val)))
                    except ValueError:
                        raise InvalidVerdictSpec(
                            f"label value {val!r} in {spec!r} is not a number: "
                            "write e.g. 'label:good=1,bad=0'"
                        ) from None
            return cls(kind="label", options=tuple(options), values=tuple(values))
        raise InvalidVerdictSpec(
            f"unknown verdict spec {spec!r}: use 'auto', 'pairwise', 'score', 'score:LOW-HIGH', "
            "'label' or 'label:opt1,opt2'"
        )

    def allows(self, kind: VerdictKind) -> bool:
        """Whether verdicts of ``kind`` may be returned under this spec."""
        return self.kind in ("auto", kind)

    def make_score(
        self, value: float, implied_scale: tuple[float, float] | None, source: str = ""
    ) -> Verdict:
        """A score verdict on the declared scale (else the format's), or ScoreOutOfRange."""
        scale = self.scale or implied_scale
        if scale is not None and not scale[0] < scale[1]:
            raise ParseError(
                f"the score's scale {scale[0]:g}-{scale[1]:g} is empty",
                excerpt=source,
                reason="bad_scale",
            )
        if not math.isfinite(value):
            raise ScoreOutOfRange(f"score {value} is not a finite number", excerpt=source)
        if scale is not None and not scale[0] <= value <= scale[1]:
            raise ScoreOutOfRange(
                f"score {_fmt_num(value)} is outside the scale "
                f"{_fmt_num(scale[0])}-{_fmt_num(scale[1])}; pass verdict='score:LOW-HIGH' "
                "if the judge uses another scale",
                excerpt=source,
            )
        return Verdict.score(value, scale)

    def make_label(
        self,
        label: str,
        implied_options: tuple[str, ...] | None = None,
        implied_values: Mapping[str, float] | None = None,
        source: str = "",
    ) -> Verdict:
        """A label verdict checked against the declared options, or a ParseError."""
        norm = normalize_label(label)
        if self.options is not None and norm not in self.options:
            raise ParseError(
                f"label {norm!r} is not one of the declared options {list(self.options)}",
                excerpt=source,
                reason="label_not_in_options",
            )
        values = dict(implied_values or {})
        values.update(dict(self.values))
        return Verdict.of_label(norm, self.options or implied_options, values)


# -- reading verdict values (structured output, gold labels) ------------------------------

_PAIR_OP_RE = re.compile(r"^\s*([AB])\s*(>>|>|=|<<|<|≫|≪|==)\s*([AB])\s*$", re.IGNORECASE)
_SIDE_RE = re.compile(
    r"^(?:the\s+)?(?:(?:assistant|response|output|answer|model|candidate|completion|option)"
    r"[\s_]*)?\(?\s*([ab12])\s*\)?(?:\s+(?:is\s+)?(?:much\s+|significantly\s+|slightly\s+)?"
    r"better)?$",
    re.IGNORECASE,
)
_TIE_WORDS = {"tie", "a=b", "b=a", "draw", "equal", "equally good", "both", "same", "c"}
_NUM_RE = re.compile(
    r"^\s*(-?\d+(?:\.\d+)?)\s*(?:(?:/|out\s+of|of)\s*(\d+(?:\.\d+)?))?\s*$", re.IGNORECASE
)
_PAIR_KEYS = {"winner", "preference", "preferred", "choice", "better", "best", "decision"}


def _pairwise_from_op(a: str, op: str, b: str) -> Verdict | None:
    a, b = a.upper(), b.upper()
    if a == b:
        return None
    if op in ("=", "=="):
        return Verdict.pairwise("tie")
    strength: Literal[1, 2] = 2 if op in (">>", "<<", "≫", "≪") else 1
    left_wins = op in (">", ">>", "≫")
    winner = a if left_wins else b
    return Verdict.pairwise("A" if winner == "A" else "B", strength)


def safe_text(value: Any) -> str:
    """``str(value)`` that never raises: huge ints and unprintable objects get a stand-in."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4096:
        digits = int(value.bit_length() * 0.30103) + 1
        return f"<{'-' if value < 0 else ''}integer of about {digits} digits>"
    try:
        return str(value)
    except Exception:  # a user object whose __str__ raises
        return f"<unprintable {type(value).__name__}>"


def interpret_value(
    value: Any,
    spec: VerdictSpec,
    key: str | None = None,
    implied_scale: tuple[float, float] | None = None,
) -> Verdict | None:
    """Interpret one value (a JSON field, a tag body, a gold label) as a verdict.

    ``key`` is the field name it came from (``winner`` and friends make ``1``/``2``
    mean A/B). Returns ``None`` when the value does not look like a verdict of an
    allowed kind; raises :class:`ScoreOutOfRange` for a score outside the scale.
    """
    src = excerpt(safe_text(value))
    pair_key = key is not None and key.lower() in _PAIR_KEYS
    if isinstance(value, bool):
        if spec.allows("label"):
            if spec.options:
                want = 1.0 if value else 0.0
                vals = {**LABEL_VALUES, **dict(spec.values)}
                for opt in spec.options:
                    if vals.get(opt) == want:
                        return spec.make_label(opt, source=src)
            return spec.make_label("true" if value else "false", ("true", "false"), source=src)
        return None
    if isinstance(value, (int, float)):
        if pair_key and spec.allows("pairwise") and value in (1, 2):
            return Verdict.pairwise("A" if value == 1 else "B")
        if spec.allows("score"):
            try:
                number = float(value)
            except OverflowError:  # an int too large for a float is outside any scale
                raise ScoreOutOfRange(
                    "the score is an integer too large to be a number on any scale",
                    excerpt=src,
                ) from None
            return spec.make_score(number, implied_scale, src)
        return None
    if not isinstance(value, str):
        return None
    text = value.strip().strip("*`\"'").strip()
    text = re.sub(r"^\[\[(.*)\]\]$", r"\1", text).strip()
    if not text or len(text) > 48 or "\n" in text:
        return None
    if spec.allows("pairwise"):
        m = _PAIR_OP_RE.match(text)
        if m:
            return _pairwise_from_op(m.group(1), m.group(2), m.group(3))
        low = text.lower().rstrip(".!")
        if low in _TIE_WORDS and (low != "c" or spec.kind == "pairwise" or pair_key):
            return Verdict.pairwise("tie")
        m = _SIDE_RE.match(low)
        if m:
            side = m.group(1).upper()
            bare = low.strip("() ") == m.group(1).lower()
            if (
                not bare
                or spec.kind == "pairwise"
                or pair_key
                or (side in ("A", "B") and key is not None)
            ):
                return Verdict.pairwise("A" if side in ("A", "1") else "B")
    m = _NUM_RE.match(text)
    if m:
        if not spec.allows("score"):
            return None
        scale = implied_scale
        if m.group(2) is not None:
            scale = (0.0, float(m.group(2)))
        return spec.make_score(float(m.group(1)), scale, src)
    if spec.allows("label") and len(text.split()) <= 3 and re.search(r"[^\W\d_]", text):
        known = normalize_label(text) in LABEL_VALUES
        if spec.kind == "label" or key is not None or known:
            return spec.make_label(text, source=src)
    return None
