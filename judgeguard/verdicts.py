"""Verdicts (pairwise, score, label), the verdict= spec, and R_outcome normalisation."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from judgeguard.errors import InvalidVerdictSpec, ParseError, ScoreOutOfRange, excerpt

__all__ = [
    "LABEL_VALUES",
    "LabelRules",
    "PairwiseRules",
    "ScoreRules",
    "Verdict",
    "VerdictKind",
    "VerdictKindRules",
    "VerdictSpec",
    "interpret_value",
    "kind_rules",
    "pairwise_option",
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
        kind_rules(self.kind).check_fields(self)
        return self

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

    # -- views (each kind's rules are in its VerdictKindRules class below) ---------------
    def render(self) -> str:
        """The canonical text of the verdict: ``A>>B`` … ``B>>A``, ``7``, ``pass``."""
        return kind_rules(self.kind).render(self)

    def __str__(self) -> str:
        return self.render()

    def outcome(self) -> float | None:
        """R_outcome without a gold label: the verdict's own value in [0, 1].

        Score: its position on the scale (``None`` when the scale is unknown). Label: 1/0
        for pass/fail-like labels, the declared value otherwise (``None`` when unknown).
        Pairwise: the preference for A (A>>B 1.0, A>B 0.75, A=B 0.5, B>A 0.25, B>>A 0.0;
        without strength levels 1 / 0.5 / 0).
        """
        return kind_rules(self.kind).outcome(self)

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
        return kind_rules(self.kind).agrees(self, gold)

    def mirrored(self) -> Verdict:
        """The same pairwise judgment with A and B swapped (identity for other kinds)."""
        return kind_rules(self.kind).mirrored(self)

    def option_space(self) -> tuple[str, ...]:
        """The rendered verdicts a judge of this kind could have returned.

        Pairwise: five options with strength levels, three without. Score: every
        integer step of an integer scale of 3 to 101 steps, else eleven evenly spaced
        points (``()`` when the scale is unknown). Label: the
        declared options, else the label and its usual opposite.
        """
        return kind_rules(self.kind).option_space(self)

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
        if cls is VerdictSpec:
            return _parsed_spec(spec)  # specs are frozen: one per string serves every call
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


@functools.lru_cache(maxsize=256)
def _parsed_spec(spec: str) -> VerdictSpec:
    """``VerdictSpec.parse(spec)``, remembered (an invalid spec raises every time)."""
    return VerdictSpec.parse(spec)


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
    allowed kind; raises :class:`ScoreOutOfRange` for a score outside the scale. Which
    kind is tried first is decided here; reading a value as one kind is that kind's
    rules' (``read_*`` methods of :class:`PairwiseRules`, :class:`ScoreRules`,
    :class:`LabelRules`).
    """
    src = excerpt(safe_text(value))
    if isinstance(value, bool):
        return _LABEL.read_bool(value, spec, src) if spec.allows("label") else None
    if isinstance(value, (int, float)):
        if spec.allows("pairwise"):
            side = _PAIRWISE.read_number(value, key)
            if side is not None:
                return side
        return _SCORE.read_number(value, spec, implied_scale, src) if spec.allows("score") else None
    if not isinstance(value, str):
        return None
    text = value.strip().strip("*`\"'").strip()
    text = re.sub(r"^\[\[(.*)\]\]$", r"\1", text).strip()
    if not text or len(text) > 48 or "\n" in text:
        return None
    if spec.allows("pairwise"):
        pair = _PAIRWISE.read_text(text, spec, key)
        if pair is not None:
            return pair
    m = _NUM_RE.match(text)
    if m:  # a number is a score or nothing
        return _SCORE.read_match(m, spec, implied_scale, src) if spec.allows("score") else None
    return _LABEL.read_text(text, spec, key, src) if spec.allows("label") else None


