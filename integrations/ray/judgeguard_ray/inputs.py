"""The audit's inputs on Ray Data: JSONL and Parquet files (paths, directories, globs, any
filesystem pyarrow supports) read as numbered raw lines, in parallel chunks."""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from judgeguard.audit import AuditError

__all__ = [
    "JSONL_SUFFIXES",
    "PARQUET_SUFFIXES",
    "RAW_COLUMNS",
    "RAW_MARK",
    "read_judgments",
    "row_uid",
]

#: The attribute that marks a dataset of :func:`read_judgments` (its schema is known
#: without running it)
RAW_MARK = "_judgeguard_raw_lines"
#: The columns of a dataset of raw lines (what :func:`read_judgments` returns).
RAW_COLUMNS = ("uid", "source", "line", "pos", "raw")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonlines")
PARQUET_SUFFIXES = (".parquet", ".pq")
#: a line's position: the input file's index in the upper bits, its line number below
_LINE_BITS = 40
_GLOB = set("*?[")


def row_uid(source: str, line: int | None, raw: bytes) -> str:
    """A line's stable id in a result store: its file, its line number and its bytes (an
    edited line is audited again)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(source.encode("utf-8", "surrogatepass"))
    h.update(b"\0" + str(line).encode() + b"\0")
    h.update(raw)
    return h.hexdigest()


def _filesystem(path: str) -> tuple[Any, str]:
    """The pyarrow filesystem of ``path`` and the path within it (local paths absolute)."""
    from pyarrow import fs

    if "://" in path:
        filesystem, inner = fs.FileSystem.from_uri(path)
        return filesystem, str(inner)
    return fs.LocalFileSystem(), os.path.abspath(os.path.expanduser(path))


def _source(path: str, inner: str) -> str:
    """The name a file is reopened by in a task: its URI (or absolute local path)."""
    if "://" in path:
        scheme = path.split("://", 1)[0]
        return f"{scheme}://{inner}"
    return inner


def _known(name: str) -> bool:
    return name.lower().endswith(JSONL_SUFFIXES + PARQUET_SUFFIXES)


def expand_paths(paths: Sequence[str]) -> list[tuple[str, int]]:
    """The files behind ``paths`` (files, directories, globs), each as (source, size), in
    the order given (a directory's or a glob's files sorted). Raises
    :class:`judgeguard.audit.AuditError` for a path that names nothing."""
    from pyarrow import fs

    out: list[tuple[str, int]] = []
    for path in paths:
        filesystem, inner = _filesystem(path)
        if _GLOB & set(inner):
            cut = min(inner.index(c) for c in _GLOB if c in inner)
            base = inner[:cut].rsplit("/", 1)[0] or "/"
            try:
                infos = filesystem.get_file_info(fs.FileSelector(base, recursive=True))
            except (OSError, FileNotFoundError) as exc:
                raise AuditError(f"{path}: cannot list {base} ({exc})") from exc
            found = sorted(
                (i.path, i.size)
                for i in infos
                if i.type == fs.FileType.File and fnmatch.fnmatchcase(i.path, inner)
            )
            if not found:
                raise AuditError(f"{path}: no file matches")
        else:
            info = filesystem.get_file_info(inner)
            if info.type == fs.FileType.NotFound:
                raise AuditError(f"no such file or directory: {path}")
            if info.type == fs.FileType.Directory:
                infos = filesystem.get_file_info(fs.FileSelector(inner, recursive=True))
                found = sorted(
                    (i.path, i.size)
                    for i in infos
                    if i.type == fs.FileType.File
                    and _known(i.base_name)
                    and not i.base_name.startswith((".", "_"))
                )
                if not found:
                    raise AuditError(
                        f"{path}: no JSONL or Parquet file in this directory "
                        f"({', '.join(JSONL_SUFFIXES + PARQUET_SUFFIXES)})"
                    )
            else:
                found = [(info.path, info.size)]
        out.extend((_source(path, p), int(size or 0)) for p, size in found)
    return out


@dataclass(frozen=True)
class _Chunk:
    """A byte range of a JSONL file (or a row group of a Parquet file) one task reads."""

    source: str
    index: int  # the file's position in the inputs
    start: int  # JSONL: first byte; Parquet: row group
    end: int  # JSONL: end byte (exclusive); Parquet: the row group's first row
    first_line: int = 1  # JSONL: newlines before ``start`` + 1 (filled in after counting)
    parquet: bool = False


def _count_newlines(source: str, start: int, end: int) -> int:
    filesystem, inner = _filesystem(source)
    count = 0
    with filesystem.open_input_file(inner) as f:
        f.seek(start)
        left = end - start
        while left > 0:
            block = f.read(min(left, 1 << 22))
            if not block:
                break
            count += block.count(b"\n")
            left -= len(block)
    return count


def _chunks(files: list[tuple[str, int]], chunk_bytes: int) -> list[_Chunk]:
    """The read tasks: JSONL files cut into ``chunk_bytes`` ranges whose first line numbers
    come from a parallel newline count; Parquet files by row group."""
    import ray

    chunks: list[_Chunk] = []
    counted: list[tuple[int, Any]] = []
    count = ray.remote(num_cpus=0.25)(_count_newlines)
    for index, (source, size) in enumerate(files):
        if source.lower().endswith(PARQUET_SUFFIXES):
            import pyarrow.parquet as pq

            filesystem, inner = _filesystem(source)
            with filesystem.open_input_file(inner) as f:
                meta = pq.ParquetFile(f).metadata
            first = 0
            for group in range(meta.num_row_groups):
                chunks.append(_Chunk(source, index, group, first, parquet=True))
                first += meta.row_group(group).num_rows
            continue
        starts = list(range(0, max(size, 1), chunk_bytes))
        for k, start in enumerate(starts):
            end = min(start + chunk_bytes, size)
            chunks.append(_Chunk(source, index, start, end))
            if k < len(starts) - 1:  # the last range's count is never needed
                counted.append((len(chunks) - 1, count.remote(source, start, end)))
    counts = ray.get([ref for _, ref in counted]) if counted else []
    newlines = dict(zip((i for i, _ in counted), counts, strict=True))
    done: list[_Chunk] = []
    before: dict[int, int] = {}
    for i, chunk in enumerate(chunks):
        if chunk.parquet:
            done.append(chunk)
            continue
        seen = before.get(chunk.index, 0)
        done.append(_Chunk(chunk.source, chunk.index, chunk.start, chunk.end, first_line=seen + 1))
        before[chunk.index] = seen + newlines.get(i, 0)
    return done


def _jsonl_lines(chunk: _Chunk) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines that start in the chunk's byte range, with their numbers."""
    filesystem, inner = _filesystem(chunk.source)
    with filesystem.open_input_file(inner) as f:
        number = chunk.first_line
        start = chunk.start
        if start > 0:
            f.seek(start - 1)
            if f.read(1) != b"\n":  # the range starts inside a line: its owner reads it
                f.seek(start)
                skipped = _read_line(f)
                start += len(skipped)
                if skipped.endswith(b"\n"):
                    number += 1
        f.seek(start)
        offset = start
        buffered = f.read(max(chunk.end - start, 0))
        while offset < chunk.end:
            nl = buffered.find(b"\n", offset - start)
            if nl < 0:  # the last line runs past the range
                tail = buffered[offset - start :] + _read_line(f)
                if tail.strip():
                    yield number, tail
                return
            raw = buffered[offset - start : nl + 1]
            if raw.strip():
                yield number, raw
            number += 1
            offset = start + nl + 1


