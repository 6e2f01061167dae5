"""Whole-word search of many text keys inside Arrow text values, vectorised with NumPy.

The leak check looks for millions of originals (emails, codes, whole notes) inside every
text value of the output, at word boundaries: an occurrence starts at the start of a value
or after a character that is not alphanumeric, and ends at the end of a value or before
one. A trie (Aho-Corasick) over millions of keys costs a node per character to build and
holds gigabytes; here nothing is built per character. Every (begin, end) pair of boundaries
of a value is a candidate, and a candidate is a hit when the substring's polynomial hash
(prefix sums, mod 2**64) is the hash of a key of that length, confirmed byte by byte. To
bound the pairs per value, only pairs up to ANCHOR bytes long are enumerated for every
begin; a longer pair is tried only where the first ANCHOR bytes are the prefix of a longer
key. Python sees only hits. Memory: the keys and their hashes, plus a few arrays the size of
CHUNK_BYTES of text.

The keys' hashes are looked up in a HashTable (anonymiser.hashtable), the spans' hashed
from prefix sums (anonymiser.spanhash); both also serve free-text scrubbing's known values
(anonymiser.maskers._known).
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.hashtable import (
    HashTable,
    bitmap_of,
    expand_ranges,
    hash_order,
    in_bitmap,
    sorted_unique,
)
from anonymiser.maskers.base import byte_view
from anonymiser.spanhash import hashed_chunks, prefix_sums, span_hashes, text_bytes, text_chunks

__all__ = ["WordIndex", "key_hashes", "key_shape"]

ANCHOR = 24  # bytes: keys up to this long are matched directly; longer ones by their prefix


@functools.lru_cache(maxsize=1)
def _alnum_table() -> np.ndarray:
    """str.isalnum() of every code point (what the word boundary means)."""
    return np.fromiter((chr(c).isalnum() for c in range(0x110000)), dtype=bool, count=0x110000)


def _alnum_bytes(data: np.ndarray) -> np.ndarray:
    """Per byte: whether the character it belongs to is alphanumeric (UTF-8)."""
    # ASCII letters and digits by arithmetic on the bytes (a table lookup per byte is 7x
    # slower): a letter's byte with bit 0x20 set is a-z
    letter = data | np.uint8(0x20)
    letter -= np.uint8(ord("a"))
    flags: np.ndarray = letter < 26
    digit = data - np.uint8(ord("0"))
    flags |= digit < 10
    if not len(data) or int(data.max()) < 0x80:
        return flags
    flags &= data < 0x80  # every byte of a longer character False so far
    # decode only the characters beyond ASCII (a chunk of text has a few: names, quotes)
    starts = np.flatnonzero(data >= 0xC0)
    lead = data[starts].astype(np.uint32)
    size = 2 + (lead >= 0xE0) + (lead >= 0xF0)
    point = lead & (0x7F >> size)
    for extra in range(1, 4):
        longer = size > extra
        point[longer] = (point[longer] << 6) | (data[starts[longer] + extra] & 0x3F)
    alnum = _alnum_table()[np.minimum(point, 0x10FFFF)]
    for extra in range(4):
        within = alnum & (size > extra)
        flags[starts[within] + extra] = True
    return flags


def _slices(data: np.ndarray, begin: np.ndarray, end: np.ndarray) -> pa.Array:
    """data[begin[i]:end[i]] of each i, as a text array."""
    lengths = end - begin
    _, at = expand_ranges(begin, end)
    offsets = np.zeros(len(begin) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data[at]))]
    return pa.Array.from_buffers(pa.string(), len(begin), buffers)


def key_hashes(keys: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(hash, anchor hash, byte length, first-word hash) of each key: all WordIndex needs to
    nominate matches.

    The anchor is the hash of a key's first ANCHOR bytes (0 where the key is not longer);
    the first word runs up to the first character after the first that is not
    alphanumeric (the whole key if none is): a span of text can only be the key where the
    text's first word from there is the same.
    """
    offsets, data = text_bytes(keys)
    lengths = np.diff(offsets)
    full = np.zeros(len(lengths), dtype=np.uint64)
    anchor = np.zeros(len(lengths), dtype=np.uint64)
    token = np.zeros(len(lengths), dtype=np.uint64)
    for first, stop, text, sums, starts, ends in hashed_chunks(offsets, data):
        full[first:stop] = span_hashes(sums, starts, ends)
        longer = ends - starts > ANCHOR
        anchor[first:stop][longer] = span_hashes(sums, starts[longer], starts[longer] + ANCHOR)
        breaks = np.append(np.flatnonzero(_word_breaks(text)), len(text))  # and a sentinel
        word_end = np.minimum(breaks[np.searchsorted(breaks, starts, side="right")], ends)
        token[first:stop] = span_hashes(sums, starts, word_end)
    return full, anchor, lengths, token