# -- each kind's rules, in one place -------------------------------------------------------
class VerdictKindRules:
    """What one verdict kind means, everywhere judgeguard uses it.

    One subclass per kind (:class:`PairwiseRules`, :class:`ScoreRules`,
    :class:`LabelRules`; :func:`kind_rules` returns the one for a kind): the fields a
    verdict of the kind needs, its canonical text, its outcome value and agreement with a
    gold label, the options the MetaJudge chooses among (with their meaning, for the
    prompt), reading an option back as a verdict, and the support-check scores over the
    MetaJudge's distribution ``p`` of those options: R_rationale and the supported verdict
    (:mod:`judgeguard.metajudge.support` applies them). Each kind's ``read_*`` methods
    read one value (a JSON field, a tag body, a gold label) as a verdict of the kind;
    :func:`interpret_value` decides which kind is tried first.
    """

    kind: VerdictKind

    def check_fields(self, v: Verdict) -> None:
        """Raise ``ValueError`` when ``v`` lacks what a verdict of this kind needs."""
        raise NotImplementedError

    def render(self, v: Verdict) -> str:
        """The canonical text of ``v``."""
        raise NotImplementedError

    def outcome(self, v: Verdict) -> float | None:
        """``v``'s own value in [0, 1] (``None`` when it has none)."""
        raise NotImplementedError

    def agrees(self, v: Verdict, gold: Verdict) -> bool:
        """Whether ``v`` matches the gold verdict ``gold`` of the same kind."""
        return self.render(v) == self.render(gold)

    def mirrored(self, v: Verdict) -> Verdict:
        """``v`` with the candidates A and B swapped."""
        return v

    def category(self, v: Verdict) -> str | None:
        """What two MetaJudges must both say to agree on ``v`` (ensembles, Fleiss' kappa)."""
        return self.render(v)

    def option_space(self, v: Verdict) -> tuple[str, ...]:
        """The rendered verdicts a judge of this kind could have returned."""
        raise NotImplementedError

    def support_options(self, v: Verdict) -> tuple[str, ...]:
        """The options offered to the MetaJudge (at least two, else ``()``: no check)."""
        options = self.option_space(v)
        return options if len(options) >= 2 else ()

    def describe_options(self, options: Sequence[str], scale: tuple[float, float] | None) -> str:
        """The support prompt's lines saying what each option means."""
        return "- one of the evaluator's labels: " + ", ".join(f'"{o}"' for o in options)

    def option_verdict(self, option: str, v: Verdict) -> Verdict:
        """The verdict an option (one of :meth:`support_options`) stands for."""
        raise NotImplementedError

    def rationale_reward(self, v: Verdict, probabilities: Mapping[str, float]) -> float:
        """R_rationale: how much of the MetaJudge's belief supports ``v``."""
        return min(1.0, probabilities.get(self.render(v), 0.0))

    def supported(
        self, v: Verdict, probabilities: Mapping[str, float]
    ) -> tuple[Verdict | None, bool]:
        """(the verdict the reasoning supports most, whether it agrees with ``v``);
        ``None`` (never consistent) when two options tie for the most probable."""
        top = _unique_argmax(probabilities)
        if top is None or top == "other":
            return None, False
        supported = self.option_verdict(top, v)
        return supported, self.supports(supported, v)

    def supports(self, supported: Verdict, v: Verdict) -> bool:
        """Whether the MetaJudge's most probable verdict ``supported`` is consistent with ``v``."""
        return supported.render() == v.render()


def _unique_argmax(scores: Mapping[str, float]) -> str | None:
    best = max(scores.values())
    winners = [k for k, v in scores.items() if v >= best - 1e-12]
    return winners[0] if len(winners) == 1 else None


_PAIRWISE_MEANING = {
    "A>>B": "Response A is much better than Response B",
    "A>B": "Response A is better than Response B",
    "A=B": "the two responses are equally good (a tie)",
    "B>A": "Response B is better than Response A",
    "B>>A": "Response B is much better than Response A",
}


@functools.lru_cache(maxsize=64)
def pairwise_option(option: str) -> Verdict:
    """The pairwise verdict a rendered option (``"A>>B"`` …) stands for (cached)."""
    return Verdict.parse(option, VerdictSpec(kind="pairwise"))


