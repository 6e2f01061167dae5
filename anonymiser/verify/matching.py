"""Where the leak check's originals occur in output values, and which spans are leaks.

`matches` searches a batch of output values for the originals of a frozen part
(anonymiser.verify.patterns.LeakPatterns) and excludes those masking wrote as it goes;
`resolve` decides which spans whose hash is an original's are occurrences to report, for
`matches` and for the one pass over the output (anonymiser.verify.candidates), so both find
the same occurrences, exclusions and counts.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.hashtable import expand_ranges
from anonymiser.verify.output import as_array
from anonymiser.verify.patterns import COMPOUND, SHORT_NUMBER, LeakPatterns, lowered

__all__ = ["distinct", "find_in", "matches", "produced_distinct", "resolve"]


def matches(
    patterns: LeakPatterns,
    values: pa.Array,
    *,
    every_word: bool = False,
    home: frozenset[int] = frozenset(),
    produced: np.ndarray | None = None,
    search: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, entry, whole value?) arrays of the whole-word occurrences of originals in
    `values` (patterns.source[entry]: whose). A single-word original counts only as a whole
    value, unless `every_word`. In an integer column a short number counts only if it is an
    original of that column itself (`home`: its sources), left in place.

    `produced`: per row, whether masking wrote its value (a pseudonym): the originals equal
    to it, or a word inside it, are excluded (patterns.excluded; LeakPatterns.settle), found
    by the same search as the leaks, so a masked column is read and searched once. The
    occurrences returned may include such originals: drop those excluded once every
    produced value is searched. `search=False`: only exclude (a column not searched).
    """
    empty = np.zeros(0, dtype=np.int64)
    integer = pa.types.is_integer(values.type)
    index = None if patterns.empty else patterns.index
    if integer and not patterns.integers and not home & patterns.short_owners:
        search = False
    if index is None or not (search or produced is not None):
        return empty, empty, np.zeros(0, dtype=bool)
    each, rows = distinct(as_array(values))
    at, found, whole, spans = index.nominate(lowered(each))
    wrote = np.zeros(len(at), dtype=bool)
    if produced is not None:
        wrote = produced_distinct(rows, produced, len(each))[at]
    home_found = np.isin(patterns.source[found], list(home)) if integer else False
    hit = resolve(patterns, found, spans, whole | every_word, search, wrote, integer, home_found)
    at, found, whole = at[hit], found[hit], whole[hit]
    if not len(at):
        return empty, empty, np.zeros(0, dtype=bool)
    # the rows holding each distinct value found: rows sorted by value, a range per value
    order = np.argsort(rows, kind="stable")
    first = np.searchsorted(rows[order], at, side="left")
    last = np.searchsorted(rows[order], at, side="right")
    hit, position = expand_ranges(first, last)
    return order[position], found[hit], whole[hit]


def produced_distinct(rows: np.ndarray, produced: np.ndarray, count: int) -> np.ndarray:
    """Per distinct value (`count` of them; `rows`: the one each row holds, -1 for NULL):
    masking wrote it in some row (`produced`: per row)."""
    made = np.zeros(count + 1, dtype=bool)  # the last: NULL's -1
    made[rows[produced]] = True
    made[-1] = False
    return made[:-1]


def resolve(
    patterns: LeakPatterns,
    found: np.ndarray,
    spans: pa.Array,
    anywhere: np.ndarray | bool,
    search: np.ndarray | bool,
    wrote: np.ndarray,
    integer: np.ndarray | bool,
    home: np.ndarray | bool,
) -> np.ndarray:
    """Which spans whose hash is their entry's (`found`) are occurrences to report: those
    whose text is the entry's original, not yet excluded, searched (`search`) and allowed
    where they are (a single word only if `anywhere`, a whole value or every word; a short
    number in an `integer` column only at `home`, an original of that column). An original
    equal to a span masking wrote (`wrote`) is excluded (patterns.excluded) instead. Each
    argument is per span or one for all."""
    flags = patterns.flags[found]
    keep = anywhere | (flags & COMPOUND).astype(bool)
    keep &= ~(integer & (flags & SHORT_NUMBER).astype(bool)) | home
    # an original already excluded is no leak: neither confirmed nor returned
    left = ~patterns.excluded[found]
    keep &= search & left
    wrote = wrote & left
    ask = keep | wrote
    same = np.zeros(len(found), dtype=bool)
    same[ask] = patterns.confirm(found[ask], spans.filter(pa.array(ask)))
    patterns.excluded[found[same & wrote]] = True  # only ever set: any order, any thread
    hit: np.ndarray = same & keep
    return hit


def distinct(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(each distinct value once, the one each row holds: -1 for NULL): kept columns, fake
    names and redacted text repeat."""
    encoded = pc.dictionary_encode(values)
    indices = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    return encoded.dictionary, indices.astype(np.int64)


def find_in(
    patterns: LeakPatterns, values: pa.Array, *, every_word: bool = False
) -> Iterator[tuple[int, int, bool]]:
    """(row, pattern, whole value?) of each whole-word occurrence of a pattern in `values`."""
    rows, found, whole = matches(patterns, values, every_word=every_word)
    yield from zip(rows.tolist(), found.tolist(), whole.tolist(), strict=True)
