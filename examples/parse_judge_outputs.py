"""Parse logged judge outputs: verdict, format and the redacted rationale of each.

Run: python examples/parse_judge_outputs.py [examples/data/judge_outputs.jsonl]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import judgeguard as jg

DEFAULT = Path(__file__).parent / "data" / "judge_outputs.jsonl"


def main(path: Path = DEFAULT) -> int:
    parsed = 0
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        row = json.loads(line)
        try:
            j = jg.parse(row["output"])
        except jg.ParseError as exc:
            print(f"#{n} {row.get('judge', '?'):18s} UNPARSED  {exc.reason}: {exc.message}")
            continue
        parsed += 1
        outcome = j.verdict.outcome()
        print(
            f"#{n} {row.get('judge', '?'):18s} {j.verdict.render():6s} format={j.format:20s}"
            f" R_outcome={'-' if outcome is None else f'{outcome:.2f}'}"
        )
        print("    rationale: " + " ".join(j.rationale.split())[:150])
    print(f"\nparsed {parsed}/{len(lines)} outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT))