class PairwiseRules(VerdictKindRules):
    """Pairwise: ``winner`` A, B or tie, with an optional strength (``A>>B`` … ``B>>A``).

    Outcome: the preference for A (A>>B 1.0, A>B 0.75, A=B 0.5, B>A 0.25, B>>A 0.0;
    without strength levels 1 / 0.5 / 0); a gold label agrees on the winner.
    R_rationale = the probability of every option with the judge's winner (for ``A>B``:
    p(A>>B) + p(A>B)); consistent when the judge's winner is the unique most probable
    winner (A, tie or B, each summed over strengths).
    """

    kind: VerdictKind = "pairwise"

    def check_fields(self, v: Verdict) -> None:
        if v.winner is None:
            raise ValueError("a pairwise verdict needs winner='A', 'B' or 'tie'")
        if v.winner == "tie" and v.strength is not None:
            raise ValueError("a tie has no strength")

    def render(self, v: Verdict) -> str:
        if v.winner == "tie":
            return "A=B"
        op = ">>" if v.strength == 2 else ">"
        return f"A{op}B" if v.winner == "A" else f"B{op}A"

    def outcome(self, v: Verdict) -> float | None:
        assert v.winner is not None
        return _PAIRWISE_OUTCOME[(v.winner, v.strength)]

    def agrees(self, v: Verdict, gold: Verdict) -> bool:
        return v.winner == gold.winner

    def mirrored(self, v: Verdict) -> Verdict:
        if v.winner == "tie":
            return v
        scores = None if v.scores is None else (v.scores[1], v.scores[0])
        return v.model_copy(update={"winner": "B" if v.winner == "A" else "A", "scores": scores})

    def category(self, v: Verdict) -> str | None:
        return v.winner

    def option_space(self, v: Verdict) -> tuple[str, ...]:
        if v.strength is None and v.winner != "tie":
            return ("A>B", "A=B", "B>A")
        return ("A>>B", "A>B", "A=B", "B>A", "B>>A")

    def describe_options(self, options: Sequence[str], scale: tuple[float, float] | None) -> str:
        return "\n".join(f'- "{o}": {_PAIRWISE_MEANING[o]}' for o in options)

    def option_verdict(self, option: str, v: Verdict) -> Verdict:
        return pairwise_option(option)

    def read_number(self, value: float, key: str | None) -> Verdict | None:
        """``1``/``2`` under a winner-like key (``winner``, ``preference`` …) as A/B."""
        pair_key = key is not None and key.lower() in _PAIR_KEYS
        if pair_key and value in (1, 2):
            return Verdict.pairwise("A" if value == 1 else "B")
        return None

    def read_text(self, text: str, spec: VerdictSpec, key: str | None) -> Verdict | None:
        """``A>>B``, ``B<A``, ``tie``, ``Assistant B``, ``[[A]]`` … (``None``: not pairwise).

        A bare ``A``/``B``/``1``/``2`` or ``C`` (tie) counts only when the spec says
        pairwise or the key is winner-like (a bare ``A``/``B`` also under any key)."""
        pair_key = key is not None and key.lower() in _PAIR_KEYS
        m = _PAIR_OP_RE.match(text)
        if m:
            return self._from_op(m.group(1), m.group(2), m.group(3))
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
        return None

    @staticmethod
    def _from_op(a: str, op: str, b: str) -> Verdict | None:
        a, b = a.upper(), b.upper()
        if a == b:
            return None
        if op in ("=", "=="):
            return Verdict.pairwise("tie")
        strength: Literal[1, 2] = 2 if op in (">>", "<<", "≫", "≪") else 1
        left_wins = op in (">", ">>", "≫")
        winner = a if left_wins else b
        return Verdict.pairwise("A" if winner == "A" else "B", strength)

    @staticmethod
    def _winner_mass(probabilities: Mapping[str, float]) -> dict[str, float]:
        mass = {"A": 0.0, "tie": 0.0, "B": 0.0}
        for option, p in probabilities.items():
            winner = pairwise_option(option).winner
            assert winner is not None
            mass[winner] += p
        return mass

    def rationale_reward(self, v: Verdict, probabilities: Mapping[str, float]) -> float:
        assert v.winner is not None
        return min(1.0, self._winner_mass(probabilities)[v.winner])

    def supported(
        self, v: Verdict, probabilities: Mapping[str, float]
    ) -> tuple[Verdict | None, bool]:
        winner = _unique_argmax(self._winner_mass(probabilities))
        if winner is None:
            return None, False
        in_winner = {o: p for o, p in probabilities.items() if pairwise_option(o).winner == winner}
        top = max(in_winner, key=lambda o: in_winner[o])
        return pairwise_option(top), winner == v.winner


