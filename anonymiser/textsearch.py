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

The keys' hashes are looked up in a HashTable (a directory of their top bits: two reads and
a short scan, where a binary search through 10M hashes is ~24 reads out of cache). The span
hashes (prefix_sums, span_hashes, value_hashes) and the HashTable also serve free-text
scrubbing's known values (anonymiser.maskers._known): this module belongs to neither stage.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers.base import byte_view

__all__ = [
    "HashTable",
    "WordIndex",
    "empty_bits",
    "expand_ranges",
    "hash_order",
    "hashed_chunks",
    "key_hashes",
    "key_shape",
    "prefix_sums",
    "set_bits",
    "sorted_unique",
    "span_hashes",
    "value_hashes",
]

ANCHOR = 24  # bytes: keys up to this long are matched directly; longer ones by their prefix
CHUNK_BYTES = 1 << 18  # text hashed at once (the prefix-sum arrays are 8 bytes per byte)
_U64 = np.uint64
_BASE = secrets.randbits(62) * 2 + 1  # odd, so invertible mod 2**64; per process
_INVERSE = pow(_BASE, -1, 1 << 64)
# a bitmap of hash prefixes filters candidates before the lookup: 8 MiB, or 16 bits a hash
# when there are more than 4M (a fuller one lets more through), up to 128 MiB
_BITMAP_BITS, _MOST_BITMAP_BITS = 26, 30


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


def _powers(base: int, count: int) -> np.ndarray:
    out = np.full(count, base, dtype=np.uint64)
    out[0] = 1
    return np.cumprod(out)  # wraps mod 2**64, as intended


@functools.lru_cache(maxsize=4)
def _sized_tables(size: int) -> tuple[np.ndarray, np.ndarray]:
    return _powers(_BASE, size), _powers(_INVERSE, size)


def _power_tables(length: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE**i and BASE**-i for i <= length (cached by power-of-two size: few sizes)."""
    return _sized_tables(1 << max(10, length.bit_length()))


def prefix_sums(data: np.ndarray) -> np.ndarray:
    """F[i] = sum of (byte j + 1) * BASE**j for j < i, mod 2**64."""
    power, _ = _power_tables(len(data))
    out = np.zeros(len(data) + 1, dtype=np.uint64)
    terms = data.astype(np.uint64)
    terms += _U64(1)  # in place: one temporary the size of the text, not three
    terms *= power[: len(data)]
    np.cumsum(terms, out=out[1:])
    return out


def span_hashes(sums: np.ndarray, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The hash of data[begin:end] for each pair: position-free, mixed with the length."""
    _, inverse = _power_tables(len(sums) - 1)
    h: np.ndarray = (sums[end] - sums[begin]) * inverse[begin]
    h ^= (end - begin).astype(np.uint64) * _U64(0x9E3779B97F4A7C15)
    h ^= h >> _U64(31)
    h *= _U64(0xBF58476D1CE4E5B9)
    h ^= h >> _U64(29)
    return h


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique(values) for integers: a sort and a compare (NumPy 2's hashing unique is
    ten times slower on millions of values)."""
    ordered = np.sort(values)
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    out: np.ndarray = ordered[first]
    return out


def hash_order(hashes: np.ndarray) -> np.ndarray:
    """np.argsort(hashes) but for the order of equal hashes, 3x faster on millions: a radix
    pass on the top bits (uniform: the hashes are mixed), then a small sort per bucket,
    which stays in the CPU's cache."""
    if len(hashes) < _BUCKETED:
        return np.argsort(hashes)
    top = (hashes >> _U64(64 - _BUCKET_BITS)).astype(np.uint16)
    order: np.ndarray = np.argsort(top, kind="stable")  # a radix sort for 16-bit keys
    ordered = hashes[order]
    edges = np.searchsorted(top[order], np.arange(1 << _BUCKET_BITS, dtype=np.uint16))
    for first, stop in zip(edges.tolist(), [*edges[1:].tolist(), len(hashes)], strict=True):
        if stop - first > 1:
            order[first:stop] = order[first:stop][np.argsort(ordered[first:stop])]
    return order


_BUCKET_BITS = 12
_BUCKETED = 1 << 19  # hashes worth sorting by bucket (fewer: 4096 buckets cost more)


def expand_ranges(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, position) for every position in [first[i], last[i]) of every i."""
    counts = np.maximum(last - first, 0)
    owner = np.repeat(np.arange(len(first)), counts)
    starts = np.cumsum(counts) - counts
    return owner, first[owner] + (np.arange(int(counts.sum())) - starts[owner])


class HashTable:
    """Sorted 64-bit hashes with a directory of their top bits: the hashes equal to a
    looked-up one are found with two reads of the directory and a scan of its bucket (about
    one hash long), not a binary search (~24 reads out of cache among 10M hashes).

    The hashes must be sorted (sort them with hash_order, keeping the order to map a slot
    back to what it hashes); equal hashes may repeat. Memory: the hashes, plus 4 bytes per
    hash (at most 2**_DIRECTORY_BITS entries) for the directory.
    """

    def __init__(self, ordered: np.ndarray) -> None:
        self.hashes = ordered
        # a bucket per one or two hashes: a power of two, and no more than the hashes
        bits = min(_DIRECTORY_BITS, max(1, len(ordered).bit_length() - 1))
        self._shift = _U64(64 - bits)
        counts = np.bincount((ordered >> self._shift).astype(np.intp), minlength=1 << bits)
        small = len(ordered) < np.iinfo(np.int32).max  # 4 bytes an entry where they suffice
        self._directory = np.zeros(len(counts) + 1, dtype=np.int32 if small else np.int64)
        np.cumsum(counts, out=self._directory[1:])

    def __len__(self) -> int:
        return len(self.hashes)

    def find(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(which of `hashes`, slot in the sorted hashes) of every equal pair, by `hashes`
        then by slot (as np.searchsorted's runs of equal hashes would give them)."""
        bucket = (hashes >> self._shift).astype(np.intp)
        owner, slot = expand_ranges(self._directory[bucket], self._directory[bucket + 1])
        equal = self.hashes[slot] == hashes[owner]
        return owner[equal], slot[equal]


_DIRECTORY_BITS = 24  # a directory of at most 16M entries (64 MiB)


def _slices(data: np.ndarray, begin: np.ndarray, end: np.ndarray) -> pa.Array:
    """data[begin[i]:end[i]] of each i, as a text array."""
    lengths = end - begin
    _, at = expand_ranges(begin, end)
    offsets = np.zeros(len(begin) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data[at]))]
    return pa.Array.from_buffers(pa.string(), len(begin), buffers)


