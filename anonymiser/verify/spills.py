"""The leak check's spill files read back: entries a part at a time, produced values once each.

LeakPatterns (anonymiser.verify.patterns) spills every original's hash, anchor, flags and
source to the work directory as it is added, and the values masking wrote with their
hashes; a part's index is built from its entries read back here, and the produced values
stream through it each distinct one once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from anonymiser.verify.output import BATCH_ROWS, as_array

__all__ = ["part_of", "read_entries", "read_produced", "read_split"]


def part_of(hashes: np.ndarray, parts: int) -> np.ndarray:
    """The part of each hash: `parts` equal ranges of its top 32 bits (well mixed; the low
    bits of a polynomial hash are not)."""
    part: np.ndarray = ((hashes >> np.uint64(32)) * np.uint64(parts)) >> np.uint64(32)
    return part


def read_entries(
    spill: pq.ParquetFile | None, part: int = 0, parts: int = 1
) -> Iterator[tuple[np.ndarray, ...]]:
    """(hash, anchor, flags, source, spill row) of the spilled entries of one part, a row
    group (an add) at a time."""
    start = 0
    for group in range(spill.metadata.num_row_groups if spill is not None else 0):
        assert spill is not None
        table = spill.read_row_group(group)
        columns = [as_array(column).to_numpy() for column in table.columns]
        columns.append(np.arange(start, start + table.num_rows, dtype=np.int64))
        start += table.num_rows
        if parts > 1:
            mine = part_of(columns[0], parts) == part
            columns = [column[mine] for column in columns]
        yield tuple(columns)


def read_split(path: Path) -> Iterator[tuple[np.ndarray, ...]]:
    """(hash, anchor, flags, source, spill row) of the entries span_filter split into the
    file of their part (none if the part has none)."""
    if path.exists():
        with pa.OSFile(str(path), "rb") as source, pa.ipc.open_stream(source) as reader:
            for batch in reader:
                yield tuple(as_array(column).to_numpy() for column in batch.columns)


def read_produced(spill: pq.ParquetFile) -> Iterator[pa.Array]:
    """The produced values of the spill, each distinct hash once (a pseudonym repeats across
    batches and columns: a shared namespace, a pool of fake names). Two values of one hash
    would leave the second unsearched: an original inside it stays searched for, which can
    only make the check stricter."""
    hashes = as_array(spill.read(columns=["hash"]).column(0)).to_numpy()
    order = np.argsort(hashes, kind="stable")
    first = np.ones(len(order), dtype=bool)
    first[1:] = hashes[order][1:] != hashes[order][:-1]
    wanted = np.zeros(len(hashes), dtype=bool)
    wanted[order[first]] = True
    del hashes, order, first
    start = 0
    for batch in spill.iter_batches(batch_size=BATCH_ROWS, columns=["text"]):
        yield batch.column(0).filter(pa.array(wanted[start : start + len(batch)]))
        start += len(batch)
