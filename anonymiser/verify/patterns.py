"""The originals a leak check looks for: hashed and spilled to disk, indexed a part at a time.

`LeakPatterns` takes the originals of every masked column in any number of threads, then
`freeze` indexes them (all, or one part of them by hash); `matches` (anonymiser.verify.
matching) finds them in a batch of output values. What masking wrote excludes an original
(anonymiser.verify.leaks says why): the values `add_produced` spilled (a json or array
rule's leaves) at `freeze`, and the output's own values in the rows a
`matches(produced=...)` names as it searches them; `settle` then counts what is left. Each
original is spilled to the work directory as its text (read back only to confirm a span
whose hash matched: exactly the matches of an in-memory comparison) and as its hash, column
and flags (read back by anonymiser.verify.spills). Memory: ENTRY_BYTES per original of the
part indexed (a part's originals are read back from the spill at `freeze`), not its text;
the spilled values stream through, each distinct one once (by hash); plus one batch per
thread. `parts` says how many parts a memory budget needs. The leak check itself reads the
output once (anonymiser.verify.candidates: `span_filter` gives it bitmaps of every part's
hashes; `freeze(lookup=True)` a part's index, `resolve` settles spans as `matches`).
"""

from __future__ import annotations

import itertools
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from anonymiser.hashtable import empty_bits, set_bits
from anonymiser.maskers.base import byte_view
from anonymiser.parallel import in_threads
from anonymiser.spanhash import value_hashes
from anonymiser.textsearch import ANCHOR, WordIndex, key_hashes, key_shape
from anonymiser.verify.output import as_array, pg_text
from anonymiser.verify.shapes import compound, json_escaped, json_forms, numbers
from anonymiser.verify.spills import part_of, read_entries, read_produced, read_split

__all__ = [
    "COMPOUND",
    "ENTRY_BYTES",
    "INTEGER",
    "INTEGER_MIN_DIGITS",
    "LONG",
    "REAL",
    "SHORT_NUMBER",
    "LeakPatterns",
    "in_batches",
    "lowered",
    "normalised",
]


def normalised(values: pa.Array, min_length: int) -> pa.Array:
    """Distinct values as text, surrounding whitespace stripped, of at least `min_length`.

    Case is kept: the JSON-escaped forms (LeakPatterns.add) of "É" and "é" differ.
    """
    # bytea compares as PostgreSQL's hex text (\x0aff): a copied value is found in a bytea
    # column and in text that holds it the way PostgreSQL prints it
    text = _trimmed(as_array(pg_text(values)).drop_null())
    long_enough = pc.greater_equal(pc.utf8_length(text), min_length)
    if pc.all(long_enough).as_py() is False:
        text = text.filter(long_enough)
    return as_array(pc.unique(text))


def _trimmed(text: pa.Array) -> pa.Array:
    """Text without surrounding whitespace; most batches have none to trim, and then their
    text is not copied (any byte but printable ASCII at an end counts as maybe whitespace:
    a multi-byte character might be a space)."""
    offsets, data, _ = byte_view(text)
    filled = offsets[1:] > offsets[:-1]
    ends = np.concatenate([data[offsets[:-1][filled]], data[offsets[1:][filled] - 1]])
    if not ((ends <= 0x20) | (ends >= 0x7F)).any():
        return text
    return as_array(pc.utf8_trim_whitespace(text))


# entry flags: a checked original; not one word; a short number (not searched in integers);
# a number long enough to be searched in integers; longer than ANCHOR (its anchor counts)
REAL, COMPOUND, SHORT_NUMBER, INTEGER = np.uint8(1), np.uint8(2), np.uint8(4), np.uint8(8)
LONG = np.uint8(16)
# an integer column of a big table counts through every number (ids pass 1,000,000 at a few
# million rows), so it equals every 7-digit identifier somewhere: a number shorter than this
# in an integer column cannot be told from a coincidence (phone, NHS and card numbers are
# at least this long)
INTEGER_MIN_DIGITS = 10
_SPILL = pa.schema([("text", pa.string())])
_PRODUCED = pa.schema([("text", pa.string()), ("hash", pa.uint64())])
_ENTRIES = pa.schema(
    [("hash", pa.uint64()), ("anchor", pa.uint64()), ("flags", pa.uint8()), ("source", pa.int32())]
)
_SPLIT = _ENTRIES.append(pa.field("row", pa.int64()))  # and the entry's row in the spills
# bytes held per entry of a part while it is indexed and searched (its hash, anchor, flags,
# source and spill row, the sort, the HashTable, its ids and bitmap, drop's copy): measured
# ~100 at 1M and 3M demo rows (docs/performance-history.md, "Leak check in parts")
ENTRY_BYTES = 100