def _word_breaks(data: np.ndarray) -> np.ndarray:
    """Per byte: a character that is not alphanumeric starts here (where a word ends)."""
    breaks: np.ndarray = ((data & 0xC0) != 0x80) & ~_alnum_bytes(data)
    return breaks


def key_shape(anchor: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(anchors of the keys longer than ANCHOR, which lengths up to ANCHOR occur, the longest)
    of keys by their key_hashes."""
    short = np.zeros(ANCHOR + 1, dtype=bool)
    short[lengths[lengths <= ANCHOR]] = True
    short[0] = False
    return anchor[lengths > ANCHOR], short, int(lengths.max()) if len(lengths) else 0


class WordIndex:
    """Keys (lower-cased text, any length) to find as whole words inside text values.

    Built from the keys themselves (`find` confirms every match byte by byte), or only from
    their key_hashes (`from_hashes`: a few bytes per key; `nominate` returns candidate spans,
    for the caller to compare with the keys wherever it keeps them), or only from bitmaps of
    their hashes (`from_bits`: a fixed size whatever the keys; `spans` returns the spans
    that may be a key, with their hashes, for the caller to `lookup` in indexes of the keys
    built later, a part at a time).
    """

    def __init__(self, keys: pa.Array) -> None:
        keys = pc.fill_null(keys.cast(pa.string()), "")
        offsets, data, _ = byte_view(keys)
        self._key_offsets: np.ndarray | None = offsets - offsets[0]
        self._key_data = data[offsets[0] : offsets[-1]]
        full, anchor, lengths, token = key_hashes(keys)
        usable = np.flatnonzero(lengths > 0)
        shape = key_shape(anchor, lengths)
        self._build(len(lengths), full[usable], usable, *shape, bitmap_of(token[usable]))

    @classmethod
    def from_hashes(
        cls,
        full: np.ndarray,
        anchors: np.ndarray,
        short: np.ndarray,
        max_length: int,
        tokens: np.ndarray,
    ) -> WordIndex:
        """An index of non-empty keys known by their hashes (key_hashes, key_shape) only;
        `tokens`: the bitmap (set_bits) of their first-word hashes."""
        index = cls.__new__(cls)
        index._key_offsets, index._key_data = None, np.zeros(0, dtype=np.uint8)
        ids = np.arange(len(full), dtype=np.int64)
        index._build(len(full), full, ids, anchors, short, max_length, tokens)
        return index

    @classmethod
    def from_bits(
        cls, bits: tuple[np.ndarray, np.ndarray, np.ndarray], short: np.ndarray, max_length: int
    ) -> WordIndex:
        """A filter for keys known by `bits`: bitmaps (empty_bits, set_bits) of their hashes,
        of the anchors of those longer than ANCHOR and of their first words; and by
        key_shape's `short` and longest: it finds no key, only the spans that may be one
        (`spans`)."""
        index = cls.__new__(cls)
        index._key_offsets, index._key_data = None, np.zeros(0, dtype=np.uint8)
        index._count, index.max_length, index._short = 0, max_length, short
        index._shortest = int(np.argmax(short)) if short.any() else ANCHOR + 1
        index._bitmap, index._anchor_bits, index._token_bits = bits
        index._table, index._anchors = None, None
        return index

    def _build(
        self,
        count: int,
        full: np.ndarray,
        ids: np.ndarray,
        anchors: np.ndarray,
        short: np.ndarray,
        max_length: int,
        tokens: np.ndarray,
    ) -> None:
        self._count, self.max_length = count, max_length
        self._token_bits = tokens
        order = hash_order(full)  # the order of equal hashes does not matter
        self._table: HashTable | None = HashTable(full[order])
        self._ids = ids[order]
        self._bitmap = bitmap_of(self._table.hashes)
        self._short = short
        self._shortest = int(np.argmax(short)) if short.any() else ANCHOR + 1
        self._anchors: HashTable | None = HashTable(sorted_unique(anchors))
        self._anchor_bits = bitmap_of(self._anchors.hashes)

    @property
    def table(self) -> HashTable:
        """The keys' hashes (not of a `from_bits` filter)."""
        assert self._table is not None
        return self._table

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(which of `hashes`, key) of every key of that hash: the keys of a filter's `spans`."""
        owner, slot = self.table.find(hashes)
        return owner, self._ids[slot]

    def drop(self, keys: np.ndarray) -> None:
        """Stop finding these keys (indexes into the keys given)."""
        if not len(keys):
            return  # the table unchanged, not copied
        gone = np.zeros(self._count, dtype=bool)
        gone[keys] = True
        kept = ~gone[self._ids]
        self._table, self._ids = HashTable(self.table.hashes[kept]), self._ids[kept]
        # their bits and anchors stay: those only nominate spans, the full hashes decide

    def distinct_per_owner(self, chosen: np.ndarray, owner: np.ndarray, owners: int) -> list[int]:
        """Per owner: how many distinct key hashes of the `chosen` keys it has (keys not
        dropped; `owner` and `chosen` are indexed by key)."""
        ids = self._ids[chosen[self._ids]]
        hashes, mine = self.table.hashes[chosen[self._ids]], owner[ids]
        # equal hashes are neighbours (sorted): only runs of them need their owners sorted
        same = np.zeros(len(hashes) + 1, dtype=bool)
        same[1:-1] = hashes[1:] == hashes[:-1]
        repeated = same[:-1] | same[1:]
        counts = np.bincount(mine[~repeated], minlength=owners)
        if repeated.any():
            run = np.cumsum(~same[:-1])[repeated]  # a number per run of equal hashes
            pairs = sorted_unique(run.astype(np.int64) * owners + mine[repeated])
            counts += np.bincount(pairs % owners, minlength=owners)
        return [int(count) for count in counts]

    def find(self, values: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, key, whole value?) arrays of every whole-word occurrence of a key in `values`
        (lower-case them first: matching is bytewise)."""
        rows, key, whole, _ = self._search(values, confirm=True)
        return rows, key, whole

    def spans(self, values: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array]:
        """(row, hash, whole value?, span text) of every whole-word span of `values` that a
        `from_bits` filter lets through: those of a key's hash, and a few others."""
        return self._search(values, confirm=False)

    def nominate(self, values: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array]:
        """(row, key, whole value?, span text) of every whole-word span of `values` whose hash
        is a key's: an occurrence only where the span text equals the key (compare them)."""
        return self._search(values, confirm=False)

    def _search(
        self, values: pa.Array, confirm: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array]:
        out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        spans: list[pa.Array] = []
        empty = np.zeros(0, dtype=np.int64)
        keys = len(self._table) if self._table is not None else self.max_length
        if keys and len(values):
            text = pc.fill_null(values.cast(pa.string()), "")
            offsets, data, _ = byte_view(text)
            # values all shorter than every key hold none (codes, flags, small numbers)
            short = len(offsets) < 2 or int(np.diff(offsets).max()) < self._shortest
            for first, stop in [] if short else text_chunks(offsets):
                chunk = offsets[first : stop + 1]
                begin, end, key = self._find_chunk(chunk, data)
                if confirm:
                    same = self._same_bytes(data, begin, end, key)
                    begin, end, key = begin[same], end[same], key[same]
                else:
                    spans.append(_slices(data, begin, end))
                rows = np.searchsorted(chunk, begin, side="right") - 1
                whole = (begin == chunk[rows]) & (end == chunk[rows + 1])
                out.append((rows + first, key, whole))
        if not out:
            return empty, empty, np.zeros(0, dtype=bool), pa.array([], pa.string())
        rows, key, whole = (np.concatenate(parts) for parts in zip(*out, strict=True))
        found = pa.concat_arrays(spans) if spans else pa.array([], pa.string())
        return rows, key, whole, found

    def _find_chunk(
        self, offsets: np.ndarray, all_data: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(begin, end, key) of the spans of these rows whose hash is a key's; positions
        in `all_data`."""
        base = int(offsets[0])
        data = all_data[base : offsets[-1]]
        offsets = offsets - base
        size = len(data)
        alnum = _alnum_bytes(data)
        char_start = (data & 0xC0) != 0x80
        begins_at = np.zeros(size, dtype=bool)
        begins_at[1:] = char_start[1:] & ~alnum[:-1]
        begins_at[offsets[:-1][offsets[:-1] < size]] = True
        ends_at = np.zeros(size + 1, dtype=bool)  # a non-alphanumeric character starts here
        ends_at[:size] = char_start & ~alnum
        ends_at[offsets] = True
        ends = np.flatnonzero(ends_at)
        rank = np.cumsum(ends_at)  # rank[x]: ends at or before x (index of the next end)
        sums = prefix_sums(data)
        begin = np.flatnonzero(begins_at)
        # only where the first word is some key's first word (most words are no key's)
        begin = begin[in_bitmap(self._token_bits, span_hashes(sums, begin, ends[rank[begin]]))]
        row_end = offsets[np.searchsorted(offsets, begin, side="right")]
        # pairs up to ANCHOR bytes: every end after each begin, within its row
        limit = np.minimum(begin + min(ANCHOR, self.max_length), row_end)
        owner, end = expand_ranges(rank[begin], rank[limit])
        end = ends[end]
        pair_begin = begin[owner]
        short = self._short[end - pair_begin]
        pair_begin, end = pair_begin[short], end[short]
        # longer pairs only where the first ANCHOR bytes start some longer key
        if self._anchors is None or len(self._anchors):
            room = begin[begin + ANCHOR <= row_end]
            prefix = span_hashes(sums, room, room + ANCHOR)
            maybe = in_bitmap(self._anchor_bits, prefix)
            room, prefix = room[maybe], prefix[maybe]
            # a filter has only the anchors' bitmap: a few more longer pairs than a key's
            anchored = room if self._anchors is None else room[self._anchors.find(prefix)[0]]
            if len(anchored):
                row_stop = offsets[np.searchsorted(offsets, anchored, side="right")]
                limit = np.minimum(anchored + self.max_length, row_stop)
                owner, more = expand_ranges(rank[anchored + ANCHOR], rank[limit])
                pair_begin = np.concatenate([pair_begin, anchored[owner]])
                end = np.concatenate([end, ends[more]])
        hashes = span_hashes(sums, pair_begin, end)
        keep = in_bitmap(self._bitmap, hashes)
        pair_begin, end, hashes = pair_begin[keep], end[keep], hashes[keep]
        if self._table is None:  # a filter: the spans and their hashes
            return pair_begin + base, end + base, hashes
        owner, slot = self._table.find(hashes)
        return pair_begin[owner] + base, end[owner] + base, self._ids[slot]

    def _same_bytes(
        self, data: np.ndarray, begin: np.ndarray, end: np.ndarray, key: np.ndarray
    ) -> np.ndarray:
        """Whether data[begin:end] equals each key (hashes only nominate candidates)."""
        assert self._key_offsets is not None  # built from the keys
        length = end - begin
        same: np.ndarray = length == np.diff(self._key_offsets)[key]
        owner, at = expand_ranges(begin, np.where(same, end, begin))
        if not len(owner):
            return same
        step = at - begin[owner]
        differ = data[at] != self._key_data[self._key_offsets[key[owner]] + step]
        bad = np.bincount(owner[differ], minlength=len(begin)) > 0
        confirmed: np.ndarray = same & ~bad
        return confirmed
