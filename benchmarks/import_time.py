"""Measure `import judgeguard` (target < 100 ms) and the first use that loads pydantic.

Run: python benchmarks/import_time.py [--runs N]
Each figure is the median of N fresh interpreter processes (wall time of the statement
inside the process, so interpreter start-up is excluded; it is printed separately).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

SNIPPETS = {
    "python -c pass (interpreter start-up, whole process)": None,
    "import judgeguard": "import judgeguard",
    "import judgeguard; jg.parse(...) first call (loads pydantic + parser)": (
        "import judgeguard as jg; jg.parse('Reasoning.\\nMy final verdict is [[A>B]]')"
    ),
}


def _time_in_process(stmt: str) -> float:
    code = "import time; t = time.perf_counter()\n" + stmt + "\nprint(time.perf_counter() - t)"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def _time_process() -> float:
    import time

    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    for label, stmt in SNIPPETS.items():
        samples = [
            (_time_process() if stmt is None else _time_in_process(stmt)) for _ in range(args.runs)
        ]
        print(
            f"{label:70s} median {statistics.median(samples) * 1000:7.1f} ms   "
            f"min {min(samples) * 1000:7.1f} ms   (n={args.runs})"
        )


if __name__ == "__main__":
    main()
