"""The command line: ``judgeguard audit FILE.jsonl``, ``judgeguard serve`` (and
``python -m judgeguard``)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

from judgeguard import env
from judgeguard.errors import GuardConfigError, JudgeguardError
from judgeguard.gating import Gate

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
        "verdict, judge, label, pair_id, swapped, reference, …); - reads stdin",
    )
    a.add_argument(
        "more_files",
        nargs="*",
        metavar="PATH",
        help="more inputs (with --ray: JSONL or Parquet files, directories, globs, URIs)",
    )
    a.add_argument(
        "--metajudge",
        nargs="+",
        metavar="MODEL",
        help="litellm model(s) of the MetaJudge (several: an ensemble); default "
        "$JUDGEGUARD_METAJUDGE",
    )
    a.add_argument(
        "--metajudge-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a keyword argument of the MetaJudge, passed on to litellm (repeatable; VALUE "
        "is read as JSON when it parses, else as a string), e.g. "
        "api_base=http://host:8000/v1, temperature=0, timeout=120",
    )
    a.add_argument(
        "--out",
        help="write one result line per input line (JSONL); replaced only when the run completes",
    )
    a.add_argument(
        "--report", help="write a self-contained HTML report (replaced only when complete)"
    )
    a.add_argument(
        "--review-below",
        type=float,
        metavar="X",
        help="flag a judgment for review when its R_rationale is below X (default 0.3)",
    )
    a.add_argument(
        "--floor",
        type=float,
        metavar="X",
        help="calibration floor: the reward uses X + (1 - X) × R_rationale (default 0, off)",
    )
    a.add_argument(
        "--on-error",
        choices=("none", "outcome", "zero"),
        help="the reward of a failed check: none (default), R_outcome alone, or 0",
    )
    a.add_argument(
        "--check-timeout",
        type=float,
        metavar="S",
        help="end a line's check after S seconds (error, reason check_timeout; default: none)",
    )
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
    a.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run on a Ray cluster (needs judgeguard-ray): ADDRESS of a running cluster "
        "(e.g. auto, ray://host:10001), none: $RAY_ADDRESS or a local one; put it after "
        "the paths. --out *.parquet (a resumable directory) or *.jsonl",
    )
    a.add_argument(
        "--actors", type=int, default=2, help="with --ray: check actors (2), each --concurrency"
    )
    a.add_argument(
        "--max-in-flight",
        type=int,
        metavar="N",
        help="with --ray: at most N checks in flight in all (lowers each actor's concurrency)",
    )
    a.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    a.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    a.add_argument(
        "--cache-dir", help="cache directory (default $JUDGEGUARD_CACHE_DIR or the user cache dir)"
    )
    a.add_argument("--no-progress", action="store_true", help="no progress bar")
    a.add_argument(
        "--sink",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="also post each line as a small trace with its check to an observability tool: "
        "phoenix=http://127.0.0.1:6006 (span annotations), mlflow=http://127.0.0.1:5000 "
        "(feedback assessments); repeatable",
    )
    _serve_parser(sub)
    return p


def _serve_parser(sub: Any) -> None:
    s = sub.add_parser(
        "serve",
        help="serve gated rewards over HTTP (OpenRLHF's --remote_rm_url protocol)",
        description="Serve rationale-gated rewards: POST /get_reward with "
        '{"query": [...], "prompts": [...], "labels": [...]} answers {"rewards": [...], '
        '"scores": [...], "extra_logs": {...}}; GET /health.',
    )
    judge = s.add_mutually_exclusive_group(required=True)
    judge.add_argument(
        "--judge", metavar="MODULE:FUNC", help="your judge(prompt, completion, **row)"
    )
    judge.add_argument("--judge-model", metavar="MODEL", help="a litellm model for jg.LLMJudge")
    s.add_argument(
        "--judge-prompt", default="pointwise", help="LLMJudge preset (pointwise, reference, "
        "pairwise) or a template with {prompt}, {completion} (default pointwise)",
    )  # fmt: skip
    s.add_argument(
        "--judge-option", action="append", default=[], metavar="KEY=VALUE",
        help="a litellm keyword argument of the judge model (repeatable)",
    )  # fmt: skip
    s.add_argument("--metajudge", nargs="+", metavar="MODEL", help="default $JUDGEGUARD_METAJUDGE")
    s.add_argument(
        "--metajudge-option", action="append", default=[], metavar="KEY=VALUE",
        help="a keyword argument of the MetaJudge (repeatable)",
    )  # fmt: skip
    s.add_argument("--verdict", help="the judge's verdict spec (default: the preset's, or auto)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--concurrency", type=int, default=64, help="LLM calls in flight per batch")
    s.add_argument("--max-batches", type=int, default=4, help="batches checked at once")
    s.add_argument("--max-body-mb", type=float, default=32.0, help="request body cap (413)")
    s.add_argument(
        "--labels-as", choices=("reference", "label"), default="reference",
        help="what 'labels' are: the reference answer (default) or the gold verdict",
    )  # fmt: skip
    s.add_argument("--failed-reward", type=float, default=0.0, help="reward of a failed check")
    s.add_argument("--no-cache", action="store_true", help="turn the disk cache off")


class UsageError(ValueError):
    """A malformed command-line value (exit code 2)."""


def _fields(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, eq, path = pair.partition("=")
        if not eq:
            raise UsageError(f"--field {pair!r}: write NAME=PATH, e.g. output=judgment.response")
        out[name.strip()] = path.strip()
    return out


def _gate(args: argparse.Namespace, metajudge: Any) -> Gate | None:
    """The gate from ``--review-below``, ``--floor`` and ``--on-error`` (the others from
    the MetaJudge's default gate); ``None`` when none of them is given."""
    given = {
        name: value
        for name, value in (
            ("review_threshold", args.review_below),
            ("floor", args.floor),
            ("on_error", args.on_error),
        )
        if value is not None
    }
    if not given:
        return None
    base = metajudge.gate if metajudge is not None else Gate()
    try:
        return dataclasses.replace(base, **given)
    except ValueError as exc:
        flag = {"review_threshold": "--review-below", "floor": "--floor"}
        name = next((n for n in given if n in str(exc)), "")
        raise ValueError(f"{flag.get(name, '--on-error')}: {exc}") from exc


def _options(pairs: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as keyword arguments; a VALUE that parses as JSON is that JSON
    value (``0.2``, ``true``, ``{"k": 1}``), any other VALUE is the string itself."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, eq, raw = pair.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise UsageError(
                f"--metajudge-option {pair!r}: write KEY=VALUE, e.g. "
                "api_base=http://localhost:8000/v1"
            )
        if key in ("model", "messages"):
            raise UsageError(f"--metajudge-option {key}=…: set the model with --metajudge")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


class OutputFile:
    """An output written to a temporary file beside its target and renamed into place by
    :meth:`commit` (an atomic replace): a refused, failed or interrupted run never leaves a
    truncated file where an old one was. A symlinked target is replaced where it points.

    The standard library's ``tempfile.mkstemp`` + ``os.replace`` do the atomic part (the
    ``atomicwrites`` package that used to wrap them is archived). Opening fails with a
    one-line ``OSError`` message before the run when the target cannot be written. A
    target that is not a regular file (``/dev/stdout``, ``/dev/null``, a named pipe) is
    written directly: there is nothing to replace.
    """

    def __init__(self, target: str, flag: str) -> None:
        self.flag = flag
        self.shown = target
        self.target = os.path.realpath(target)
        self.temp: str | None = None
        self.done = False
        try:
            special = not stat.S_ISREG(os.stat(target).st_mode)
        except OSError:
            special = False
        if special and not os.path.isdir(target):
            try:
                self.file: IO[str] = open(target, "w", encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                raise OSError(f"{flag} {target}: cannot write there ({exc.strerror})") from exc
            return
        if os.path.isdir(self.target):
            raise OSError(f"{flag} {target}: is a directory")
        if os.path.exists(self.target) and not os.access(self.target, os.W_OK):
            raise OSError(f"{flag} {target}: permission denied")
        parent = os.path.dirname(self.target)
        if not os.path.isdir(parent):
            raise OSError(f"{flag} {target}: no such directory {parent}")
        try:
            fd, self.temp = tempfile.mkstemp(
                prefix=f".{os.path.basename(self.target)}.", suffix=".tmp", dir=parent
            )
        except OSError as exc:
            raise OSError(f"{flag} {target}: cannot write there ({exc.strerror})") from exc
        try:
            mode = os.stat(self.target).st_mode & 0o7777
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        with contextlib.suppress(OSError):
            os.fchmod(fd, mode)
        self.file = os.fdopen(fd, "w", encoding="utf-8")

    def commit(self) -> None:
        """Flush, sync and rename the temporary file onto the target."""
        self.done = True
        if self.temp is None:
            self.file.close()
            return
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.temp, self.target)

    def keep_as(self, path: str) -> None:
        """Move what was written so far to ``path`` instead (an interrupted run)."""
        self.done = True
        self.file.close()
        if self.temp is not None:
            os.replace(self.temp, path)

    def discard(self) -> None:
        """Remove the temporary file; the target is left as it was."""
        if self.done:
            return
        self.done = True
        self.file.close()
        if self.temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.temp)


