"""The audit: logged judgments (JSONL) in, per-line results and per-judge reliability out.

Streaming: lines are read, parsed and checked a window at a time, and results are
written in input order, so memory stays flat in the number of lines (only the first
order of a swapped pair waits for its twin). Checks go through the same dispatcher,
cache and telemetry as the guard. A second, line-level cache entry (keyed on the raw
line and the audit settings) makes a rerun skip even the parse: an interrupted audit
resumes at cache speed and errors are retried.

One concern per module: :mod:`~judgeguard.audit.inputs` (the input contract and the
run's settings), :mod:`~judgeguard.audit.lines` (one line: request and result record),
:mod:`~judgeguard.audit.summary` (typed rows aggregated into the figures and tables),
:mod:`~judgeguard.audit.run` (the streaming loop and where the checks run).
"""

from __future__ import annotations

from judgeguard.audit.inputs import (
    FIELDS,
    NO_OUTPUT,
    STDIN,
    AuditConfig,
    AuditError,
    check_config,
    is_stdin,
    read_lines,
)
from judgeguard.audit.lines import dump_json
from judgeguard.audit.run import run_audit
from judgeguard.audit.summary import (
    ATTEMPTED,
    SUMMARY_KEYS,
    AuditRow,
    AuditSummary,
    ExactSum,
    JudgeStats,
    format_figure,
    summary_rows,
)

__all__ = [
    "ATTEMPTED",
    "FIELDS",
    "NO_OUTPUT",
    "STDIN",
    "SUMMARY_KEYS",
    "AuditConfig",
    "AuditError",
    "AuditRow",
    "AuditSummary",
    "ExactSum",
    "JudgeStats",
    "check_config",
    "dump_json",
    "format_figure",
    "is_stdin",
    "read_lines",
    "run_audit",
    "summary_rows",
]
