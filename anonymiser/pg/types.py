"""How each PostgreSQL column travels as Arrow: a native type where one is exact, else PG text.

Native: integers, float4/float8 (NaN and +/-Infinity included), bool, character types, bytea.
Everything else (numeric, temporal types with their infinities and BC dates, json, arrays,
ranges, enums, composites, network, geometric ...) keeps PostgreSQL's own text form, produced
under the fixed session settings of anonymiser.pg.connect, so it reads back exactly. Every
Arrow field carries the exact PostgreSQL type in its metadata.
"""

from __future__ import annotations

import binascii

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from anonymiser.catalog import Column

__all__ = [
    "PG_TYPE_KEY",
    "arrow_field",
    "binary_to_pg_hex",
    "copy_out_expression",
    "csv_read_type",
    "is_native",
    "pg_hex_to_binary",
]

PG_TYPE_KEY = b"pg_type"

_NATIVE: dict[str, pa.DataType] = {
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "bool": pa.bool_(),
    "text": pa.string(),
    "varchar": pa.string(),
    "bpchar": pa.string(),
    "name": pa.string(),
    "char": pa.string(),
    "bytea": pa.binary(),
}


def is_native(column: Column) -> bool:
    return column.category != "A" and column.base_type in _NATIVE


def arrow_field(column: Column) -> pa.Field:
    """The Arrow field a column is stored as, tagged with its exact PostgreSQL type."""
    arrow_type = _NATIVE[column.base_type] if is_native(column) else pa.string()
    return pa.field(
        column.name,
        arrow_type,
        nullable=not column.not_null,
        metadata={PG_TYPE_KEY: column.pg_type.encode()},
    )


def csv_read_type(column: Column) -> pa.DataType:
    """The type the CSV parser produces; bytea arrives as hex text and is decoded after."""
    field_type = arrow_field(column).type
    return pa.string() if field_type == pa.binary() else field_type


def copy_out_expression(column: Column) -> sql.Composable:
    """The SELECT expression for a column in COPY (...) TO: money leaves as locale-free numeric."""
    ident = sql.Identifier(column.name)
    if column.base_type == "money" and column.category != "A":
        return sql.SQL("{}::numeric").format(ident)
    return ident


def _compact(arr: pa.Array) -> pa.Array:
    return pa.concat_arrays([arr]) if arr.offset else arr


def pg_hex_to_binary(arr: pa.Array) -> pa.Array:
    """Decode an array of PostgreSQL hex bytea text (r'\\x0aff') to binary, vectorised."""
    if pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.string())
    arr = _compact(pc.utf8_slice_codeunits(arr, 2))
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=len(arr) + 1)
    start, end = int(offsets[0]), int(offsets[-1])
    data = arr.buffers()[2]
    raw = binascii.unhexlify(memoryview(data)[start:end]) if data is not None else b""
    new_offsets = ((offsets - start) // 2).astype(np.int32)
    return pa.Array.from_buffers(
        pa.binary(),
        len(arr),
        [arr.buffers()[0], pa.py_buffer(new_offsets), pa.py_buffer(raw)],
        null_count=arr.null_count,
    )


def binary_to_pg_hex(arr: pa.Array) -> pa.Array:
    r"""Encode binary as PostgreSQL hex bytea text (\x...), vectorised; nulls stay null."""
    arr = _compact(arr.cast(pa.binary()))
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=len(arr) + 1)
    start, end = int(offsets[0]), int(offsets[-1])
    data = arr.buffers()[2]
    hexed = binascii.hexlify(memoryview(data)[start:end]) if data is not None else b""
    new_offsets = (offsets.astype(np.int64) - start) * 2  # doubled: may pass 2 GiB
    as_hex = pa.Array.from_buffers(
        pa.large_string(),
        len(arr),
        [arr.buffers()[0], pa.py_buffer(new_offsets), pa.py_buffer(hexed)],
        null_count=arr.null_count,
    )
    return pc.binary_join_element_wise(
        pa.scalar("\\x", pa.large_string()), as_hex, pa.scalar("", pa.large_string())
    )
