"""The command line: ``judgeguard audit FILE.jsonl`` (and ``python -m judgeguard``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

_NO_METAJUDGE = (
    "No MetaJudge configured: parse rate, outcome accuracy and position-swap agreement are "
    "computed; RC, R_rationale, rewards and review flags need a MetaJudge. Turn the check "
    "on with --metajudge MODEL (any litellm model, e.g. openai/gpt-4o-mini, with its API key "
    "in the environment) or set JUDGEGUARD_METAJUDGE."
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="judgeguard", description="Make LLM judges trustworthy.")
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser(
        "audit",
        help="audit logged judge outputs (JSONL)",
        description="Audit logged judgments: parse rate, outcome accuracy, "
        "position-swap agreement, rationale consistency, gated "
        "reward and deceptive-alignment rate per judge.",
    )
    a.add_argument(
        "file",
        help="JSONL, one judgment per line (fields: output or rationale + "
        "verdict, judge, label, pair_id, swapped, reference, …)",
    )
    a.add_argument(
        "--metajudge",
        nargs="+",
        metavar="MODEL",
        help="litellm model(s) of the MetaJudge (several: an ensemble); default "
        "$JUDGEGUARD_METAJUDGE",
    )
    a.add_argument("--out", help="write one result line per input line (JSONL)")
    a.add_argument("--report", help="write a self-contained HTML report")
    a.add_argument("--concurrency", type=int, default=16, help="checks in flight (16)")
    a.add_argument("--limit", type=int, help="audit only the first N lines")
    a.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes for parsing and checks (1: this process); "
        "more go past one process's litellm CPU ceiling",
    )
    a.add_argument(
        "--verdict", default="auto", help="verdict spec, e.g. pairwise, score:1-10, label:pass,fail"
    )
    a.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="read a field from another (dotted) path, e.g. output=judgment.response",
    )
    a.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    a.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    a.add_argument(
        "--cache-dir", help="cache directory (default $JUDGEGUARD_CACHE_DIR or the user cache dir)"
    )
    a.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _fields(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, eq, path = pair.partition("=")
        if not eq:
            raise SystemExit(
                f"judgeguard: --field {pair!r}: write NAME=PATH, e.g. output=judgment.response"
            )
        out[name.strip()] = path.strip()
    return out


def _count_lines(path: str) -> int | None:
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return None


def audit_command(args: argparse.Namespace) -> int:
    """Run ``judgeguard audit``; returns the exit code."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Table

    from judgeguard.audit import (
        SUMMARY_KEYS,
        AuditConfig,
        AuditError,
        format_figure,
        run_audit,
        summary_rows,
    )
    from judgeguard.cache import DiskCache

    err = Console(stderr=True)
    models = args.metajudge or [
        m for m in os.environ.get("JUDGEGUARD_METAJUDGE", "").split(",") if m.strip()
    ]
    metajudge = None
    if models:
        from judgeguard.metajudge import MetaJudge

        metajudge = MetaJudge(models if len(models) > 1 else models[0])
    elif not args.json:
        err.print(f"[yellow]{_NO_METAJUDGE}[/yellow]")
    cache = None if args.no_cache else DiskCache(args.cache_dir)
    if args.verdict != "auto":  # fail fast on a bad spec ("auto" needs no pydantic here)
        from judgeguard.verdicts import VerdictSpec

        try:
            VerdictSpec.coerce(args.verdict)
        except ValueError as exc:
            err.print(f"[red]judgeguard: {exc}[/red]")
            return 2
    config = AuditConfig(
        metajudge=metajudge,
        verdict=args.verdict,
        fields=_fields(args.field),
        concurrency=max(1, args.concurrency),
        workers=args.workers,
        limit=args.limit,
        cache=cache,
    )
    out = open(args.out, "w", encoding="utf-8") if args.out else None  # noqa: SIM115
    show_progress = not args.no_progress and err.is_terminal
    # the bar's total (for the ETA) costs a pass over the file: only when a bar is shown
    total = _count_lines(args.file) if show_progress else None
    if args.limit is not None and total is not None:
        total = min(total, args.limit)
    progress = Progress(
        TextColumn("auditing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err,
        disable=not show_progress,
    )
    try:
        with progress:
            task = progress.add_task("audit", total=total, rate="")

            done = [0]

            def advance(n: int) -> None:
                progress.advance(task, n)
                done[0] += n
                if done[0] % 256 < n:  # rich's speed estimate is costly: refresh it rarely
                    speed = progress.tasks[0].speed
                    if speed:
                        progress.update(task, rate=f"{speed:,.0f} lines/s")

            summary = run_audit(args.file, config, out, advance)
    except AuditError as exc:
        err.print(f"[red]judgeguard: {exc}[/red]")
        return 2
    finally:
        if out is not None:
            out.close()
    for number, message in summary.malformed[:20]:
        err.print(f"[yellow]line {number}: skipped, {message}[/yellow]")
    if len(summary.malformed) > 20:
        err.print(f"[yellow]… and {len(summary.malformed) - 20} more malformed lines[/yellow]")
    if args.report:
        from judgeguard.report import render_report

        Path(args.report).write_text(render_report(summary, args.file), encoding="utf-8")
    if args.json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        table = Table(title=f"judgeguard audit · {args.file}")
        keys = SUMMARY_KEYS
        short = {
            "n": "n",
            "parse_rate": "parsed",
            "outcome_accuracy": "accuracy",
            "swap_agreement": "swap agr",
            "rc": "RC",
            "mean_r_rationale": "R_rat",
            "mean_reward": "reward",
            "flagged_rate": "flagged",
            "deceptive_rate": "deceptive",
        }
        table.add_column("judge", no_wrap=True)
        for k in keys:
            table.add_column(short[k], justify="right")
        for name, figures in summary_rows(summary):
            table.add_row(
                name,
                *(format_figure(k, figures[k]) for k in keys),
                style="bold" if name == "overall" else None,
            )
        console = Console()
        if not console.is_terminal:
            console = Console(width=160)
        console.print(table)
        if args.report:
            err.print(f"report written to {args.report}")
    if summary.interrupted:
        err.print(
            "[yellow]Interrupted: the summary covers the lines finished so far. Run the "
            "same command again to resume; finished checks come from the cache.[/yellow]"
        )
        return 130
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``judgeguard`` command."""
    args = _parser().parse_args(argv)
    if args.command == "audit":
        return audit_command(args)
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
