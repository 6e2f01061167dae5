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
"""

from __future__ import annotations

import functools
import secrets

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers.base import byte_view

__all__ = ["WordIndex", "expand_ranges", "sorted_unique"]

ANCHOR = 24  # bytes: keys up to this long are matched directly; longer ones by their prefix
CHUNK_BYTES = 1 << 20  # text hashed at once (the prefix-sum arrays are 8 bytes per byte)
_U64 = np.uint64
_BASE = secrets.randbits(62) * 2 + 1  # odd, so invertible mod 2**64; per process
_INVERSE = pow(_BASE, -1, 1 << 64)
_BITMAP_BITS = 26  # a 8 MiB bitmap of hash prefixes filters candidates before the lookup


@functools.lru_cache(maxsize=1)
def _alnum_table() -> np.ndarray:
    """str.isalnum() of every code point (what the word boundary means)."""
    return np.fromiter((chr(c).isalnum() for c in range(0x110000)), dtype=bool, count=0x110000)


_ASCII_ALNUM = np.array([chr(c).isalnum() for c in range(128)] + [False] * 128, dtype=bool)


def _alnum_bytes(data: np.ndarray) -> np.ndarray:
    """Per byte: whether the character it belongs to is alphanumeric (UTF-8)."""
    if not len(data) or int(data.max()) < 0x80:
        ascii_flags: np.ndarray = _ASCII_ALNUM[data]
        return ascii_flags
    starts = np.flatnonzero((data & 0xC0) != 0x80)
    lead = data[starts].astype(np.uint32)
    size = 1 + (lead >= 0xC0) + (lead >= 0xE0) + (lead >= 0xF0)
    point = np.where(size == 1, lead, lead & (0x7F >> size))
    for extra in range(1, 4):
        longer = size > extra
        point[longer] = (point[longer] << 6) | (data[starts[longer] + extra] & 0x3F)
    return np.repeat(_alnum_table()[np.minimum(point, 0x10FFFF)], size)


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


def _prefix_sums(data: np.ndarray) -> np.ndarray:
    """F[i] = sum of (byte j + 1) * BASE**j for j < i, mod 2**64."""
    power, _ = _power_tables(len(data))
    out = np.zeros(len(data) + 1, dtype=np.uint64)
    np.cumsum((data.astype(np.uint64) + _U64(1)) * power[: len(data)], out=out[1:])
    return out


def _hashes(sums: np.ndarray, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
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


def expand_ranges(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, position) for every position in [first[i], last[i]) of every i."""
    counts = np.maximum(last - first, 0)
    owner = np.repeat(np.arange(len(first)), counts)
    starts = np.cumsum(counts) - counts
    return owner, first[owner] + (np.arange(int(counts.sum())) - starts[owner])


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
    """A bitmap of the top _BITMAP_BITS bits of each hash: a cheap first membership test."""
    bitmap = np.zeros(1 << (_BITMAP_BITS - 3), dtype=np.uint8)
    slot = (hashes >> _U64(64 - _BITMAP_BITS)).astype(np.int64)
    np.bitwise_or.at(bitmap, slot >> 3, (1 << (slot & 7)).astype(np.uint8))
    return bitmap


