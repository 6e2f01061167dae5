"""Polynomial hashes of byte spans of Arrow text (prefix sums, mod 2**64), a chunk at a time.

The hash of data[begin:end] comes from two prefix sums of the text's bytes times powers of
a per-process random odd base, so the hashes of any number of spans of a chunk cost a few
array operations, whatever their lengths; values are hashed in chunks of about CHUNK_BYTES
of text (the prefix-sum arrays are 8 bytes per byte). These span hashes serve the leak
check's whole-word search (anonymiser.textsearch), free-text scrubbing's known values
(anonymiser.maskers._known) and key indexes (anonymiser.keyindex): this module belongs to
no stage.
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
    "hashed_chunks",
    "prefix_sums",
    "span_hashes",
    "text_bytes",
    "text_chunks",
    "value_hashes",
]

CHUNK_BYTES = 1 << 18  # text hashed at once (the prefix-sum arrays are 8 bytes per byte)
_U64 = np.uint64
_BASE = secrets.randbits(62) * 2 + 1  # odd, so invertible mod 2**64; per process
_INVERSE = pow(_BASE, -1, 1 << 64)


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


def text_chunks(offsets: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges [first, stop) holding about CHUNK_BYTES of text each (at least one row)."""
    out = []
    first, count = 0, len(offsets) - 1
    while first < count:
        stop = int(np.searchsorted(offsets, offsets[first] + CHUNK_BYTES, side="right")) - 1
        stop = min(max(stop, first + 1), count)
        out.append((first, stop))
        first = stop
    return out


def value_hashes(values: pa.Array) -> np.ndarray:
    """The hash of each whole value (key_hashes' first; null as empty; binary by its bytes)."""
    offsets, data = text_bytes(values)
    full = np.zeros(len(offsets) - 1, dtype=np.uint64)
    for first, stop, _, sums, starts, ends in hashed_chunks(offsets, data):
        full[first:stop] = span_hashes(sums, starts, ends)
    return full


def text_bytes(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of the values as text: null as empty, binary by its bytes."""
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
    for first, stop in text_chunks(offsets):
        local = offsets[first : stop + 1]
        text = data[local[0] : local[-1]]
        yield first, stop, text, prefix_sums(text), local[:-1] - local[0], local[1:] - local[0]
