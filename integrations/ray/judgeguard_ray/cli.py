"""``judgeguard audit PATH... --ray [ADDRESS]``: the audit command on a Ray cluster (called
by :mod:`judgeguard.cli`, which owns the options, the summary and the exit codes)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from typing import Any

from judgeguard.audit import AuditConfig, AuditError, AuditSummary

__all__ = ["ray_audit"]

PARQUET = (".parquet", ".pq")
JSONL = (".jsonl", ".ndjson", ".json", ".jsonlines")


def _out_kind(out: str) -> str:
    low = out.lower().rstrip("/")
    if low.endswith(PARQUET):
        return "parquet"
    if low.endswith(JSONL):
        return "jsonl"
    raise AuditError(
        f"--out {out}: with --ray, name it *.parquet (a directory of Parquet parts, which is "
        "also the resumable result store) or *.jsonl (one file, in input order)"
    )


def ray_audit(args: argparse.Namespace, config: AuditConfig, err: Any) -> int:
    """Run the audit of ``args`` (paths, ``--out``, ``--report``, ``--json`` …) on Ray
    Data; returns the exit code as the local audit does (0, 1, 2, 130)."""
    from judgeguard import cli

    paths = [args.file, *getattr(args, "more_files", [])]
    if any(cli_is_stdin(p) for p in paths):
        raise AuditError("--ray reads files (paths, directories, globs, URIs), not stdin")
    if args.workers != 1:
        raise AuditError("--workers is the local audit's; with --ray use --actors")
    if args.limit is not None and args.limit < 0:
        raise AuditError("--limit must be 0 or more")
    if args.actors < 1 or args.concurrency < 1:
        raise AuditError("--actors and --concurrency must be at least 1")
    kind = _out_kind(args.out) if args.out else None
    report_file = cli.OutputFile(args.report, "--report") if args.report else None
    try:
        return _run(args, config, err, paths, kind, report_file)
    finally:
        if report_file is not None:
            report_file.discard()


def cli_is_stdin(path: str) -> bool:
    from judgeguard.audit import is_stdin

    return is_stdin(path)


def _run(
    args: argparse.Namespace,
    config: AuditConfig,
    err: Any,
    paths: list[str],
    kind: str | None,
    report_file: Any,
) -> int:
    import ray

    from judgeguard import cli
    from judgeguard_ray.audit import audit_dataset
    from judgeguard_ray.inputs import expand_paths, read_judgments

    expand_paths(paths)  # a missing input refuses the run before Ray starts
    store = None
    if kind == "parquet":
        store = args.out.rstrip("/")
    elif kind == "jsonl":
        store = os.path.abspath(args.out) + ".parts"
    cache: bool | str = False if args.no_cache else (args.cache_dir or True)
    interrupted = False
    with cli._stdout_to_stderr():
        ray.init(
            address=args.ray or None,
            logging_level=logging.WARNING,
            configure_logging=True,
            include_dashboard=False,
        )
        try:
            from ray.data import DataContext

            DataContext.get_current().enable_progress_bars = not args.no_progress
            ds = read_judgments(paths, limit=args.limit)
            try:
                result = audit_dataset(
                    ds,
                    config.metajudge,
                    config.fields,
                    verdict=config.verdict,
                    gate=config.gate,
                    cache=cache,
                    actors=args.actors,
                    concurrency=config.concurrency,
                    max_in_flight=args.max_in_flight,
                    store=store,
                    keep_values=report_file is not None,
                    check_timeout=getattr(config, "check_timeout", None),
                )
            except KeyboardInterrupt:
                interrupted = True
                result = None
            if result is not None and kind == "jsonl":
                _write_jsonl(result, args.out, store)
        finally:
            ray.shutdown()
    if interrupted or result is None:
        where = f" in {store}" if store else ""
        cli._say(
            err,
            f"Interrupted: finished results are kept{where}; run the same command again to "
            "resume (finished lines are skipped, finished checks come from the cache).",
            "yellow",
        )
        return 130
    summary = result.summary
    return _finish(args, summary, err, report_file)


def _write_jsonl(result: Any, out: str, store: str | None) -> None:
    """The results as one JSONL file in input order (written beside and renamed into place);
    the store it came from is removed once the file is complete."""
    from judgeguard import cli

    target = cli.OutputFile(out, "--out")
    try:
        from judgeguard_ray.audit import _read_store

        assert store is not None
        ordered = _read_store(store).sort("pos")
        for batch in ordered.iter_batches(batch_format="pyarrow", batch_size=4096):
            for text in batch.column("record").to_pylist():
                target.file.write(text + "\n")
        target.commit()
    finally:
        target.discard()
    if store is not None:
        from judgeguard_ray.audit import _store_fs

        filesystem, root = _store_fs(store)
        with contextlib.suppress(OSError):
            filesystem.delete_dir(root)


def _finish(args: argparse.Namespace, summary: AuditSummary, err: Any, report_file: Any) -> int:
    from judgeguard import cli

    cli._explain_skips(summary, err)
    if report_file is not None:
        from judgeguard.report import render_report

        report_file.file.write(render_report(summary, " ".join([args.file, *args.more_files])))
        report_file.commit()
    cli._print_summary(args, summary)
    if report_file is not None:
        cli._say(err, f"report written to {report_file.shown}", "")
    cli._explain_errors(summary, err)
    if summary.overall.n == 0:
        what = "no lines in the input" if summary.lines == 0 else "no line held a judgment"
        cli._say(err, f"judgeguard: nothing was audited ({what})", "red")
        return 1
    failure = summary.failure_line()
    if failure is not None:
        cli._say(err, f"judgeguard: {failure}", "red")
        return 1
    return 0
