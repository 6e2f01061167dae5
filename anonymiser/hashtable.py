"""Sorted 64-bit hashes: their order, a table to look them up in, and bitmaps of their top bits.

The leak check's originals and free-text scrubbing's known values are found by the hashes
of their bytes (anonymiser.spanhash). Millions of them are sorted once (hash_order), looked
up in a HashTable (a directory of their top bits: two reads and a short scan, where a
binary search through 10M hashes is ~24 reads out of cache), and filtered first by a
bitmap of their top bits, which most hashes of text that is no key's fail.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "HashTable",
    "bitmap_of",
    "empty_bits",
    "expand_ranges",
    "hash_order",
    "in_bitmap",
    "set_bits",
    "sorted_unique",
]

_U64 = np.uint64
# a bitmap of hash prefixes filters candidates before the lookup: 8 MiB, or 16 bits a hash
# when there are more than 4M (a fuller one lets more through), up to 128 MiB
_BITMAP_BITS, _MOST_BITMAP_BITS = 26, 30


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


def bitmap_of(hashes: np.ndarray) -> np.ndarray:
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
    """Add hashes to a bitmap of bitmap_of (in place; returned)."""
    slot = hashes >> _bitmap_shift(bitmap)
    byte = (slot >> _U64(3)).astype(np.intp)
    bit = (slot & _U64(7)).astype(np.uint8)
    for number in range(8):  # one bit at a time: repeated bytes then all write the same value
        at = byte[bit == number]
        bitmap[at] |= np.uint8(1 << number)
    return bitmap


def in_bitmap(bitmap: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """False where a hash is surely not in the bitmap's set."""
    slot = (hashes >> _bitmap_shift(bitmap)).astype(np.int64)
    present: np.ndarray = (bitmap[slot >> 3] >> (slot & 7).astype(np.uint8)) & 1 == 1
    return present
