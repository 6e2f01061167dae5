"""The leak check's one pass over the output: spans that may be originals, spilled by part.

Originals too many for one index are split by hash into parts (anonymiser.verify.leaks);
searching the whole output once per part would read, lower-case and hash all its text once
per part. Instead the output is read once: each batch's spans are filtered by bitmaps of
every original's hashes (LeakPatterns.span_filter: a fixed size, a few percent of false
positives), and what passes is spilled to the work directory, a file per part (by the
span's hash: an original's occurrences fall in its own part). Each part then reads its own
candidates back, looks them up in its index and settles them as `matches` would have
(anonymiser.verify.matching.resolve): the same occurrences, exclusions and counts. Memory:
the bitmaps, one batch per thread, and CHUNK candidates of a part at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from anonymiser.textsearch import WordIndex
from anonymiser.verify.matching import distinct, produced_distinct, resolve
from anonymiser.verify.output import as_array
from anonymiser.verify.patterns import LeakPatterns, in_batches, lowered
from anonymiser.verify.spills import part_of

log = logging.getLogger(__name__)

__all__ = ["CHUNK", "Candidates", "Column", "Occurrences"]

CHUNK = 1 << 18  # candidates of a part resolved at once (~50 bytes each)
_SCHEMA = pa.schema(
    [
        ("batch", pa.int32()),  # Candidates.batches
        ("at", pa.int32()),  # the distinct value of the batch holding the span
        ("rows", pa.int32()),  # the batch's rows holding that value
        ("whole", pa.bool_()),  # the span is the whole value
        ("wrote", pa.bool_()),  # masking wrote that value in some row
        ("hash", pa.uint64()),
        ("span", pa.string()),
    ]
)

_PRODUCED = pa.schema([("hash", pa.uint64()), ("span", pa.string())])


@dataclass(frozen=True)
class Column:
    """A searched column of a data table, as the leak check sees it."""

    label: str  # "table.column"
    integer: bool  # an integer column: short numbers count only at home
    search: bool  # searched for leaks (else only read for what masking wrote)
    home: frozenset[int]  # the sources (masked columns) that are this column itself


# per occurrence of a part (not yet filtered by what the part excluded after it): batch
# (Candidates.batches), entry of the part, distinct value of the batch, rows holding it
Occurrences = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class Candidates:
    """The candidate spans of the whole output, spilled by part into `folder`.

    `add` (in any number of threads) every batch of every searched column, then per part,
    after LeakPatterns.freeze of that part: `resolve`.
    """

    def __init__(self, patterns: LeakPatterns, folder: Path, parts: int) -> None:
        self.patterns, self.folder, self.parts = patterns, folder, parts
        self._filter: WordIndex | None
        self._filter, self._integers, self._short = patterns.span_filter(parts)
        self.columns: list[Column] = []
        self._column_ids: dict[Column, int] = {}
        self.batches: list[tuple[int, str, int]] = []  # column, part file, first row
        self._writers: dict[tuple[str, int], pa.ipc.RecordBatchStreamWriter] = {}
        self._lock = threading.Lock()

    def add(
        self, column: Column, rel: str, start: int, values: pa.Array, produced: np.ndarray | None
    ) -> None:
        """Spill the candidate spans of one batch of a column (`produced`: per row, whether
        masking wrote its value; None: none)."""
        search = column.search and not (
            column.integer and not self._integers and not column.home & self._short
        )
        if not (search or produced is not None):
            return  # no part searches it, and it excludes nothing
        assert self._filter is not None, "add after finish"
        each, rows = distinct(as_array(values))
        at, hashes, whole, spans = self._filter.spans(lowered(each))
        wrote = np.zeros(len(at), dtype=bool)
        if produced is not None:
            wrote = produced_distinct(rows, produced, len(each))[at]
        if not search:  # only what masking wrote can matter
            at, hashes, whole = at[wrote], hashes[wrote], whole[wrote]
            spans, wrote = spans.filter(pa.array(wrote)), wrote[wrote]
        if not len(at):
            return
        counts = np.bincount(rows[rows >= 0], minlength=len(each))[at]
        with self._lock:
            if column not in self._column_ids:
                self._column_ids[column] = len(self.columns)
                self.columns.append(column)
            batch = len(self.batches)
            self.batches.append((self._column_ids[column], rel, start))
        table = pa.table(
            [np.full(len(at), batch, np.int32), at, counts, whole, wrote, hashes, spans],
            schema=_SCHEMA,
        )
        self._spill("candidates", table, hashes)

    def add_produced(self, jobs: int = 1) -> None:
        """Spill the candidate spans of the values masking wrote inside others (a json or
        array rule's: LeakPatterns.add_produced), read once: each part's are its
        exclusions, as LeakPatterns.freeze would have searched them."""

        def one(values: pa.Array) -> None:
            assert self._filter is not None, "add_produced after finish"
            _, hashes, _, spans = self._filter.spans(values)
            table = pa.table([hashes, spans], schema=_PRODUCED)
            self._spill("produced", table, hashes)

        in_batches(one, self.patterns.produced_values(), jobs)

    def _spill(self, kind: str, table: pa.Table, hashes: np.ndarray) -> None:
        """Write each row of `table` to the file of its hash's part."""
        if not len(table):
            return  # (and its hashes may be of another type then)
        part = part_of(hashes, self.parts)
        for number in np.unique(part).tolist():
            mine = table.filter(pa.array(part == number)) if self.parts > 1 else table
            with self._lock:
                if (kind, number) not in self._writers:
                    sink = pa.OSFile(str(self._path(kind, number)), "wb")
                    options = pa.ipc.IpcWriteOptions(compression="lz4")
                    writer = pa.ipc.new_stream(sink, table.schema, options=options)
                    self._writers[(kind, number)] = writer
                self._writers[(kind, number)].write_table(mine)

    def _path(self, kind: str, part: int) -> Path:
        return self.folder / f"{kind}-{part}.arrow"

    def finish(self) -> None:
        """End the pass over the output: close the spills, free the filter."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        self._filter = None

    def resolve(self, part: int) -> Occurrences:
        """The occurrences in the output of the originals of `part` (frozen with `lookup`,
        after `finish`): first what masking wrote inside others is excluded and the part
        settled, as LeakPatterns.freeze does; then the output's spans, excluding those
        masking wrote as `matches` would. The part's files are removed."""
        assert self._filter is None, "resolve after finish"
        for chunk in self._chunks("produced", part):
            self._exclude(chunk)
        self.patterns.settle()
        found = [self._resolve(chunk) for chunk in self._chunks("candidates", part)]
        if not found:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty, empty
        batch, entry, at, rows = (np.concatenate(c) for c in zip(*found, strict=True))
        return batch, entry, at, rows

    def _chunks(self, kind: str, part: int) -> Iterator[pa.Table]:
        """A part's spilled rows of one kind, about CHUNK at a time (none if the part has no
        originals); the file is removed."""
        path = self._path(kind, part)
        if not path.exists():
            return
        if not self.patterns.empty:
            log.debug("leak check, part %d: %d bytes of %s", part, path.stat().st_size, kind)
            with pa.OSFile(str(path), "rb") as source, pa.ipc.open_stream(source) as reader:
                pending: list[pa.RecordBatch] = []
                size = 0
                for batch in reader:
                    pending.append(batch)
                    size += batch.num_rows
                    if size >= CHUNK:
                        yield pa.Table.from_batches(pending).combine_chunks()
                        pending, size = [], 0
                if pending:
                    yield pa.Table.from_batches(pending).combine_chunks()
        path.unlink()

    def _exclude(self, chunk: pa.Table) -> None:
        """Exclude the originals equal to a span of what masking wrote inside others."""
        which, found = self.patterns.index.lookup(as_array(chunk.column("hash")).to_numpy())
        spans = as_array(chunk.column("span")).take(pa.array(which))
        wrote = np.ones(len(found), dtype=bool)
        resolve(self.patterns, found, spans, False, False, wrote, False, False)

    def _resolve(self, chunk: pa.Table) -> Occurrences:
        patterns = self.patterns
        hashes = as_array(chunk.column("hash")).to_numpy()
        which, found = patterns.index.lookup(hashes)
        batch = as_array(chunk.column("batch")).to_numpy()[which]
        # per column of the output: its shape, and whether this part searches it at all
        owners = patterns.short_owners
        integer = np.array([c.integer for c in self.columns], dtype=bool)
        search = np.array(
            [
                c.search and not (c.integer and not patterns.integers and not c.home & owners)
                for c in self.columns
            ],
            dtype=bool,
        )
        home = np.zeros((len(self.columns), len(patterns.sources)), dtype=bool)
        for number, column in enumerate(self.columns):
            home[number, list(column.home)] = True
        with self._lock:
            col = np.array([number for number, _, _ in self.batches], dtype=np.int64)[batch]
        source = patterns.source[found]
        whole = as_array(chunk.column("whole")).to_numpy(zero_copy_only=False)[which]
        wrote = as_array(chunk.column("wrote")).to_numpy(zero_copy_only=False)[which]
        spans = as_array(chunk.column("span")).take(pa.array(which))
        hit = resolve(
            patterns, found, spans, whole, search[col], wrote, integer[col], home[col, source]
        )
        at = as_array(chunk.column("at")).to_numpy()[which]
        rows = as_array(chunk.column("rows")).to_numpy()[which]
        return batch[hit], found[hit], at[hit], rows[hit]
