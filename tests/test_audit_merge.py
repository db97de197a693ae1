"""Mergeable audit summaries (what the Ray audit's distributed aggregation relies on):
partial summaries over parts of the lines, merged, with twins paired after grouping by
pair_id, give exactly the one-pass summary."""

import dataclasses
import io
import json
import random
from pathlib import Path

from judgeguard.audit import AuditConfig, AuditRow, AuditSummary, run_audit

SAMPLE = Path(__file__).parent.parent / "examples" / "data" / "audit_sample.jsonl"


def one_pass(path):
    out = io.StringIO()
    summary = run_audit(path, AuditConfig(), out)
    return summary, [json.loads(x) for x in out.getvalue().splitlines()]


def merged(records, parts, seed):
    """The records cut into ``parts`` contiguous parts, each summarised without its pairs;
    pairs grouped by (judge, pair_id) in input order, in a shuffled group order."""
    total = AuditSummary()
    size = -(-len(records) // parts)
    for k in range(0, len(records), size):
        part = AuditSummary()
        for rec in records[k : k + size]:
            part.add(dataclasses.replace(AuditRow.of(rec), pair_id=None))
        total.merge(part)
    groups = {}
    for rec in records:
        row = AuditRow.of(rec)
        if row.pair_id is not None:
            groups.setdefault((row.judge, str(row.pair_id)), []).append(row)
    keys = list(groups)
    random.Random(seed).shuffle(keys)
    for key in keys:
        pairs = AuditSummary()
        for row in groups[key]:
            pairs.add_pair(row)
        total.merge(pairs)
    return total


def test_merged_partials_equal_the_one_pass_summary(tmp_path):
    lines = SAMPLE.read_text().splitlines() * 7
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(lines) + "\n")
    summary, records = one_pass(path)
    assert summary.overall.pairs > 0
    for parts in (1, 2, 5, len(records)):
        total = merged(records, parts, seed=parts)
        assert total.to_json() == summary.to_json()
        assert total.swap_confusion == summary.swap_confusion
        assert total.malformed == summary.malformed
        assert total.lines == summary.lines
        assert (total.missing_output, total.missing_output_keys) == (
            summary.missing_output,
            summary.missing_output_keys,
        )


def test_exact_sums_give_one_mean_whatever_the_order():
    from fractions import Fraction

    from judgeguard.audit import ExactSum

    rng = random.Random(7)
    values = [rng.random() * rng.choice([1e-9, 1, 1e6]) for _ in range(2000)] + [0.1] * 999
    expected = float(sum(map(Fraction, values)) / len(values))
    means = set()
    for seed in range(5):
        rng.shuffle(values)
        total = ExactSum()
        parts = [ExactSum() for _ in range(seed + 1)]
        for i, v in enumerate(values):
            parts[i % len(parts)] += v
        for p in parts:
            total = total + p
        means.add(total / len(values))
    assert means == {expected}
    nan = ExactSum()
    nan += float("inf")
    assert nan / 2 == float("inf")
