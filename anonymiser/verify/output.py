"""The snapshot output as the checks see it: each table's Parquet parts, original and masked.

The mask stage writes the same files, in the same row order, as the extract stage; so
row i of a masked part is row i of the extracted part with the same relative path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from anonymiser.catalog import Catalog, Table
from anonymiser.pg.types import binary_to_pg_hex
from anonymiser.rules.lint import ColumnPlan, MaskPlan
from anonymiser.stages.extract import Extracted
from anonymiser.stages.parts import ExtractedTable

__all__ = ["BATCH_ROWS", "Output", "as_array", "null_mask", "pg_text"]

BATCH_ROWS = 64 * 1024


def as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def pg_text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Values as PostgreSQL writes them as text: bytea as hex (\\x0aff), the rest cast."""
    array = as_array(values)
    if pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type):
        return binary_to_pg_hex(array).cast(pa.string())
    return array.cast(pa.string())


@dataclass
class Output:
    """The extract stage's files (originals) and the mask stage's (what would be published)."""

    original: Extracted
    masked: Extracted
    plan: MaskPlan | None = None  # None: an unmasked snapshot

    @property
    def catalog(self) -> Catalog:
        return self.masked.catalog

    @property
    def tables(self) -> list[ExtractedTable]:
        return self.masked.tables

    def masked_table(self, qualified: str) -> ExtractedTable | None:
        """The mask stage's entry of a data table (None if it lost the table)."""
        return next((i for i in self.masked.tables if i.table.qualified == qualified), None)

    def rules(self, table: Table) -> dict[str, ColumnPlan]:
        return self.plan.for_table(table.qualified) if self.plan is not None else {}

    def masked_columns(self, table: Table) -> dict[str, ColumnPlan]:
        return {name: p for name, p in self.rules(table).items() if p.masks}

    def strategy(self, table: Table, columns: list[str]) -> str:
        """The strategies of these columns, as blamed in a report ("keep" when none masks)."""
        rules = self.rules(table)
        found = sorted({rules[c].rule.strategy for c in columns if c in rules and rules[c].masks})
        return "+".join(found) if found else "keep"

    def parts(self, qualified: str, *, masked: bool = True) -> list[Path]:
        """Every part file holding rows of `qualified`, its partitions' too (recursively)."""
        source = self.masked if masked else self.original
        wanted = {qualified}
        grew = True
        while grew:  # partitions of partitions
            more = {
                t.qualified
                for t in self.catalog.tables.values()
                if t.parent in wanted and t.qualified not in wanted
            }
            grew = bool(more)
            wanted |= more
        return [
            source.root / rel
            for item in source.tables
            if item.table.qualified in wanted
            for rel, _ in item.files
        ]

    def masked_paths(self, item: ExtractedTable) -> list[Path]:
        """The mask stage's part files of one data table."""
        return [self.masked.root / rel for rel, _ in item.files]

    def batches(self, paths: list[Path], columns: list[str]) -> Iterator[pa.RecordBatch]:
        for path in paths:
            yield from pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=columns)

    def part_batches(
        self, item: ExtractedTable, columns: list[str]
    ) -> Iterator[tuple[str, int, pa.RecordBatch]]:
        """(part, first row, batch) of the mask stage's files of one data table."""
        for rel, _ in item.files:
            start = 0
            for batch in self.batches([self.masked.root / rel], columns):
                yield rel, start, batch
                start += batch.num_rows

    def paired_parts(
        self, item: ExtractedTable, columns: list[str]
    ) -> Iterator[tuple[str, Iterator[tuple[pa.RecordBatch, pa.RecordBatch]]]]:
        """(part, its (original, masked) batches of the same rows) of one data table.

        A part whose row count changed is skipped: rows no longer pair up, and the row-count
        check reports it.
        """
        for rel, _ in item.files:
            before = pq.ParquetFile(self.original.root / rel)
            after = pq.ParquetFile(self.masked.root / rel)
            if before.metadata.num_rows != after.metadata.num_rows:
                continue
            yield (
                rel,
                zip(
                    before.iter_batches(batch_size=BATCH_ROWS, columns=columns),
                    after.iter_batches(batch_size=BATCH_ROWS, columns=columns),
                    strict=True,
                ),
            )

    def paired_batches(
        self, item: ExtractedTable, columns: list[str]
    ) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch]]:
        """(original, masked) batches of the same rows of one data table (paired_parts')."""
        for _, pairs in self.paired_parts(item, columns):
            yield from pairs

    def distinct_rows(self, paths: list[Path], columns: list[str]) -> pa.Table:
        """Distinct tuples of `columns` with no NULL in them, over `paths`."""
        pieces = [
            pa.Table.from_batches([batch]).drop_null().group_by(columns).aggregate([])
            for batch in self.batches(paths, columns)
        ]
        if not pieces:
            return pa.table({c: pa.array([], pa.string()) for c in columns})
        return pa.concat_tables(pieces).group_by(columns).aggregate([])


def null_mask(batch: pa.RecordBatch | pa.Table, columns: list[str]) -> pa.Array:
    """True where any of `columns` is NULL."""
    masks = [pc.is_null(batch.column(c)) for c in columns]
    out = masks[0]
    for more in masks[1:]:
        out = pc.or_(out, more)
    return as_array(out)