def _same_file(a: os.stat_result, path: str) -> bool:
    try:
        return os.path.samestat(a, os.stat(path))
    except OSError:
        return False


def _refuse_overwriting_input(file: str, outputs: dict[str, str]) -> str | None:
    """A one-line reason when an output is the input (same inode: also through a link or
    another spelling) or both outputs are the same file; else ``None``."""
    from judgeguard.audit import is_stdin

    try:
        source = os.fstat(0) if is_stdin(file) else os.stat(file)
    except OSError:
        source = None
    for flag, path in outputs.items():
        if source is not None and _same_file(source, path):
            return (
                f"{flag} {path} is the input file {file}: writing it would destroy the input; "
                "choose another path"
            )
    if len(outputs) == 2:
        (f1, p1), (f2, p2) = outputs.items()
        if os.path.realpath(p1) == os.path.realpath(p2) or (
            os.path.exists(p1) and _same_file(os.stat(p1), p2)
        ):
            return f"{f1} and {f2} are the same file ({p1}); give two paths"
    return None


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """While the audit runs, file descriptor 1 is stderr (also in worker processes,
    which inherit it): nothing a library prints lands in the user's stdout, which gets
    only the summary."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):  # no real stdout (embedded, closed): nothing to guard
        yield
        return
    try:
        os.dup2(2, 1)
    except OSError:  # no stderr to send it to: leave stdout as it is
        os.close(saved)
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _say(console: Any, text: str, style: str) -> None:
    """One message, unwrapped (one line stays one line) and without rich markup."""
    console.print(text, style=style or None, markup=False, highlight=False, soft_wrap=True)


def _count_lines(path: str) -> int | None:
    if not os.path.isfile(path):  # stdin or a pipe: counting would consume it
        return None
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return None


def audit_command(args: argparse.Namespace) -> int:
    """Run ``judgeguard audit``; returns the exit code (0 done, 1 nothing audited or every
    check failed, 2 the audit could not start, 130 interrupted)."""
    from rich.console import Console

    from judgeguard.audit import AuditConfig, AuditError, check_config
    from judgeguard.cache import DiskCache

    err = Console(stderr=True)

    def refuse(message: str) -> int:
        _say(err, f"judgeguard: {message}", "red")
        return 2

    models = args.metajudge or env.metajudge_models()
    try:
        options = _options(args.metajudge_option)
        fields = _fields(args.field)
    except UsageError as exc:
        return refuse(str(exc))
    metajudge = None
    if models:
        from judgeguard.metajudge import MetaJudge

        try:
            metajudge = MetaJudge(models if len(models) > 1 else models[0], **options)
        except (TypeError, ValueError) as exc:
            return refuse(f"--metajudge: {exc}")
    elif options:
        return refuse("--metajudge-option needs a MetaJudge: add --metajudge MODEL")
    try:
        gate = _gate(args, metajudge)
    except ValueError as exc:
        return refuse(str(exc))
    if args.verdict != "auto":  # fail fast on a bad spec ("auto" needs no pydantic here)
        from judgeguard.verdicts import VerdictSpec

        try:
            VerdictSpec.coerce(args.verdict)
        except ValueError as exc:
            return refuse(str(exc))
    config = AuditConfig(
        metajudge=metajudge,
        gate=gate,
        verdict=args.verdict,
        fields=fields,
        concurrency=args.concurrency,
        workers=args.workers,
        limit=args.limit,
        check_timeout=args.check_timeout,
    )
    if args.ray is not None:
        return _ray_audit(args, config, refuse, err)
    if args.more_files:
        return refuse("several inputs need --ray; audit one file (or - for stdin) at a time")
    # everything that can refuse the run does so before an output file is touched
    try:
        check_config(args.file, config)
    except AuditError as exc:
        return refuse(str(exc))
    targets = {
        flag: path for flag, path in (("--out", args.out), ("--report", args.report)) if path
    }
    reason = _refuse_overwriting_input(args.file, targets)
    if reason is not None:
        return refuse(reason)
    files: dict[str, OutputFile] = {}
    try:
        try:
            for flag, path in targets.items():
                files[flag] = OutputFile(path, flag)
        except OSError as exc:
            return refuse(str(exc))
        if metajudge is None and not args.json:
            _say(err, _NO_METAJUDGE, "yellow")
        config.cache = None if args.no_cache else DiskCache(args.cache_dir)
        try:
            sinks = _sinks(args.sink, metajudge)
        except JudgeguardError as exc:
            return refuse(str(exc))
        config.on_line = [sink.log_audit_line for sink in sinks]
        try:
            return _audit(args, config, files, err)
        finally:
            _close_sinks(sinks, err)
    finally:
        for f in files.values():
            f.discard()


def _ray_audit(
    args: argparse.Namespace, config: Any, refuse: Callable[[str], int], err: Any
) -> int:
    """``--ray``: the audit on Ray Data (the judgeguard-ray distribution, imported only
    here: the local audit never imports Ray)."""
    from judgeguard.audit import AuditError

    try:
        from judgeguard_ray.cli import ray_audit
    except ImportError as exc:
        return refuse(f"--ray needs the judgeguard-ray package (pip install judgeguard-ray): {exc}")
    if os.path.exists(args.ray):
        return refuse(f"--ray {args.ray}: that is a path; put --ray after the input paths")
    if getattr(args, "sink", None):
        return refuse("--sink is not available with --ray yet: audit locally, or post --out")
    try:
        return int(ray_audit(args, config, err))
    except (AuditError, OSError) as exc:
        return refuse(str(exc))


def _sinks(specs: list[str], metajudge: Any) -> list[Any]:
    """The ``--sink NAME=URL`` sinks, built (and their client libraries imported) now."""
    if not specs:
        return []
    from judgeguard.sinks import from_spec

    sinks = []
    for spec in specs:
        try:
            sink = from_spec(spec)
        except ImportError as exc:
            raise GuardConfigError(
                f"--sink {spec}: {exc.name or exc} is not installed "
                "(pip install 'judgeguard[sinks]')"
            ) from exc
        sink.metajudge_model = metajudge.model if metajudge is not None else None
        sinks.append(sink)
    return sinks


def _close_sinks(sinks: list[Any], err: Any) -> None:
    """Post what the sinks still hold, then say on stderr what each posted or lost."""
    for sink in sinks:
        left = sink.close(env.sink_close_timeout())
        counts = sink.counts
        line = f"sink {sink.name}: {counts['posted']} line(s) posted"
        lost = counts["failed"] + counts["dropped"] + left
        if lost:
            _say(err, f"{line}, {lost} not posted (see the warnings above)", "yellow")
        else:
            _say(err, line, "")


def _audit(args: argparse.Namespace, config: Any, files: dict[str, OutputFile], err: Any) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from judgeguard.audit import AuditError, run_audit

    out = files.get("--out")
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
        with _stdout_to_stderr(), progress:
            task = progress.add_task("audit", total=total, rate="")

            done = [0]

            def advance(n: int) -> None:
                progress.advance(task, n)
                done[0] += n
                if done[0] % 256 < n:  # rich's speed estimate is costly: refresh it rarely
                    speed = progress.tasks[0].speed
                    if speed:
                        progress.update(task, rate=f"{speed:,.0f} lines/s")

            summary = run_audit(args.file, config, out.file if out is not None else None, advance)
    except AuditError as exc:
        _say(err, f"judgeguard: {exc}", "red")
        return 2
    _explain_skips(summary, err)
    if summary.interrupted:
        if out is not None and out.temp is None:
            out.commit()  # a stream (/dev/stdout, a pipe): the lines are already there
        elif out is not None:
            partial = out.target + ".partial"
            out.keep_as(partial)
            _say(
                err,
                f"Interrupted: {out.shown} left as it was; the finished lines are in {partial}.",
                "yellow",
            )
    elif out is not None:
        out.commit()
    report = files.get("--report")
    if report is not None:
        from judgeguard.report import render_report

        report.file.write(render_report(summary, args.file))
        report.commit()
    _print_summary(args, summary)
    if report is not None:
        _say(err, f"report written to {report.shown}", "")
    _explain_errors(summary, err)
    if summary.interrupted:
        _say(
            err,
            "Interrupted: the summary covers the lines finished so far. Run the same command "
            "again to resume; finished checks come from the cache.",
            "yellow",
        )
        return 130
    if summary.overall.n == 0:
        what = "no lines in the input" if summary.lines == 0 else "no line held a judgment"
        _say(err, f"judgeguard: nothing was audited ({what})", "red")
        return 1
    failure = summary.failure_line()
    if failure is not None:
        _say(err, f"judgeguard: {failure}", "red")
        return 1
    return 0


def _explain_skips(summary: Any, err: Any) -> None:
    """Skipped lines on stderr: one hint when most lack the judge's output, else the
    first 20 with their reasons."""
    from judgeguard.audit import NO_OUTPUT

    hint = summary.missing_field_hint()
    shown = [(n, m) for n, m in summary.malformed if hint is None or m != NO_OUTPUT]
    if hint is not None:
        _say(err, f"judgeguard: {hint}", "yellow")
    for number, message in shown[:20]:
        _say(err, f"line {number}: skipped, {message}", "yellow")
    if len(shown) > 20:
        _say(err, f"… and {len(shown) - 20} more malformed lines", "yellow")


def _explain_errors(summary: Any, err: Any) -> None:
    """Failed checks per judge and reason, and crashes per distinct cause, on stderr."""
    for name, stats in sorted(summary.judges.items()):
        if stats.errors:
            reasons = ", ".join(f"{r} {c}" for r, c in stats.error_reasons.most_common())
            _say(
                err,
                f"{name}: {stats.errors} of {stats.attempted} checks failed ({reasons})",
                "yellow",
            )
    for reason, count in summary.skipped.most_common():
        example = summary.skipped_examples.get(reason) or ""
        _say(err, f"{count} checks skipped: {reason} ({example})", "yellow")
    for cause, count in summary.crashes.most_common(10):
        _say(err, f"a check crashed {count}× with {cause}", "yellow")


def _print_summary(args: argparse.Namespace, summary: Any) -> None:
    """The summary on stdout: one JSON object (``--json``) or a table."""
    from rich.console import Console
    from rich.table import Table

    from judgeguard.audit import SUMMARY_KEYS, dump_json, format_figure, summary_rows

    if args.json:
        print(dump_json(summary.to_json(), indent=2))
        return
    table = Table(title=f"judgeguard audit · {args.file}")
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
        "errors": "errors",
    }
    table.add_column("judge", no_wrap=True)
    for k in SUMMARY_KEYS:
        table.add_column(short[k], justify="right")
    for name, figures in summary_rows(summary):
        table.add_row(
            name,
            *(format_figure(k, figures[k]) for k in SUMMARY_KEYS),
            style="bold" if name == "overall" else None,
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=170)
    console.print(table)


def serve_command(args: argparse.Namespace) -> int:
    """``judgeguard serve``: build the reward function and serve it until stopped."""
    import logging

    from rich.console import Console

    from judgeguard.metajudge import MetaJudge
    from judgeguard.rewards import LLMJudge, RewardConfigError, RewardFunction, load_judge
    from judgeguard.serve import serve

    err = Console(stderr=True)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")  # stderr
    try:
        mj_options = _options(args.metajudge_option)
        judge_options = _options(args.judge_option)
        judge: Any = (
            load_judge(args.judge)
            if args.judge
            else LLMJudge(args.judge_model, prompt=args.judge_prompt, **judge_options)
        )
        models = args.metajudge or [
            m.strip() for m in os.environ.get("JUDGEGUARD_METAJUDGE", "").split(",") if m.strip()
        ]
        metajudge = (
            MetaJudge(models if len(models) > 1 else models[0], **mj_options) if models else None
        )
        reward = RewardFunction(
            judge,
            metajudge=metajudge,
            verdict=args.verdict,
            cache=not args.no_cache,
            concurrency=args.concurrency,
        )
    except (UsageError, RewardConfigError, ValueError) as exc:
        _say(err, f"judgeguard: {exc}", "red")
        return 2
    if metajudge is None:
        _say(
            err,
            "judgeguard: no MetaJudge configured (--metajudge MODEL or $JUDGEGUARD_METAJUDGE): "
            "every check ends skipped and every reward is --failed-reward",
            "yellow",
        )
    serve(
        reward,
        host=args.host,
        port=args.port,
        max_batches=args.max_batches,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        labels_as=args.labels_as,
        failed_reward=args.failed_reward,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``judgeguard`` command."""
    args = _parser().parse_args(argv)
    if args.command == "audit":
        return audit_command(args)
    if args.command == "serve":
        return serve_command(args)
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