def _present(bitmap: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """False where a hash is surely not in the bitmap's set."""
    slot = (hashes >> _U64(64 - _BITMAP_BITS)).astype(np.int64)
    present: np.ndarray = (bitmap[slot >> 3] >> (slot & 7).astype(np.uint8)) & 1 == 1
    return present


class WordIndex:
    """Keys (lower-cased text, any length) to find as whole words inside text values."""

    def __init__(self, keys: pa.Array) -> None:
        keys = pc.fill_null(keys.cast(pa.string()), "")
        offsets, data, _ = byte_view(keys)
        self._key_offsets = offsets - offsets[0]
        self._key_data = data[offsets[0] : offsets[-1]]
        lengths = np.diff(self._key_offsets)
        self.max_length = int(lengths.max()) if len(lengths) else 0
        usable = np.flatnonzero(lengths > 0)
        full = np.zeros(len(lengths), dtype=np.uint64)
        anchors: list[np.ndarray] = []
        for first, stop in _chunks(self._key_offsets):
            local = self._key_offsets[first : stop + 1]
            sums = _prefix_sums(self._key_data[local[0] : local[-1]])
            starts, ends = local[:-1] - local[0], local[1:] - local[0]
            full[first:stop] = _hashes(sums, starts, ends)
            longer = ends - starts > ANCHOR
            anchors.append(_hashes(sums, starts[longer], starts[longer] + ANCHOR))
        order = np.argsort(full[usable], kind="stable")
        self._hashes = full[usable][order]
        self._ids = usable[order]
        self._bitmap = _bits(self._hashes)
        self._short = np.zeros(ANCHOR + 1, dtype=bool)
        self._short[lengths[lengths <= ANCHOR]] = True
        self._short[0] = False
        self._anchors = sorted_unique(np.concatenate(anchors)) if anchors else full[:0]
        self._anchor_bits = _bits(self._anchors)

    def drop(self, keys: np.ndarray) -> None:
        """Stop finding these keys (indexes into the keys given)."""
        gone = np.zeros(len(self._key_offsets) - 1, dtype=bool)
        gone[keys] = True
        kept = ~gone[self._ids]
        self._hashes, self._ids = self._hashes[kept], self._ids[kept]
        self._bitmap = _bits(self._hashes)
        # their anchors stay: an anchor only nominates spans, the full hashes decide

    def find(self, values: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, key, whole value?) arrays of every whole-word occurrence of a key in `values`
        (lower-case them first: matching is bytewise)."""
        out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        empty = np.zeros(0, dtype=np.int64)
        if len(self._hashes) and len(values):
            text = pc.fill_null(values.cast(pa.string()), "")
            offsets, data, _ = byte_view(text)
            for first, stop in _chunks(offsets):
                rows, keys, whole = self._find_chunk(offsets[first : stop + 1], data)
                out.append((rows + first, keys, whole))
        if not out:
            return empty, empty, np.zeros(0, dtype=bool)
        return tuple(np.concatenate(parts) for parts in zip(*out, strict=True))  # type: ignore[return-value]

    def _find_chunk(
        self, offsets: np.ndarray, all_data: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        data = all_data[offsets[0] : offsets[-1]]
        offsets = offsets - offsets[0]
        size = len(data)
        alnum = _alnum_bytes(data)
        char_start = (data & 0xC0) != 0x80
        boundary = np.zeros(size + 1, dtype=bool)  # a non-alphanumeric character starts here
        boundary[:size] = char_start & ~alnum
        begins_at = np.zeros(size + 1, dtype=bool)
        begins_at[1:size] = char_start[1:] & ~alnum[:-1]
        begins_at[offsets[:-1]] = True
        begins_at[size] = False
        ends_at = boundary.copy()
        ends_at[offsets] = True
        row_of = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))  # per byte
        begin = np.flatnonzero(begins_at[:size])
        row_end = offsets[row_of[begin] + 1]
        ends = np.flatnonzero(ends_at)
        rank = np.cumsum(ends_at)  # rank[x]: ends at or before x (index of the next end)
        sums = _prefix_sums(data)
        # pairs up to ANCHOR bytes: every end after each begin, within its row
        limit = np.minimum(begin + min(ANCHOR, self.max_length), row_end)
        owner, end = expand_ranges(rank[begin], rank[limit])
        end = ends[end]
        pair_begin = begin[owner]
        short = self._short[end - pair_begin]
        pair_begin, end = pair_begin[short], end[short]
        # longer pairs only where the first ANCHOR bytes start some longer key
        if len(self._anchors):
            room = begin[begin + ANCHOR <= row_end]
            prefix = _hashes(sums, room, room + ANCHOR)
            maybe = _present(self._anchor_bits, prefix)
            room, prefix = room[maybe], prefix[maybe]
            at = np.minimum(np.searchsorted(self._anchors, prefix), len(self._anchors) - 1)
            anchored = room[self._anchors[at] == prefix]  # anchors are sorted
            if len(anchored):
                limit = np.minimum(anchored + self.max_length, offsets[row_of[anchored] + 1])
                owner, more = expand_ranges(rank[anchored + ANCHOR], rank[limit])
                pair_begin = np.concatenate([pair_begin, anchored[owner]])
                end = np.concatenate([end, ends[more]])
        hashes = _hashes(sums, pair_begin, end)
        keep = _present(self._bitmap, hashes)
        pair_begin, end, hashes = pair_begin[keep], end[keep], hashes[keep]
        first = np.searchsorted(self._hashes, hashes, side="left")
        last = np.searchsorted(self._hashes, hashes, side="right")
        owner, slot = expand_ranges(first, last)
        pair_begin, end, key = pair_begin[owner], end[owner], self._ids[slot]
        confirmed = self._same_bytes(data, pair_begin, end, key)
        pair_begin, end, key = pair_begin[confirmed], end[confirmed], key[confirmed]
        rows = row_of[pair_begin]
        whole = (pair_begin == offsets[rows]) & (end == offsets[rows + 1])
        return rows, key, whole

    def _same_bytes(
        self, data: np.ndarray, begin: np.ndarray, end: np.ndarray, key: np.ndarray
    ) -> np.ndarray:
        """Whether data[begin:end] equals each key (hashes only nominate candidates)."""
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
