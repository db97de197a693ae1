"""The audit on Ray Data: checks in an actor pool through judgeguard's one check path, a
shared result store for resumable reruns, and an exact distributed aggregation into the
local audit's :class:`judgeguard.audit.AuditSummary`."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import os
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from judgeguard.audit import FIELDS, AuditConfig, AuditError, AuditRow, AuditSummary, dump_json
from judgeguard.audit.lines import Line, LineAuditor
from judgeguard.audit.summary import FLAGGED_KEPT
from judgeguard.gating import Gate
from judgeguard_ray.inputs import RAW_COLUMNS, RAW_MARK, row_uid

if TYPE_CHECKING:
    from judgeguard.metajudge import MetaJudge

__all__ = ["AuditResult", "audit_dataset"]

log = logging.getLogger("judgeguard")

#: The columns of a result store part (and of the checks' output).
RESULT_COLUMNS = ("uid", "source", "line", "pos", "judge", "status", "record", "text_keys")
#: The store's description of the audit that wrote it (a rerun must match it).
MANIFEST = "_judgeguard_audit.json"
#: Environment variables the check actors get from the driver: judgeguard's, litellm's and
#: the providers' endpoint and key variables (a worker node's own environment lacks them).
_ENV_PREFIXES = ("JUDGEGUARD_", "LITELLM_")
_ENV_SUFFIXES = ("_API_KEY", "_API_BASE", "_BASE_URL", "_API_VERSION")


@dataclass
class AuditResult:
    """What :func:`audit_dataset` returns: ``results``, a ``ray.data.Dataset`` of the
    per-line result records (the local ``--out``'s JSON objects, plus ``source``, the
    file they came from); ``summary``, the local audit's
    :class:`judgeguard.audit.AuditSummary`; ``store``, the result store's path (``None``:
    the results live in Ray's object store); ``checked``, lines checked by this run (a
    rerun skips the lines the store holds)."""

    results: Any
    summary: AuditSummary
    store: str | None = None
    checked: int = 0


@dataclass(frozen=True)
class _Spec:
    """What each check actor needs (pickled to it)."""

    metajudge: MetaJudge | None
    verdict: str
    fields: dict[str, str]
    gate: Gate | None
    cache: bool
    cache_dir: str | None
    concurrency: int
    store: str | None
    check_timeout: float | None = None


def _config(spec: _Spec, cache: Any = None) -> AuditConfig:
    return AuditConfig(
        metajudge=spec.metajudge,
        verdict=spec.verdict,
        fields=dict(spec.fields),
        gate=spec.gate,
        cache=cache,
    )


class _Checker:
    """A check actor: parses its batch's lines and runs their checks through
    :func:`judgeguard.pipeline.run_check` on its own event loop, at most
    ``spec.concurrency`` in flight; with a result store, writes the batch's results there
    (atomically, named after the batch's ids: a retried batch replaces its own part)."""

    def __init__(self, spec: _Spec) -> None:
        from judgeguard.cache import DiskCache
        from judgeguard.pipeline import CheckSettings

        self.spec = spec
        cache = DiskCache(spec.cache_dir) if spec.cache else None
        self.auditor = LineAuditor(_config(spec, cache))
        self.settings = CheckSettings(
            metajudge=spec.metajudge,
            verdict=self.auditor.spec,
            cache=cache,
            gate=self.auditor.gate,
            check_timeout=spec.check_timeout,
        )
        self.loop = asyncio.new_event_loop()
        if spec.metajudge is not None:  # the clients' imports once, before the first batch
            from judgeguard.metajudge.transport import import_clients

            import_clients(spec.metajudge.models, spec.metajudge.litellm_kwargs)

    def __call__(self, batch: Any) -> Any:
        rows = batch.to_pylist()
        records = self.loop.run_until_complete(self._check_all(rows))
        table = _result_table(rows, records)
        if self.spec.store is not None:
            _write_part(self.spec.store, table)
            import pyarrow as pa

            return pa.table({"checked": pa.array([table.num_rows], pa.int64())})
        return table

    async def _check_all(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        semaphore = asyncio.Semaphore(self.spec.concurrency)

        async def one(row: dict[str, Any]) -> dict[str, Any]:
            async with semaphore:
                return await self._check(row)

        return list(await asyncio.gather(*(one(r) for r in rows)))

    async def _check(self, row: dict[str, Any]) -> dict[str, Any]:
        from judgeguard import pipeline

        line = Line(row["line"] or 0, row["raw"])
        request = self.auditor.prepare(line)
        if request is not None:
            try:
                line.check = await pipeline.run_check(request, self.settings)
            except Exception as exc:  # as the local dispatcher's fallback: counted, not fatal
                log.error("judgeguard: a check crashed", exc_info=True)
                failed = pipeline.failed_check(
                    "error", "internal_error", f"{type(exc).__name__}: {exc}", self.spec.metajudge
                )
                line.check = self.settings.gate.apply_to(failed)
        record = self.auditor.result_record(line)
        if row["line"] is None:
            record["line"] = None
        if row["source"]:
            record["source"] = row["source"]
        return record


def _result_table(rows: list[dict[str, Any]], records: list[dict[str, Any]]) -> Any:
    import pyarrow as pa

    text_keys = [r.pop("text_keys", None) for r in records]
    return pa.table(
        {
            "uid": pa.array([r["uid"] for r in rows], pa.string()),
            "source": pa.array([r["source"] for r in rows], pa.string()),
            "line": pa.array([r["line"] for r in rows], pa.int64()),
            "pos": pa.array([r["pos"] for r in rows], pa.int64()),
            "judge": pa.array([str(r.get("judge")) for r in records], pa.string()),
            "status": pa.array([str(r.get("status")) for r in records], pa.string()),
            "record": pa.array([dump_json(r) for r in records], pa.string()),
            "text_keys": pa.array(
                [json.dumps(t) if t is not None else None for t in text_keys], pa.string()
            ),
        }
    )


def _store_fs(store: str) -> tuple[Any, str]:
    from judgeguard_ray.inputs import _filesystem

    return _filesystem(store)


def _write_part(store: str, table: Any) -> None:
    """Write one batch's results as ``part-<digest of its ids>.parquet``: written to a
    temporary name and moved into place, so a reader never sees half a part."""
    import pyarrow.parquet as pq

    filesystem, root = _store_fs(store)
    digest = hashlib.blake2b(digest_size=16)
    for uid in table.column("uid").to_pylist():
        digest.update(uid.encode() + b"\n")
    name = f"part-{digest.hexdigest()}.parquet"
    temp = f"{root}/.{name}.{os.getpid()}.tmp"
    with filesystem.open_output_stream(temp) as f:
        pq.write_table(table, f)
    filesystem.move(temp, f"{root}/{name}")


# -- the input: raw lines, or records -----------------------------------------------------
def _as_raw(batch: Any) -> Any:
    """A batch of judgment records as raw lines (JSON), without a position: ``uid`` is the
    record's content (identical records are one judgment for the result store)."""
    import pyarrow as pa

    raws = []
    for record in batch.to_pylist():
        record = {k: v for k, v in record.items() if v is not None}
        raws.append(json.dumps(record, default=str, sort_keys=True).encode())
    n = len(raws)
    return pa.table(
        {
            "uid": pa.array([row_uid("", None, r) for r in raws], pa.string()),
            "source": pa.array([None] * n, pa.string()),
            "line": pa.array([None] * n, pa.int64()),
            "pos": pa.array([None] * n, pa.int64()),
            "raw": pa.array(raws, pa.binary()),
        }
    )


def _raw_lines(ds: Any) -> Any:
    """``ds`` as raw lines: a dataset of :func:`judgeguard_ray.read_judgments` as it is,
    any other dataset of records converted."""
    if getattr(ds, RAW_MARK, False):
        return ds
    schema = ds.schema(fetch_if_missing=False)
    if schema is not None and set(RAW_COLUMNS) <= set(schema.names):
        return ds
    return ds.map_batches(_as_raw, batch_format="pyarrow", num_cpus=0.25)


# -- the aggregation ------------------------------------------------------------------------
def _sort_key(pos: Any) -> tuple[bool, int]:
    return (pos is None, pos or 0)


@dataclass
class _Partial:
    """One batch's part of the summary: counts (pairs left out), and what the summary
    keeps of the first lines (flagged cases, one example per reason) with their positions,
    so the merge keeps exactly what one pass in input order keeps."""

    summary: AuditSummary
    malformed: list[tuple[tuple[bool, int], tuple[int, str]]] = field(default_factory=list)
    flagged: list[tuple[tuple[bool, int], dict[str, Any]]] = field(default_factory=list)
    error_examples: dict[str, tuple[tuple[bool, int], str]] = field(default_factory=dict)
    skipped_examples: dict[str, tuple[tuple[bool, int], str]] = field(default_factory=dict)
    pair_rows: int = 0


def _row(rec: Mapping[str, Any], text_keys: str | None) -> AuditRow:
    record = dict(rec)
    if text_keys is not None:
        record["text_keys"] = json.loads(text_keys)
    return AuditRow.of(record)


def _partial(batch: Any, metajudge: str | None, keep_values: bool) -> Any:
    """One row: the pickled :class:`_Partial` of a batch of results."""
    import pyarrow as pa

    rows = sorted(batch.to_pylist(), key=lambda r: _sort_key(r["pos"]))
    part = _Partial(AuditSummary(metajudge=metajudge))
    for r in rows:
        key = _sort_key(r["pos"])
        row = _row(json.loads(r["record"]), r["text_keys"])
        if row.pair_id is not None:
            part.pair_rows += 1
        before = len(part.summary.flagged)
        part.summary.add(dataclasses.replace(row, pair_id=None))
        if row.status == "malformed":
            part.malformed.append((key, part.summary.malformed[-1]))
        if len(part.summary.flagged) > before:  # a batch's first 200 hold the run's first
            part.flagged.append((key, part.summary.flagged[-1]))
        reason = row.reason or "unknown"
        if row.status == "error":
            part.error_examples.setdefault(reason, (key, str(row.error or "")))
        if row.status == "skipped" and metajudge is not None:
            part.skipped_examples.setdefault(reason, (key, str(row.error or "")))
    part.summary.flagged = []
    if not keep_values:
        part.summary.r_values, part.summary.rewards = [], []
    return pa.table({"partial": pa.array([pickle.dumps(part)], pa.binary())})


def _pair_rows(batch: Any) -> Any:
    """The results that take part in swap agreement: one row each, keyed by (judge,
    pair_id) as the local audit pairs them."""
    import pyarrow as pa

    keys, pos, recs = [], [], []
    for r in batch.to_pylist():
        rec = json.loads(r["record"])
        row = AuditRow.of(rec)
        if row.pair_id is None or row.swapped is None or row.kind != "pairwise":
            continue
        keys.append(json.dumps([row.judge, str(row.pair_id)]))
        pos.append(r["pos"])
        recs.append(
            json.dumps(
                {k: rec.get(k) for k in ("judge", "status", "pair_id", "swapped", "kind")}
                | {"verdict": rec.get("verdict"), "line": rec.get("line")}
            )
        )
    return pa.table(
        {
            "pair_key": pa.array(keys, pa.string()),
            "pos": pa.array(pos, pa.int64()),
            "row": pa.array(recs, pa.string()),
        }
    )


def _pair_group(group: Any) -> Any:
    """One (judge, pair_id) group, in input order, paired as the local audit pairs it:
    one row per completed pair (judge, first order's winner, second order's winner)."""
    import pyarrow as pa

    rows = sorted(group.to_pylist(), key=lambda r: _sort_key(r["pos"]))
    summary = AuditSummary()
    for r in rows:
        summary.add_pair(AuditRow.of(json.loads(r["row"])))
    judges, firsts, seconds = [], [], []
    judge = json.loads(rows[0]["pair_key"])[0] if rows else ""
    for first, cells in summary.swap_confusion.items():
        for second, count in cells.items():
            for _ in range(count):
                judges.append(judge)
                firsts.append(first)
                seconds.append(second)
    return pa.table(
        {
            "judge": pa.array(judges, pa.string()),
            "first": pa.array(firsts, pa.string()),
            "second": pa.array(seconds, pa.string()),
        }
    )


def _aggregate(
    results: Any,
    metajudge: str | None,
    gate: dict[str, Any] | None,
    keep_values: bool,
    partitions: int = 4,
) -> AuditSummary:
    """The summary of a results dataset: per-batch partial sums merged on the driver (a
    few objects per batch, never the rows), twins paired by a group-by on (judge, pair_id)."""
    summary = AuditSummary(metajudge=metajudge, gate=gate)
    malformed: list[tuple[tuple[bool, int], tuple[int, str]]] = []
    flagged: list[tuple[tuple[bool, int], dict[str, Any]]] = []
    errors: dict[str, tuple[tuple[bool, int], str]] = {}
    skips: dict[str, tuple[tuple[bool, int], str]] = {}
    pair_rows = 0
    partials = results.map_batches(
        _partial,
        batch_format="pyarrow",
        fn_kwargs={"metajudge": metajudge, "keep_values": keep_values},
        batch_size=4096,
        num_cpus=0.25,
    )
    for batch in partials.iter_batches(batch_format="pyarrow", batch_size=None):
        for blob in batch.column("partial").to_pylist():
            part: _Partial = pickle.loads(blob)
            summary.merge(part.summary)
            malformed.extend(part.malformed)
            flagged = sorted(flagged + part.flagged, key=lambda x: x[0])[:FLAGGED_KEPT]
            for mine, theirs in ((errors, part.error_examples), (skips, part.skipped_examples)):
                for reason, example in theirs.items():
                    if reason not in mine or example[0] < mine[reason][0]:
                        mine[reason] = example
            pair_rows += part.pair_rows
    summary.malformed = [m for _, m in sorted(malformed, key=lambda x: x[0])]
    summary.flagged = [f for _, f in flagged]
    summary.error_examples = {r: t for r, (_, t) in sorted(errors.items(), key=lambda x: x[1][0])}
    summary.skipped_examples = {r: t for r, (_, t) in sorted(skips.items(), key=lambda x: x[1][0])}
    if pair_rows:
        pairs = (
            results.map_batches(_pair_rows, batch_format="pyarrow", num_cpus=0.25)
            .groupby("pair_key", num_partitions=partitions)
            .map_groups(_pair_group, batch_format="pyarrow", num_cpus=0.25)
            .groupby(["judge", "first", "second"], num_partitions=partitions)
            .count()
        )
        for cell in sorted(pairs.take_all(), key=lambda c: (c["judge"], c["first"], c["second"])):
            judge, first, second, count = (
                cell["judge"],
                cell["first"],
                cell["second"],
                cell["count()"],
            )
            for stats in (summary.judges[judge], summary.overall):
                stats.pairs += count
                stats.pairs_agree += count if first == second else 0
            row = summary.swap_confusion.setdefault(first, {})
            row[second] = row.get(second, 0) + count
    return summary


# -- the store ------------------------------------------------------------------------------
def _manifest(spec: _Spec, auditor: LineAuditor) -> dict[str, Any]:
    """What makes two runs' results interchangeable: the audit's settings and its gate."""
    return {
        "format": 1,
        "settings": json.loads(dump_json(auditor.settings)),
        "gate": dataclasses.asdict(auditor.gate) if spec.metajudge is not None else None,
    }


def _open_store(store: str, manifest: dict[str, Any]) -> bool:
    """Create the store (or check that it holds this audit's results); whether it holds
    finished parts."""
    from pyarrow import fs

    filesystem, root = _store_fs(store)
    filesystem.create_dir(root, recursive=True)
    path = f"{root}/{MANIFEST}"
    wanted = json.dumps(manifest, sort_keys=True)
    if filesystem.get_file_info(path).type == fs.FileType.File:
        with filesystem.open_input_stream(path) as f:
            found = json.dumps(json.loads(f.read()), sort_keys=True)
        if found != wanted:
            raise AuditError(
                f"the result store {store} holds an audit with other settings (MetaJudge, "
                "verdict spec, fields or gate): give another output, or remove it to start over"
            )
    else:
        with filesystem.open_output_stream(path) as f:
            f.write(wanted.encode())
    parts = filesystem.get_file_info(fs.FileSelector(root))
    return any(i.base_name.startswith("part-") and i.base_name.endswith(".parquet") for i in parts)


def _read_store(store: str) -> Any:
    import ray

    return ray.data.read_parquet(store, file_extensions=["parquet"])


def _records(batch: Any) -> list[dict[str, Any]]:
    return [json.loads(r) for r in batch.column("record").to_pylist()]


def _parse_records(batch: Any) -> Any:
    import pandas as pd

    return pd.DataFrame(_records(batch))


def _driver_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if k.startswith(_ENV_PREFIXES) or k.endswith(_ENV_SUFFIXES)
    }


def _metajudge(metajudge: Any) -> MetaJudge | None:
    if metajudge is None or metajudge is False:
        return None
    from judgeguard.metajudge import MetaJudge

    if isinstance(metajudge, MetaJudge):
        return metajudge
    if isinstance(metajudge, (str, list, tuple)):
        return MetaJudge(metajudge if isinstance(metajudge, str) else list(metajudge))
    raise AuditError(f"metajudge= must be a MetaJudge or a model string, got {metajudge!r}")


def audit_dataset(
    ds: Any,
    metajudge: MetaJudge | str | Sequence[str] | None = None,
    fields: Mapping[str, str] | None = None,
    *,
    verdict: str = "auto",
    gate: Gate | None = None,
    cache: bool | str = True,
    actors: int = 2,
    concurrency: int = 16,
    max_in_flight: int | None = None,
    batch_size: int = 256,
    num_cpus: float = 0.5,
    store: str | None = None,
    keep_values: bool = False,
    check_timeout: float | None = None,
    ray_remote_args: Mapping[str, Any] | None = None,
) -> AuditResult:
    """Audit a ``ray.data.Dataset`` of judgments on Ray: the local audit's per-line result
    records and :class:`judgeguard.audit.AuditSummary`, with the same numbers.

    ``ds`` holds judgment records (the audit's input contract: ``output`` or
    ``rationale`` + ``verdict``, ``judge``, ``label``, ``pair_id`` + ``swapped`` …), or the
    raw lines of :func:`judgeguard_ray.read_judgments` (exact line numbers, malformed lines
    reported as locally). ``metajudge``, ``fields`` (``--field`` mappings), ``verdict`` and
    ``gate`` are the local audit's settings; ``cache``: the MetaJudge answer cache on each
    node (``True``: its default directory, a path: that directory, ``False``: none).

    Checks run in ``actors`` Ray actors (``num_cpus`` each) through
    :func:`judgeguard.pipeline.run_check`, at most ``concurrency`` in flight per actor and
    at most ``max_in_flight`` in all (the per-actor bound is lowered to fit: a
    self-hosted MetaJudge is never sent more). ``store``: a directory (local, shared or
    ``s3://…``) that keeps finished results as Parquet parts; a rerun with the same
    ``store`` skips the lines it holds. ``keep_values``: also collect every R_rationale
    and reward for the HTML report (one float per line on the driver);
    ``check_timeout``: end a line's check after that many seconds (``--check-timeout``).
    """
    unknown = set(fields or {}) - set(FIELDS)
    if unknown:
        raise AuditError(f"unknown field(s) {sorted(unknown)}; known fields: {list(FIELDS)}")
    if actors < 1 or concurrency < 1:
        raise AuditError("actors and concurrency must be at least 1")
    if max_in_flight is not None:
        if max_in_flight < actors:
            raise AuditError(f"max_in_flight={max_in_flight} is below actors={actors}")
        concurrency = min(concurrency, max_in_flight // actors)
    mj = _metajudge(metajudge)
    cache_dir = cache if isinstance(cache, str) else os.environ.get("JUDGEGUARD_CACHE_DIR")
    spec = _Spec(
        metajudge=mj,
        verdict=verdict,
        fields=dict(fields or {}),
        gate=gate,
        cache=cache is not False,
        cache_dir=cache_dir,
        concurrency=concurrency,
        store=store,
        check_timeout=check_timeout,
    )
    auditor = LineAuditor(_config(spec))
    raw = _raw_lines(ds)
    if store is not None and _open_store(store, _manifest(spec, auditor)):
        done = _read_store(store).select_columns(["uid"])
        raw = raw.join(done, join_type="left_anti", num_partitions=max(2, actors), on=("uid",))
    from ray.data import ActorPoolStrategy

    remote = dict(ray_remote_args or {})
    env = {**_driver_env(), **remote.pop("runtime_env", {}).get("env_vars", {})}
    # Ray Data restarts a lost actor and retries its batch (max_restarts=-1 and
    # max_task_retries=-1 are its defaults for actor pools)
    checked = raw.map_batches(
        _Checker,
        fn_constructor_kwargs={"spec": spec},
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ActorPoolStrategy(size=actors),
        num_cpus=num_cpus,
        runtime_env={"env_vars": env},
        **remote,
    )
    gate_used = dataclasses.asdict(auditor.gate) if mj is not None else None
    model = mj.model if mj is not None else None
    if store is not None:
        count = 0
        for batch in checked.iter_batches(batch_format="pyarrow", batch_size=None):
            count += sum(batch.column("checked").to_pylist())
        results = _read_store(store)
    else:
        results = checked.materialize()
        count = results.count()
    summary = _aggregate(results, model, gate_used, keep_values, partitions=max(2, actors))
    records = results.map_batches(_parse_records, batch_format="pyarrow", num_cpus=0.25)
    return AuditResult(records, summary, store, count)