class LeakPatterns:
    """The originals searched for, each labelled with the masked column it came from.

    An entry is one distinct value of one batch of one masked column (so a value repeated
    across batches has several entries). Entries go to spill files in `folder` (text; hash,
    column and flags); in memory only those of the part frozen last, and the index over
    their hashes. `add` may run in several threads at once; then, per part, `freeze`, then
    `matches` (in threads too), then `settle` if a `matches` excluded originals. Entry
    numbers (`matches`' entries; `flags`, `source`, `excluded`) are the part's; `entry`
    maps them to the spills' rows.
    """

    def __init__(self, folder: Path | None = None) -> None:
        self._temp = None if folder is not None else tempfile.TemporaryDirectory()
        self.folder = folder if folder is not None else Path(self._temp.name)  # type: ignore[union-attr]
        self.sources: list[tuple[str, str, str]] = []  # table, column, rule
        self._counts: list[int] | None = None  # distinct originals checked per source
        self.source: np.ndarray = np.zeros(0, dtype=np.int32)  # per entry
        self.flags: np.ndarray = np.zeros(0, dtype=np.uint8)  # per entry
        self.excluded: np.ndarray = np.zeros(0, dtype=bool)  # per entry: masking wrote it
        self.entry: np.ndarray = np.zeros(0, dtype=np.int64)  # per entry: its spills' row
        self._ids: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()
        # of every entry: which short lengths occur; the longest
        self._short = np.zeros(ANCHOR + 1, dtype=bool)
        self._tokens = empty_bits()  # the first-word hashes' bitmap
        self._longest = 0
        self._entries = 0
        self._spills: dict[str, pq.ParquetWriter] = {}
        self._split = 1  # the parts span_filter split the entries into
        self._index: WordIndex | None = None
        self.integers = False  # whether an original left could be in an integer column
        self.short_owners: frozenset[int] = frozenset()  # sources with short numbers left

    @property
    def empty(self) -> bool:
        return self._index is None

    def register(self, source: tuple[str, str, str]) -> int:
        """The id of this source (masked column), registered on first use."""
        with self._lock:
            if source not in self._ids:
                self._ids[source] = len(self.sources)
                self.sources.append(source)
            return self._ids[source]

    def add(self, source: tuple[str, str, str], originals: pa.Array) -> None:
        """Search for each of `originals` (lower-cased), and for its JSON-escaped forms."""
        owner = self.register(source)
        values = as_array(originals).cast(pa.string())
        # only values with a quote, a backslash or a non-printable or non-ASCII character
        # have other forms inside a JSON document ("zo\u00eb", "line\nbreak")
        odd = values.filter(pa.array(json_escaped(values)))
        escaped = sorted({form for value in odd.to_pylist() for form in json_forms(value)})
        flags = np.full(len(values) + len(escaped), REAL, dtype=np.uint8)
        flags[len(values) :] = 0  # the escaped forms are searched, not counted as checked
        if escaped:
            values = pa.concat_arrays([values, pa.array(escaped, pa.string())])
        lowered = as_array(pc.utf8_lower(values))
        if not len(lowered):
            return
        flags |= np.where(compound(lowered), COMPOUND, np.uint8(0))
        short_number, number = numbers(lowered, INTEGER_MIN_DIGITS)
        flags |= np.where(short_number, SHORT_NUMBER, np.uint8(0))
        flags |= np.where(number & ~short_number, INTEGER, np.uint8(0))
        full, anchor, lengths, token = key_hashes(lowered)
        flags |= np.where(lengths > ANCHOR, LONG, np.uint8(0))
        owners = np.full(len(lowered), owner, dtype=np.int32)
        entries = pa.table([full, anchor, flags, owners], schema=_ENTRIES)
        # every entry's row in the spills is its number: write and count under one lock
        with self._lock:
            self._spill("originals").write_table(pa.table([lowered], schema=_SPILL))
            self._spill("entries", _ENTRIES).write_table(entries)
            self._entries += len(lowered)
            _, short, longest = key_shape(anchor, lengths)
            self._short |= short
            set_bits(self._tokens, token)
            self._longest = max(self._longest, longest)

    def add_produced(self, values: pa.Array) -> None:
        """Values masking wrote: an original equal to one, or a word inside one, is dropped."""
        values = as_array(values).drop_null()
        if len(values):
            text = lowered(values)
            # hashed here, in the caller's thread: freeze searches each distinct value once
            table = pa.table([text, pa.array(value_hashes(text))], schema=_PRODUCED)
            with self._lock:
                self._spill("produced", _PRODUCED).write_table(table)

    def _spill(self, name: str, schema: pa.Schema = _SPILL) -> pq.ParquetWriter:
        if name not in self._spills:
            path = self.folder / f"{name}.parquet"
            # read back by row number only: no dictionary or statistics to compute
            self._spills[name] = pq.ParquetWriter(
                path, schema, compression="lz4", use_dictionary=False, write_statistics=False
            )
        return self._spills[name]

    def _close(self, name: str) -> pq.ParquetFile | None:
        writer = self._spills.pop(name, None)
        if writer is not None:
            writer.close()
        path = self.folder / f"{name}.parquet"
        return pq.ParquetFile(path) if path.exists() else None

    def close(self) -> None:
        """Close the spill files without searching (there is nothing to look for)."""
        for name in list(self._spills):
            spill = self._close(name)
            if spill is not None:
                spill.close()

    @property
    def entries(self) -> int:
        """The entries added (of every part)."""
        return self._entries

    @property
    def index(self) -> WordIndex:
        """The index of the part frozen last (`freeze` first, and not `empty`)."""
        assert self._index is not None
        return self._index

    def span_filter(self, parts: int = 1) -> tuple[WordIndex, bool, frozenset[int]]:
        """(a filter of every entry's spans, whether any entry may be searched in integer
        columns, the sources with short numbers) of every part, from one reading of the
        entries' spill: bitmaps of their hashes and anchors (WordIndex.from_bits; about 2
        bytes an entry, 128 MiB at most). The entries are split into a file per part
        (of `parts`) on the way: `freeze` then reads only its part's."""
        self._close("originals")
        spill = self._close("entries")
        full, anchors = empty_bits(self._entries), empty_bits(self._entries)
        integers, short = False, set()
        writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        for hashes, anchor, flags, source, rows in read_entries(spill):
            set_bits(full, hashes)
            set_bits(anchors, anchor[(flags & LONG).astype(bool)])
            integers |= bool((flags & INTEGER).any())
            short.update(np.unique(source[(flags & SHORT_NUMBER).astype(bool)]).tolist())
            part = part_of(hashes, parts) if parts > 1 else np.zeros(0, dtype=np.uint64)
            for number in np.unique(part).tolist():
                mine = part == number
                columns = [a[mine] for a in (hashes, anchor, flags, source, rows)]
                if number not in writers:
                    sink = pa.OSFile(str(self._split_path(number)), "wb")
                    writers[number] = pa.ipc.new_stream(sink, _SPLIT)
                writers[number].write_batch(pa.record_batch(columns, schema=_SPLIT))
        for writer in writers.values():
            writer.close()
        self._split = parts
        if spill is not None:
            spill.close()
        found = WordIndex.from_bits((full, anchors, self._tokens), self._short, self._longest)
        return found, integers, frozenset(short)

    def _split_path(self, part: int) -> Path:
        return self.folder / f"entries-{part}.arrow"

    def parts(self, budget: int) -> int:
        """Into how many parts (by hash) the entries go for each part's index and search to
        hold about `budget` bytes at most (1 while they fit)."""
        return max(1, -(-self._entries * ENTRY_BYTES // budget))

    def freeze(
        self,
        produced: pa.Array | None = None,
        jobs: int = 1,
        part: int = 0,
        parts: int = 1,
        lookup: bool = False,
    ) -> None:
        """Index the originals of one `part` of `parts` (by hash; every one by default); drop
        those equal to, or a word inside, a value given or spilled by add_produced (searched
        in `jobs` threads). The entries, flags and `excluded` are then the part's: an
        original's occurrences and exclusions all fall in its part (equal originals have
        equal hashes), so each part is searched and settled on its own. `lookup`: an index
        only to look hashes up in (WordIndex.lookup), the produced values left to the
        caller (anonymiser.verify.candidates), which settles."""
        if produced is not None:
            self.add_produced(normalised(produced, 1))
        self._close("originals")
        spill = self._close("entries")
        self._index, self._counts = None, None
        if parts > 1 and self._split == parts:  # read only the part's own entries
            groups = read_split(self._split_path(part))
        else:
            groups = read_entries(spill, part, parts)
        full, anchors, self.flags, self.source, self.entry = _part(groups)
        if spill is not None:
            spill.close()
        self.excluded = np.zeros(len(full), dtype=bool)
        if not len(full):
            return
        if lookup:
            anchors = anchors[:0]  # only `nominate` needs them
        self._index = WordIndex.from_hashes(full, anchors, self._short, self._longest, self._tokens)
        del full, anchors
        if lookup:
            return
        index = self._index

        def exclude(values: pa.Array) -> None:
            _, found, _, spans = index.nominate(values)
            new = ~self.excluded[found]  # found by an earlier batch already: no need to confirm
            found, spans = found[new], spans.filter(pa.array(new))
            self.excluded[found[self.confirm(found, spans)]] = True  # only set: any order

        in_batches(exclude, self.produced_values(), jobs)
        self.settle()

    def produced_values(self) -> Iterator[pa.Array]:
        """The values add_produced spilled (as searched), each distinct hash once, a batch
        at a time (see read_produced)."""
        made = self._close("produced")
        return read_produced(made) if made is not None else iter(())

    def settle(self) -> None:
        """Stop searching for the originals excluded so far (by freeze, or by `matches` of
        values masking wrote) and count the rest."""
        if self._index is None:
            return
        self._index.drop(np.flatnonzero(self.excluded))
        kept = ~self.excluded
        # integer columns hold only "-?[0-9]+": searched only if such an original is left
        self.integers = bool((kept & (self.flags & INTEGER).astype(bool)).any())
        # short numbers are searched in integer columns only in their own column
        short = kept & (self.flags & SHORT_NUMBER).astype(bool)
        self.short_owners = frozenset(np.unique(self.source[short]).tolist())
        self._counts = None  # counted when asked: the exclusions may not be over

    @property
    def counts(self) -> list[int]:
        """Per source: the distinct originals checked (not excluded), as settled last."""
        if self._counts is None:
            if self._index is None:
                self._counts = [0] * len(self.sources)
            else:
                kept = ~self.excluded
                self._counts = self._index.distinct_per_owner(
                    (self.flags & REAL).astype(bool) & kept, self.source, len(self.sources)
                )
        return self._counts

    def confirm(self, entry: np.ndarray, spans: pa.Array) -> np.ndarray:
        """Whether each span's text is its entry's original (read back from the spill)."""
        same = np.zeros(len(entry), dtype=bool)
        if not len(entry):
            return same
        with pq.ParquetFile(self.folder / "originals.parquet") as spill:
            row = self.entry[entry]
            order = np.argsort(row, kind="stable")
            wanted = row[order]
            start = 0
            for group in range(spill.metadata.num_row_groups):
                stop = start + spill.metadata.row_group(group).num_rows
                first, last = np.searchsorted(wanted, [start, stop])
                if last > first:
                    texts = spill.read_row_group(group).column(0).combine_chunks()
                    at = order[first:last]
                    kept = texts.take(pa.array(wanted[first:last] - start))
                    equal = pc.equal(kept, spans.take(pa.array(at)))
                    same[at] = pc.fill_null(equal, False).to_numpy(zero_copy_only=False)
                start = stop
        return same


def in_batches(func: Callable[[pa.Array], None], batches: Iterator[pa.Array], jobs: int) -> None:
    """func(batch) of every batch, in `jobs` threads, `jobs` batches held at a time."""
    while group := list(itertools.islice(batches, max(1, jobs))):  # a batch per thread
        in_threads(func, group, jobs)


def _part(
    groups: Iterator[tuple[np.ndarray, ...]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(hash, anchors of the long ones, flags, source, spill row) of the entries of one part,
    from its groups of (hash, anchor, flags, source, spill row)."""
    chosen = [
        (full, anchor[(flags & LONG).astype(bool)], flags, source, rows)
        for full, anchor, flags, source, rows in groups
    ]
    if not chosen:
        empty = np.zeros(0, dtype=np.uint64)
        return empty, empty, np.zeros(0, np.uint8), np.zeros(0, np.int32), np.zeros(0, np.int64)
    full, anchors, flags, source, rows = (np.concatenate(c) for c in zip(*chosen, strict=True))
    return full, anchors, flags, source, rows


def lowered(values: pa.Array) -> pa.Array:
    """Values as searched: PostgreSQL's text (bytea as hex), lower case, a whole value but
    for surrounding whitespace (originals are stripped too)."""
    return as_array(pc.utf8_lower(_trimmed(pg_text(values))))
