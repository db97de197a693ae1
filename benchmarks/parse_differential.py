"""Differential check of the parser: another revision's ``jg.parse`` against this tree's.

Run: python benchmarks/parse_differential.py [--against REV] [--fuzz N] [--show N]

Every output of a corpus is parsed under several verdict specs by the code of git
revision ``REV`` (default ``main``; its ``judgeguard`` package is exported with
``git archive`` into a temporary directory) and by the working tree's, each in its own
process; the full results are compared: every field of the ``Judgment`` (rationale,
redactions, verdict, format, thinking …), or the error's type, message, excerpt,
candidates and reason, and what ``jg.find_markup`` finds in the output and in the
rationale. Prints how many results were compared and every difference (none expected
from a change meant to keep the parser's behaviour, e.g. a speed-up).

The corpus: the judge-output fixtures and the verdict-trap corpus, every string literal
of the parse tests, the shapes of ``benchmarks/parse_scaling.py`` at a few sizes, and
``--fuzz`` outputs made by splicing lines and fragments of the others at random (seeded).
A user format is registered for part of the corpus, so that path is compared too.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import pickle
import random
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPECS = ("auto", "pairwise", "score", "score:1-10", "label", "label:pass,fail")
_TEST_GLOBS = ("test_parse*.py", "test_verdict*.py", "test_hostile_answers.py", "test_guard*.py")
_FRAGMENTS = [
    "[[A>B]]", "[[B>>A]]", "[[A=B]]", "[[A]]", "[[C]]", "[[7]]", "[[12]]", "[[3, 8]]",
    "[RESULT] 4", "[RESULT] B", "GRADE: C", "GRADE: I", "LABEL: pass", "Score: 7/10",
    "Rating: 4", "Output (a)", "Yes", "N", "final decision is Response 1", "Final verdict: ",
    "My final verdict is: ", "Assistant A is better.", "Therefore, ", "In conclusion, ",
    "if it had tests I would give ", "for example ", "not ", "the revised answer earns ",
    '"', "'", "`", "“", "”", "\n", "\n\n", " ", ". ", "### Final Verdict\n", "**", "- ",
    "1. ", "<think>", "</think>", "<verdict>A</verdict>", '{"score": 8}', "```json\n", "```",
    "ı", "İ", "ſ", "é", "✅", "e.g. ", "Overall score: ", "might be ", "would earn ",
]  # fmt: skip


def _literals(path: Path) -> list[str]:
    """The string literals of a test module that look like judge outputs."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) >= 6:
            out.append(node.value)
    return out


def corpus(fuzz: int) -> list[tuple[str, str, bool]]:
    """(output, spec, register a user format?) triples, in a fixed order."""
    texts: list[str] = []
    fixtures = ROOT / "tests" / "fixtures"
    for p in sorted((fixtures / "judge_outputs").glob("*.txt")):
        texts.append(p.read_text(encoding="utf-8"))
    traps = fixtures / "verdict_traps" / "cases.jsonl"
    trap_specs: list[tuple[str, str]] = []
    for line in traps.read_text(encoding="utf-8").splitlines():
        if line.strip():
            case = json.loads(line)
            trap_specs.append((case["output"], case.get("spec", "auto")))
    for glob in _TEST_GLOBS:
        for p in sorted((ROOT / "tests").glob(glob)):
            texts.extend(_literals(p))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import parse_scaling

    shapes = [make(n) for make in parse_scaling.SHAPES.values() for n in (300, 2_000, 20_000)]
    rng = random.Random(13)
    base = texts + [t for t, _ in trap_specs]
    lines = [ln for t in base for ln in t.splitlines(keepends=True)]
    fuzzed = []
    for _ in range(fuzz):
        parts = []
        for _ in range(rng.randint(1, 25)):
            r = rng.random()
            if r < 0.45:
                parts.append(rng.choice(lines))
            elif r < 0.9:
                parts.append(rng.choice(_FRAGMENTS))
            else:
                t = rng.choice(base)
                a = rng.randrange(len(t) + 1)
                parts.append(t[a : a + rng.randint(1, 400)])
        fuzzed.append("".join(parts))
    out: list[tuple[str, str, bool]] = []
    for t in texts + fuzzed:
        out.extend((t, spec, False) for spec in SPECS)
    out.extend((t, spec, False) for t, spec in trap_specs)
    out.extend((t, "auto", False) for t, _ in trap_specs)
    out.extend((t, "auto", False) for t in shapes)
    out.extend((t, "auto", True) for t in texts[:200] + fuzzed[:300])
    return out


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        **{k: repr(getattr(exc, k, None)) for k in ("excerpt", "candidates", "reason")},
    }