def _read_line(f: Any) -> bytes:
    """The rest of the current line (with its newline, if any)."""
    parts = []
    while True:
        block = f.read(1 << 16)
        if not block:
            break
        nl = block.find(b"\n")
        if nl >= 0:
            parts.append(block[: nl + 1])
            break
        parts.append(block)
    return b"".join(parts)


def _parquet_rows(chunk: _Chunk) -> Iterator[tuple[int, bytes]]:
    """The rows of one row group as JSON lines, numbered from 1 within their file."""
    import pyarrow.parquet as pq

    filesystem, inner = _filesystem(chunk.source)
    with filesystem.open_input_file(inner) as f:
        table = pq.ParquetFile(f).read_row_group(chunk.start)
    for i, record in enumerate(table.to_pylist()):
        record = {k: v for k, v in record.items() if v is not None}
        yield chunk.end + i + 1, json.dumps(record, default=str).encode()


def _read(batch: dict[str, Any]) -> Iterator[Any]:
    """The read task: each chunk's lines as a block of raw lines."""
    for item in batch["chunk"]:
        chunk: _Chunk = item if isinstance(item, _Chunk) else _Chunk(**item)
        rows = _parquet_rows(chunk) if chunk.parquet else _jsonl_lines(chunk)
        table = _raw_table(chunk.source, chunk.index, rows)
        if table.num_rows:
            yield table


def _raw_table(source: str, index: int, rows: Iterable[tuple[int, bytes]]) -> Any:
    import pyarrow as pa

    lines: list[int] = []
    raws: list[bytes] = []
    for number, raw in rows:
        lines.append(number)
        raws.append(raw)
    return pa.table(
        {
            "uid": pa.array(
                [row_uid(source, n, r) for n, r in zip(lines, raws, strict=True)], pa.string()
            ),
            "source": pa.array([source] * len(lines), pa.string()),
            "line": pa.array(lines, pa.int64()),
            "pos": pa.array([(index << _LINE_BITS) + n for n in lines], pa.int64()),
            "raw": pa.array(raws, pa.binary()),
        }
    )


def read_judgments(
    paths: str | Sequence[str], *, chunk_bytes: int = 1 << 20, limit: int | None = None
) -> Any:
    """A ``ray.data.Dataset`` of the raw lines of JSONL and Parquet files (paths,
    directories, globs, ``s3://…`` or any filesystem pyarrow supports), one row per
    non-blank line: ``uid``, ``source``, ``line`` (1-based, as the local audit numbers
    them), ``pos`` (input order) and ``raw`` (the line's bytes; a Parquet row as JSON).

    JSONL files are read in ``chunk_bytes`` ranges by parallel tasks; Parquet files by
    row group. ``limit``: only the first N lines (as ``--limit``)."""
    import ray

    if isinstance(paths, str):
        paths = [paths]
    files = expand_paths(list(paths))
    chunks = _chunks(files, max(int(chunk_bytes), 1))
    items = [{"chunk": dataclasses.asdict(c)} for c in chunks]
    ds = ray.data.from_items(items, override_num_blocks=max(len(items), 1))
    ds = ds.map_batches(_read, batch_size=1, batch_format="numpy", num_cpus=0.25)
    if limit is not None:
        ds = ds.limit(limit)
    setattr(ds, RAW_MARK, True)
    return ds