class ScoreRules(VerdictKindRules):
    """Score: a finite ``value`` on an optional inclusive ``scale``.

    Outcome: the value's position on the scale (``None`` without one); a gold label
    agrees on an equal value. The support check uses a triangular kernel around the
    judge's score ``v`` on a scale of width ``W = high - low``, with half-width
    ``h = max(1, W / 4)``: ``R_rationale = Σ_o p(o) · max(0, 1 − |o − v| / h)``. Support
    for the judge's own score counts fully, support for a neighbouring score partly, and
    support for a score a quarter of the scale away (or more) not at all, so a rationale
    that supports a distant score gets ≤ 0.3 (on 1–10, h = 2.25: one point away keeps
    0.56, two points 0.11, three or more 0; on 1–5, h = 1: any other score gets 0).
    Consistent when the most probable score lies within ``h / 2`` of ``v`` (on 1–10:
    within one point; on 1–5: exactly ``v``).
    """

    kind: VerdictKind = "score"

    def check_fields(self, v: Verdict) -> None:
        if v.value is None or not math.isfinite(v.value):
            raise ValueError("a score verdict needs a finite value")
        if v.scale is not None:
            lo, hi = v.scale
            if not lo < hi:
                raise ValueError(f"score scale must be increasing, got {v.scale}")
            if not lo <= v.value <= hi:
                raise ValueError(f"score {v.value} lies outside the scale {lo}-{hi}")

    def render(self, v: Verdict) -> str:
        assert v.value is not None
        return _fmt_num(v.value)

    def outcome(self, v: Verdict) -> float | None:
        if v.scale is None:
            return None
        assert v.value is not None
        lo, hi = v.scale
        return (v.value - lo) / (hi - lo)

    def agrees(self, v: Verdict, gold: Verdict) -> bool:
        assert v.value is not None and gold.value is not None
        return math.isclose(v.value, gold.value, rel_tol=0, abs_tol=1e-9)

    def option_space(self, v: Verdict) -> tuple[str, ...]:
        if v.scale is None:
            return ()
        lo, hi = v.scale
        if lo.is_integer() and hi.is_integer() and 2 <= hi - lo <= 100:
            return tuple(str(x) for x in range(int(lo), int(hi) + 1))
        return tuple(_fmt_num(round(lo + (hi - lo) * i / 10, 6)) for i in range(11))

    def describe_options(self, options: Sequence[str], scale: tuple[float, float] | None) -> str:
        lo, hi = scale if scale else (min(map(float, options)), max(map(float, options)))
        return (
            f"- one score per option, on the evaluator's scale from {lo:g} (worst) to "
            f"{hi:g} (best): " + ", ".join(f'"{o}"' for o in options)
        )

    def option_verdict(self, option: str, v: Verdict) -> Verdict:
        return Verdict.score(float(option), v.scale)

    def read_number(
        self,
        value: float,
        spec: VerdictSpec,
        implied_scale: tuple[float, float] | None,
        src: str,
    ) -> Verdict:
        """A JSON number as a score on the spec's (else the implied) scale."""
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float is outside any scale
            raise ScoreOutOfRange(
                "the score is an integer too large to be a number on any scale",
                excerpt=src,
            ) from None
        return spec.make_score(number, implied_scale, src)

    def read_match(
        self,
        m: re.Match[str],
        spec: VerdictSpec,
        implied_scale: tuple[float, float] | None,
        src: str,
    ) -> Verdict:
        """A number in text (``7``, ``8.5``, ``4/5``, ``3 out of 10``) as a score."""
        scale = implied_scale
        if m.group(2) is not None:
            scale = (0.0, float(m.group(2)))
        return spec.make_score(float(m.group(1)), scale, src)

    @staticmethod
    def half_width(v: Verdict) -> float:
        """The kernel's half-width ``h`` on ``v``'s scale."""
        assert v.scale is not None
        lo, hi = v.scale
        return max(1.0, (hi - lo) / 4) if hi - lo >= 2 else (hi - lo) / 4

    def rationale_reward(self, v: Verdict, probabilities: Mapping[str, float]) -> float:
        assert v.value is not None
        h = self.half_width(v)
        total = sum(
            p * max(0.0, 1.0 - abs(float(o) - v.value) / h) for o, p in probabilities.items()
        )
        return min(1.0, total)

    def supports(self, supported: Verdict, v: Verdict) -> bool:
        assert supported.value is not None and v.value is not None
        return abs(supported.value - v.value) < self.half_width(v) / 2


