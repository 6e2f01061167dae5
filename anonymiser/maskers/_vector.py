"""Vectorised building blocks shared by the strategies: digest mixing, picking, fixed-width text."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers.base import ColumnSpec

__all__ = [
    "TEXT_TYPES",
    "digit_strings",
    "fit_length",
    "fixed_width_strings",
    "hex_strings",
    "is_text_column",
    "mix",
    "pick",
    "string_array",
    "text_problem",
]

TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "char", "name", "citext"})

_U64 = np.uint64
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def is_text_column(column: ColumnSpec) -> bool:
    return column.base_type in TEXT_TYPES or column.is_text


def text_problem(strategy: str, column: ColumnSpec) -> str | None:
    """The refusal for a strategy that only masks text columns (None when the column is text)."""
    if is_text_column(column):
        return None
    return (
        f"strategy {strategy} cannot mask {column.table}.{column.name}: it needs a text column "
        f"and the column is {column.pg_type}"
    )


def mix(digests: np.ndarray, salt: int) -> np.ndarray:
    """An independent 64-bit value per digest for each salt (splitmix64 finaliser)."""
    z = digests ^ _U64((salt * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    result: np.ndarray = z ^ (z >> _U64(31))
    return result


def pick(pool: pa.Array, digests: np.ndarray, salt: int) -> pa.Array:
    """One pool entry per digest, chosen by the keyed digest."""
    index = (mix(digests, salt) % _U64(len(pool))).astype(np.int64)
    return pc.take(pool, pa.array(index))


def fixed_width_strings(matrix: np.ndarray) -> pa.Array:
    """A string array from an (n, width) uint8 matrix of ASCII bytes."""
    n, width = matrix.shape
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(width)
    data = np.ascontiguousarray(matrix, dtype=np.uint8)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def string_array(
    offsets: np.ndarray, data: np.ndarray, valid: np.ndarray | None, type: pa.DataType
) -> pa.Array:
    """A string array of `type` from int64 offsets (starting at 0), UTF-8 bytes and validity."""
    n = len(offsets) - 1
    bitmap = None
    nulls = 0
    if valid is not None and not valid.all():
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
        nulls = int(n - np.count_nonzero(valid))
    out = pa.StringArray.from_buffers(
        n,
        pa.py_buffer(offsets.astype(np.int32)),
        pa.py_buffer(np.ascontiguousarray(data, dtype=np.uint8)),
        bitmap,
        nulls,
    )
    return out if out.type == type else out.cast(type)


def digit_strings(values: np.ndarray, width: int) -> pa.Array:
    """Zero-padded decimal text of the low `width` digits of each uint64."""
    matrix = np.empty((len(values), width), dtype=np.uint8)
    rest = values.astype(np.uint64, copy=True)
    for column in range(width - 1, -1, -1):
        matrix[:, column] = (rest % _U64(10)).astype(np.uint8) + 48
        rest //= _U64(10)
    return fixed_width_strings(matrix)


def hex_strings(words: np.ndarray, nchars: int) -> pa.Array:
    """Lowercase hex of (n, k) uint64 words, big-endian per word, cut to `nchars`."""
    n = words.shape[0]
    raw = words.astype(">u8").view(np.uint8).reshape(n, -1)
    matrix = np.empty((n, raw.shape[1] * 2), dtype=np.uint8)
    matrix[:, 0::2] = _HEX[raw >> 4]
    matrix[:, 1::2] = _HEX[raw & 0x0F]
    return fixed_width_strings(matrix[:, :nchars])


def fit_length(values: pa.Array, max_length: int | None) -> pa.Array:
    """Cut text to at most `max_length` characters (varchar(n)/char(n))."""
    if max_length is None:
        return values
    return pc.utf8_slice_codeunits(values, 0, max_length)
