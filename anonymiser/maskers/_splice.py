"""Text cut around byte spans and joined back with replacements: vectorised in-place edits."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers._vector import string_array

__all__ = ["escaped_bytes", "join_replaced", "real_quotes", "split_at"]

_QUOTE, _BACKSLASH = b'"\\'


def real_quotes(data: np.ndarray, backslashes: np.ndarray | None = None) -> np.ndarray:
    """Positions of the double quotes that no backslash escapes (`backslashes`: their
    positions, when the caller has them already)."""
    quotes = np.flatnonzero(data == _QUOTE)
    if backslashes is None:
        backslashes = np.flatnonzero(data == _BACKSLASH)
    if not len(backslashes):
        return quotes
    return quotes[~np.isin(quotes, escaped_bytes(backslashes, len(data)))]


def escaped_bytes(backslashes: np.ndarray, size: int) -> np.ndarray:
    """Positions of the bytes that the backslashes at `backslashes` escape (below `size`)."""
    # in a run of backslashes the 1st, 3rd, ... escape the byte after them
    run_start = np.maximum.accumulate(
        np.where(np.diff(backslashes, prepend=-2) != 1, backslashes, 0)
    )
    escaped: np.ndarray = backslashes[(backslashes - run_start) % 2 == 0] + 1
    return escaped[escaped < size]


def split_at(
    starts: np.ndarray,
    ends: np.ndarray,
    data: np.ndarray,
    first: np.ndarray,
    end: np.ndarray,
    row: np.ndarray,
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Rows (byte ranges of `data`, back to back) cut around spans [first, end) of `row`.

    Spans are in text order. Gives the pieces (per row: text before its first span, span,
    text between, ..., text after), the piece number of each span, and each row's first piece.
    """
    per_row = np.bincount(row, minlength=len(starts))
    before = np.concatenate(([0], np.cumsum(per_row)))
    slot = row + 1 + 2 * np.arange(len(first))
    bounds = np.empty(len(starts) + 2 * len(first) + 1, dtype=np.int64)
    bounds[np.arange(len(starts)) + 2 * before[:-1]] = starts
    bounds[slot], bounds[slot + 1], bounds[-1] = first, end, ends[-1]
    pieces = string_array(bounds, data, None, pa.string())
    return pieces, slot, np.arange(len(starts) + 1) + 2 * before


def join_replaced(
    pieces: pa.Array,
    slot: np.ndarray,
    rows: np.ndarray,
    replacements: pa.Array,
    source: np.ndarray | None = None,
) -> pa.Array:
    """The rows of split_at joined back, the span at each slot replaced (in order, or by the
    replacement at `source` for each slot: no copy of the replacements to reorder them)."""
    taken = np.arange(len(pieces), dtype=np.int64)
    taken[slot] = len(pieces) + (np.arange(len(slot)) if source is None else source)
    joined = pa.chunked_array([pieces, replacements], pa.string()).combine_chunks()
    joined = joined.take(pa.array(taken))
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(rows, pa.int32()), joined), "")
