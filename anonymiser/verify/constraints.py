"""Constraint checks in Arrow over the whole output: row counts, foreign keys, unique, NOT NULL.

Only what masking (or a subset) can break is checked: a unique key or NOT NULL over kept
columns only still holds, since the rows are a subset of a consistent source snapshot; every
foreign key is checked, because a subset's referential closure depends on which rows were
selected. Foreign keys follow MATCH SIMPLE: a row with a NULL in any FK column is exempt.
Unique keys whose index has expressions or a predicate are checked on the source server
(anonymiser.verify.server).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from anonymiser.catalog import ForeignKey, Index, Table
from anonymiser.hashtable import hash_order
from anonymiser.keyindex import KeyIndex, hash_rows
from anonymiser.stages.parts import ExtractedTable
from anonymiser.verify.model import CheckResult, VerificationReport
from anonymiser.verify.output import Output, null_mask

__all__ = [
    "batched_duplicates",
    "check_foreign_keys",
    "check_not_null",
    "check_row_counts",
    "check_unique_keys",
    "duplicate_rows",
    "plain_unique_keys",
]


def _file_rows(root: Path, files: list[tuple[str, int]]) -> int | None:
    """Rows in these Parquet files by their metadata; None if one is missing or unreadable."""
    try:
        return int(sum(pq.ParquetFile(root / rel).metadata.num_rows for rel, _ in files))
    except (OSError, pa.ArrowException):
        return None


def check_row_counts(output: Output, report: VerificationReport) -> None:
    """The rows the extract read from each table's COPY are in the extracted and in the
    masked files.

    Three counts: the rows the extract stage counted as the source's COPY stream arrived
    (`ExtractedTable.rows` of the extract, which the mask stage never touches), the extracted
    Parquet files' metadata and the masked Parquet files' metadata.
    """
    for original in output.original.tables:
        item = output.masked_table(original.table.qualified)
        with report.timed(CheckResult("row_count", original.table.qualified)) as result:
            sent = original.rows
            result.checked = sent
            extracted: int | None
            masked: int | None
            if not original.table.copy_columns:  # no data files: the count is the data
                extracted = masked = item.rows if item is not None else 0
            else:
                extracted = _file_rows(output.original.root, original.files)
                masked = _file_rows(output.masked.root, item.files) if item is not None else 0
            counts = [c if c is not None else 0 for c in (extracted, masked)]
            result.failures = max(abs(c - sent) for c in counts)
            if result.failures or None in (extracted, masked):
                result.failures = max(result.failures, 1)
                result.detail = (
                    f"the extract read {sent} rows, the extracted files hold "
                    f"{_shown(extracted)}, the masked files {_shown(masked)}"
                )


def _shown(rows: int | None) -> str:
    return "?" if rows is None else str(rows)


def _data_columns(item: ExtractedTable) -> set[str]:
    return {c.name for c in item.table.copy_columns}


def check_foreign_keys(output: Output, report: VerificationReport) -> None:
    """Every non-NULL foreign key value of every data table exists in its referenced key."""
    # grouped by referenced key, so that one parent's keys are held at a time
    groups: dict[tuple[str, tuple[str, ...]], list[tuple[ExtractedTable, ForeignKey]]] = {}
    for item in output.tables:
        for fk in item.table.foreign_keys:
            groups.setdefault((fk.ref_table, tuple(fk.ref_columns)), []).append((item, fk))
    for group in groups.values():
        parent: KeyIndex | None = None
        for item, fk in group:
            result = CheckResult(
                "foreign_key",
                item.table.qualified,
                ",".join(fk.columns),
                output.strategy(item.table, fk.columns),
            )
            if not set(fk.columns) <= _data_columns(item):
                # a generated column is recomputed at restore: its values are not in the files
                result.detail = f"skipped: {fk.name} is over a generated column"
                report.add(result)
                continue
            with report.timed(result):
                if parent is None:
                    parent = _parent_keys(output, fk)
                _dangling(output, item, fk, parent, result)


def _parent_keys(output: Output, fk: ForeignKey) -> KeyIndex:
    """The index of the referenced key's values (none if the table is not in the snapshot)."""
    parent = output.catalog.tables.get(fk.ref_table)
    paths = output.parts(fk.ref_table) if parent is not None else []
    if not paths:  # every reference dangles
        return KeyIndex([pa.array([], pa.string()) for _ in fk.ref_columns])
    # built once: Arrow's is_in or a join would hash every parent key again for every batch
    keys = output.distinct_rows(paths, fk.ref_columns)
    return KeyIndex([keys[c] for c in fk.ref_columns])