def _markup(jg: Any, text: str) -> list[tuple[Any, ...]]:
    return [
        (
            c.start,
            c.end,
            c.format,
            c.verdict and c.verdict.model_dump(),
            c.final,
            c.quoted,
            c.stated,
            c.demoted,
            c.error and _error(c.error),
        )
        for c in jg.find_markup(text)
    ]


def run(fuzz: int, out_path: Path) -> None:
    """Parse the corpus with the importable ``judgeguard`` and pickle the results."""
    import judgeguard as jg

    results: list[Any] = []
    for text, spec, user in corpus(fuzz):
        if user:
            jg.register_format("stars", pattern=r"STARS?\s*=\s*(?P<verdict>\d+)", kind="score")
        try:
            j = jg.parse(text, verdict=spec)
            res: Any = ("ok", j.model_dump(), _markup(jg, j.rationale))
        except jg.ParseError as exc:
            res = ("error", _error(exc))
        finally:
            if user:
                jg.unregister_format("stars")
        results.append((res, _markup(jg, text)))
    out_path.write_bytes(pickle.dumps((jg.__file__, results)))


def _run_in(pythonpath: str, fuzz: int, out_path: Path) -> tuple[str, list[Any]]:
    env = {**os.environ, "PYTHONPATH": pythonpath, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    cmd = [sys.executable, __file__, "--fuzz", str(fuzz), "--dump", str(out_path)]
    subprocess.run(cmd, env=env, check=True)
    loaded: tuple[str, list[Any]] = pickle.loads(out_path.read_bytes())
    return loaded


def main() -> None:
    """Run both revisions' parsers over the corpus and print the differences."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--against", help="git revision to compare with (default: the merge base with main)"
    )
    ap.add_argument("--fuzz", type=int, default=4000, help="how many fuzzed outputs")
    ap.add_argument("--show", type=int, default=5, help="differences to print in full")
    ap.add_argument("--dump", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.dump is not None:
        run(args.fuzz, args.dump)
        return
    if args.against is None:
        args.against = subprocess.run(
            ["git", "-C", str(ROOT), "merge-base", "HEAD", "main"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "ref"
        ref.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.against, "judgeguard"],
            check=True,
            capture_output=True,
        ).stdout
        tar = Path(tmp) / "ref.tar"
        tar.write_bytes(archive)
        with tarfile.open(tar) as tf:
            tf.extractall(ref, filter="data")
        ref_file, old = _run_in(str(ref), args.fuzz, Path(tmp) / "old.pickle")
        new_file, new = _run_in(str(ROOT), args.fuzz, Path(tmp) / "new.pickle")
    assert ref_file.startswith(str(ref)) and new_file.startswith(str(ROOT)), (ref_file, new_file)
    cases = corpus(args.fuzz)
    diffs = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
    errors = sum(1 for r, _ in old if r[0] == "error")
    print(
        f"{len(old)} parses compared ({len({t for t, _, _ in cases})} distinct outputs, "
        f"{errors} of them parse errors) against {args.against}: {len(diffs)} differences"
    )
    for i in diffs[: args.show]:
        text, spec, user = cases[i]
        print(f"\n--- #{i} spec={spec!r} user_format={user} output={text[:300]!r}")
        print(f"  {args.against}: {old[i]!r:.2000}")
        print(f"  this tree: {new[i]!r:.2000}")
    sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