class LabelRules(VerdictKindRules):
    """Label: a lower-cased ``label``, the declared ``options`` when known, its value.

    Outcome: the label's value (1/0 for pass/fail-like words, the declared value
    otherwise, ``None`` when unknown); a gold label agrees on an equal label. The
    MetaJudge chooses among the declared options, else the label and its usual opposite,
    else the label and ``"other"``. R_rationale = p(judge's label); consistent when it is
    the unique most probable label (``"other"`` is never consistent).
    """

    kind: VerdictKind = "label"

    def check_fields(self, v: Verdict) -> None:
        if v.label is None or not v.label:
            raise ValueError("a label verdict needs a non-empty label")

    def render(self, v: Verdict) -> str:
        assert v.label is not None
        return v.label

    def outcome(self, v: Verdict) -> float | None:
        return v.label_value

    def option_space(self, v: Verdict) -> tuple[str, ...]:
        if v.options:
            return v.options
        assert v.label is not None
        other = _LABEL_OPPOSITES.get(v.label)
        return (v.label, other) if other else (v.label,)

    def support_options(self, v: Verdict) -> tuple[str, ...]:
        options = self.option_space(v)
        return (options[0], "other") if len(options) == 1 else options

    def option_verdict(self, option: str, v: Verdict) -> Verdict:
        return Verdict.of_label(option, v.options)

    def read_bool(self, value: bool, spec: VerdictSpec, src: str) -> Verdict:
        """``true``/``false`` as the declared option of that value, else as the label."""
        if spec.options:
            want = 1.0 if value else 0.0
            values = {**LABEL_VALUES, **dict(spec.values)}
            for option in spec.options:
                if values.get(option) == want:
                    return spec.make_label(option, source=src)
        return spec.make_label("true" if value else "false", ("true", "false"), source=src)

    def read_text(self, text: str, spec: VerdictSpec, key: str | None, src: str) -> Verdict | None:
        """A word or three as a label: always under a label spec or a key, else only a
        known label word (``pass``, ``correct`` …)."""
        if len(text.split()) <= 3 and re.search(r"[^\W\d_]", text):
            known = normalize_label(text) in LABEL_VALUES
            if spec.kind == "label" or key is not None or known:
                return spec.make_label(text, source=src)
        return None


_PAIRWISE, _SCORE, _LABEL = PairwiseRules(), ScoreRules(), LabelRules()
_KINDS: dict[str, VerdictKindRules] = {r.kind: r for r in (_PAIRWISE, _SCORE, _LABEL)}


def kind_rules(kind: str) -> VerdictKindRules:
    """The rules of a verdict kind (``"pairwise"``, ``"score"`` or ``"label"``)."""
    return _KINDS[kind]