def _chunks(offsets: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges [first, stop) holding about CHUNK_BYTES of text each (at least one row)."""
    out = []
    first, count = 0, len(offsets) - 1
    while first < count:
        stop = int(np.searchsorted(offsets, offsets[first] + CHUNK_BYTES, side="right")) - 1
        stop = min(max(stop, first + 1), count)
        out.append((first, stop))
        first = stop
    return out


def _bits(hashes: np.ndarray) -> np.ndarray:
    """A bitmap of the top bits of each hash, sized to them: a cheap first membership test."""
    return set_bits(empty_bits(len(hashes)), hashes)


def empty_bits(count: int | None = None) -> np.ndarray:
    """A bitmap of no hash, for `count` hashes (None: any number; 8 MiB)."""
    bits = _BITMAP_BITS
    if count is not None:
        bits = min(_MOST_BITMAP_BITS, max(bits, count.bit_length() + 4))
    return np.zeros(1 << (bits - 3), dtype=np.uint8)


def _bitmap_shift(bitmap: np.ndarray) -> np.uint64:
    """64 - log2 of the bitmap's bits: the shift that leaves a hash's bit number."""
    return _U64(64 + 1 - (len(bitmap) * 8).bit_length())


def set_bits(bitmap: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Add hashes to a bitmap of _bits (in place; returned)."""
    slot = hashes >> _bitmap_shift(bitmap)
    byte = (slot >> _U64(3)).astype(np.intp)
    bit = (slot & _U64(7)).astype(np.uint8)
    for number in range(8):  # one bit at a time: repeated bytes then all write the same value
        at = byte[bit == number]
        bitmap[at] |= np.uint8(1 << number)
    return bitmap


def _present(bitmap: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """False where a hash is surely not in the bitmap's set."""
    slot = (hashes >> _bitmap_shift(bitmap)).astype(np.int64)
    present: np.ndarray = (bitmap[slot >> 3] >> (slot & 7).astype(np.uint8)) & 1 == 1
    return present


def key_hashes(keys: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(hash, anchor hash, byte length, first-word hash) of each key: all WordIndex needs to
    nominate matches.

    The anchor is the hash of a key's first ANCHOR bytes (0 where the key is not longer);
    the first word runs up to the first character after the first that is not
    alphanumeric (the whole key if none is): a span of text can only be the key where the
    text's first word from there is the same.
    """
    offsets, data = _text_bytes(keys)
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


def value_hashes(values: pa.Array) -> np.ndarray:
    """The hash of each whole value (key_hashes' first; null as empty; binary by its bytes)."""
    offsets, data = _text_bytes(values)
    full = np.zeros(len(offsets) - 1, dtype=np.uint64)
    for first, stop, _, sums, starts, ends in hashed_chunks(offsets, data):
        full[first:stop] = span_hashes(sums, starts, ends)
    return full


def _text_bytes(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    if pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type):
        filled = pc.fill_null(values, b"")  # bytes need not be UTF-8: no text cast
    else:
        filled = pc.fill_null(values.cast(pa.string()), "")
    offsets, data, _ = byte_view(filled)
    return offsets, data


def hashed_chunks(
    offsets: np.ndarray, data: np.ndarray
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(first, stop, text, prefix sums, starts, ends) of values [first, stop) at a time, about
    CHUNK_BYTES of text each; starts and ends are positions in that chunk's text."""
    for first, stop in _chunks(offsets):
        local = offsets[first : stop + 1]
        text = data[local[0] : local[-1]]
        yield first, stop, text, prefix_sums(text), local[:-1] - local[0], local[1:] - local[0]


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
        self._build(len(lengths), full[usable], usable, *shape, _bits(token[usable]))

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
        self._bitmap = _bits(self._table.hashes)
        self._short = short
        self._shortest = int(np.argmax(short)) if short.any() else ANCHOR + 1
        self._anchors: HashTable | None = HashTable(sorted_unique(anchors))
        self._anchor_bits = _bits(self._anchors.hashes)

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
            for first, stop in [] if short else _chunks(offsets):
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
        begin = begin[_present(self._token_bits, span_hashes(sums, begin, ends[rank[begin]]))]
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
            maybe = _present(self._anchor_bits, prefix)
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
        keep = _present(self._bitmap, hashes)
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
