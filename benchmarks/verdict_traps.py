"""Precision and coverage of ``jg.parse`` on the labelled verdict-trap corpus, per source style.

Run: python benchmarks/verdict_traps.py [--corpus PATH] [--show-wrong] [--show-missed]

The corpus (tests/fixtures/verdict_traps/cases.jsonl) holds judge outputs in public judge
styles (MT-Bench, Arena-Hard, Prometheus, Auto-J, JudgeLM, PandaLM, Skywork-Critic,
CompassJudger …), many of them traps: ratings of the judge's own rewrite, hypothetical or
conditional ratings, quoted examples, disagreeing markups. Each case is labelled with the
verdict a careful reader would take (``"A>B"``, ``"7"``), ``"ambiguous"`` or ``"not_found"``.

* wrong: a parsed verdict that differs from the label, or any parsed verdict where the label
  is ``ambiguous`` / ``not_found`` (judgeguard must not return a verdict it cannot stand by);
* precision = 1 - wrong / parsed; coverage = parsed / total;
* correct refusals: an ``AmbiguousVerdict`` where the label is ``ambiguous``, any parse error
  where it is ``not_found``. A refusal where the label is a verdict is a miss (coverage).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import judgeguard as jg

CORPUS = (
    Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "verdict_traps" / "cases.jsonl"
)
REFUSALS = ("ambiguous", "not_found")


@dataclass(frozen=True)
class Outcome:
    """What ``jg.parse`` made of one case."""

    case: dict
    got: str  # a rendered verdict, "ambiguous", "not_found" or "error:<reason>"
    parsed: bool
    wrong: bool


def load(path: Path = CORPUS) -> list[dict]:
    """The corpus cases, in file order."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def run_case(case: dict) -> Outcome:
    """Parse one case and classify the result against its label."""
    try:
        got = jg.parse(case["output"], verdict=case.get("spec", "auto")).verdict.render()
    except jg.AmbiguousVerdict:
        return Outcome(case, "ambiguous", False, False)
    except jg.VerdictNotFound:
        return Outcome(case, "not_found", False, False)
    except jg.ParseError as exc:
        return Outcome(case, f"error:{exc.reason}", False, False)
    return Outcome(case, got, True, got != case["expected"])


def style(case: dict) -> str:
    """The judge style of a case: the part of ``source`` after ``synthetic:``/``adapted:``."""
    src = case["source"]
    kind, _, rest = src.partition(":")
    return rest if kind == "synthetic" else f"{kind}:{rest.split()[0]}"


def summarize(outcomes: Iterable[Outcome]) -> dict[str, int]:
    """Counts: total, parsed, wrong, refused_ok (a refusal the label asks for), missed."""
    s = {"total": 0, "parsed": 0, "wrong": 0, "refused_ok": 0, "missed": 0}
    for o in outcomes:
        s["total"] += 1
        s["parsed"] += o.parsed
        s["wrong"] += o.wrong
        if not o.parsed:
            expected = o.case["expected"]
            ok = expected == "not_found" or (expected == "ambiguous" and o.got == "ambiguous")
            s["refused_ok" if ok else "missed"] += 1
    return s


def _row(name: str, s: dict[str, int]) -> str:
    precision = 1 - s["wrong"] / s["parsed"] if s["parsed"] else float("nan")
    coverage = s["parsed"] / s["total"] if s["total"] else float("nan")
    return (
        f"{name:<44} {s['total']:>5} {s['parsed']:>6} {s['wrong']:>5} {precision:>9.3f} "
        f"{coverage:>8.3f} {s['refused_ok']:>7} {s['missed']:>6}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--show-wrong", action="store_true", help="print every wrong verdict")
    ap.add_argument("--show-missed", action="store_true", help="print every refused verdict")
    args = ap.parse_args()
    outcomes = [run_case(c) for c in load(args.corpus)]
    by_style: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_style[style(o.case)].append(o)
    print(
        f"{'style':<44} {'cases':>5} {'parsed':>6} {'wrong':>5} {'precision':>9} "
        f"{'coverage':>8} {'ref.ok':>7} {'missed':>6}"
    )
    for name in sorted(by_style):
        print(_row(name, summarize(by_style[name])))
    for label, pick in (("traps", True), ("normal", False)):
        print(_row(f"[{label}]", summarize(o for o in outcomes if o.case["trap"] is pick)))
    print(_row("[all]", summarize(outcomes)))
    for o in outcomes:
        miss = not o.parsed and o.case["expected"] not in REFUSALS
        if (args.show_wrong and o.wrong) or (args.show_missed and miss):
            print(
                f"\n{'WRONG' if o.wrong else 'MISSED'} {o.case['id']}: expected "
                f"{o.case['expected']!r}, got {o.got!r}  ({o.case['note']})"
            )


if __name__ == "__main__":
    main()