def _dangling(
    output: Output,
    item: ExtractedTable,
    fk: ForeignKey,
    parent: KeyIndex,
    result: CheckResult,
) -> None:
    paths = output.masked_paths(item)
    for batch in output.batches(paths, fk.columns):
        result.checked += batch.num_rows
        exempt = null_mask(batch, fk.columns).true_count  # MATCH SIMPLE
        if batch.num_rows == exempt:
            continue
        # a row with a NULL is in no key set: not found, and not counted as missing
        # (an empty parent's key types may not even be the child's: nothing to look up)
        found = parent.is_in([batch.column(c) for c in fk.columns]).true_count if parent else 0
        result.failures += batch.num_rows - exempt - found
    if result.failures:
        result.detail = (
            f"{fk.name}: rows reference {fk.ref_table}({', '.join(fk.ref_columns)}) "
            "that is not in the snapshot"
        )


def plain_unique_keys(table: Table) -> list[tuple[Index, list[str]]]:
    """Unique indexes (PK and UNIQUE constraints have one each) that Arrow can check.

    Over plain columns, no predicate, and every column's equality bytewise: a key over a
    citext column or one with a nondeterministic collation is compared by the server.
    """
    exact = {c.name for c in table.columns if c.bytewise_equal}
    return [
        (index, [c for c in index.columns if c is not None])
        for index in table.indexes
        if index.unique
        and index.predicate is None
        and all(c is not None and c in exact for c in index.columns)
    ]


def nulls_distinct(index: Index) -> bool:
    return "NULLS NOT DISTINCT" not in index.definition.upper()


def duplicate_rows(table: pa.Table, columns: list[str], *, drop_nulls: bool = True) -> int:
    """Rows beyond the first of each group of equal keys (rows with a NULL key never clash)."""
    if drop_nulls:
        table = table.filter(pc.invert(null_mask(table, columns)))
    if not table.num_rows:
        return 0
    counts = table.group_by(columns).aggregate([([], "count_all")])["count_all"]
    return int(pc.sum(pc.subtract(counts, 1)).as_py() or 0)


def check_unique_keys(output: Output, report: VerificationReport) -> None:
    """Every unique index over plain columns that a masked column is part of still holds."""
    for item in output.tables:
        masked = output.masked_columns(item.table)
        for index, columns in plain_unique_keys(item.table):
            if not masked.keys() & set(columns):
                continue
            result = CheckResult(
                "unique",
                item.table.qualified,
                ",".join(columns),
                output.strategy(item.table, columns),
            )
            with report.timed(result):
                paths = output.masked_paths(item)
                result.checked, result.failures = batched_duplicates(
                    functools.partial(output.batches, paths, columns),
                    columns,
                    drop_nulls=nulls_distinct(index),
                )
                if result.failures:
                    result.detail = f"{index.name}: duplicate values"


def batched_duplicates(
    batches: Callable[[], Iterable[pa.RecordBatch]], columns: list[str], *, drop_nulls: bool
) -> tuple[int, int]:
    """(rows, duplicate_rows) of a table's key columns read in `batches` (called twice at
    most): in 16 bytes a row, not the keys themselves.

    A 64-bit hash of each key and its row number; only rows whose hash repeats can be
    duplicates: those are read again and compared by value (equal keys hash alike).
    """
    hashes: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    start = 0
    for batch in batches():
        keep = (
            ~null_mask(batch, columns).to_numpy(zero_copy_only=False)
            if drop_nulls
            else np.ones(batch.num_rows, dtype=bool)
        )
        hashes.append(hash_rows([batch.column(c) for c in columns])[keep])
        rows.append(np.flatnonzero(keep) + start)
        start += batch.num_rows
    every = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
    order = hash_order(every)
    ordered = every[order]
    repeated = np.zeros(len(every), dtype=bool)
    repeated[1:] = ordered[1:] == ordered[:-1]
    repeated[:-1] |= repeated[1:]
    if not repeated.any():
        return start, 0
    wanted = np.sort(np.concatenate(rows)[order[repeated]])
    start, pieces = 0, []
    for batch in batches():
        first, stop = np.searchsorted(wanted, [start, start + batch.num_rows])
        if stop > first:
            taken = pa.array(wanted[first:stop] - start)
            pieces.append(pa.Table.from_batches([batch]).take(taken))
        start += batch.num_rows
    return start, duplicate_rows(pa.concat_tables(pieces), columns, drop_nulls=drop_nulls)


def check_not_null(output: Output, report: VerificationReport) -> None:
    """No masked column under NOT NULL holds a NULL."""
    for item in output.tables:
        masked = output.masked_columns(item.table)
        for column in item.table.copy_columns:
            if not column.not_null or column.name not in masked:
                continue
            result = CheckResult(
                "not_null", item.table.qualified, column.name, masked[column.name].rule.strategy
            )
            with report.timed(result):
                paths = output.masked_paths(item)
                for batch in output.batches(paths, [column.name]):
                    result.checked += batch.num_rows
                    result.failures += batch.column(0).null_count
                if result.failures:
                    result.detail = "NULLs in a NOT NULL column"
