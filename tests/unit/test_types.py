"""How PostgreSQL columns map to Arrow, and the vectorised bytea hex codec."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest

from anonymiser.catalog import Column
from anonymiser.pg.types import (
    PG_TYPE_KEY,
    arrow_field,
    binary_to_pg_hex,
    csv_read_type,
    is_native,
    pg_hex_to_binary,
)

# -- bytea hex codec -------------------------------------------------------------------------

BYTEA_CASES = {
    "empty array": [],
    "only nulls": [None, None, None],
    "empty value": [b""],
    "zero bytes": [b"\x00", b"\x00\x00\x00", b"a\x00b"],
    "every byte value": [bytes(range(256))],
    "nulls between values": [b"ab", None, b"", None, b"\xff\x00"],
    "large value": [os.urandom(3 * 1024 * 1024), b"tail"],
    "many small values": [bytes([i % 256]) * (i % 7) for i in range(5000)],
}


@pytest.mark.parametrize("values", BYTEA_CASES.values(), ids=BYTEA_CASES.keys())
def test_bytea_hex_round_trip_is_exact(values: list[bytes | None]) -> None:
    original = pa.array(values, pa.binary())
    as_hex = binary_to_pg_hex(original)
    assert as_hex.type == pa.large_string()  # hex doubles the size: 64-bit offsets
    back = pg_hex_to_binary(as_hex)
    assert back.type == pa.binary()
    assert back.to_pylist() == values
    assert back.null_count == original.null_count


@pytest.mark.parametrize("values", BYTEA_CASES.values(), ids=BYTEA_CASES.keys())
def test_binary_to_pg_hex_matches_postgres_text_form(values: list[bytes | None]) -> None:
    expected = [None if v is None else "\\x" + v.hex() for v in values]
    assert binary_to_pg_hex(pa.array(values, pa.binary())).to_pylist() == expected


@pytest.mark.parametrize(("start", "length"), [(0, 2), (1, 3), (2, 3), (4, 1), (5, 0)])
def test_bytea_codec_handles_sliced_arrays(start: int, length: int) -> None:
    values = [b"a", None, b"bc", b"\x00", b"", b"zz"]
    sliced = pa.array(values, pa.binary()).slice(start, length)
    expected = values[start : start + length]
    as_hex = binary_to_pg_hex(sliced)
    assert pg_hex_to_binary(as_hex).to_pylist() == expected
    # and a slice of the hex text decodes too
    hex_full = binary_to_pg_hex(pa.array(values, pa.binary()))
    assert pg_hex_to_binary(hex_full.slice(start, length)).to_pylist() == expected


def test_pg_hex_to_binary_accepts_upper_and_lower_case_hex() -> None:
    decoded = pg_hex_to_binary(pa.array(["\\xDEADbeef", "\\x", None]))
    assert decoded.to_pylist() == [b"\xde\xad\xbe\xef", b"", None]


def test_binary_to_pg_hex_accepts_large_binary_input() -> None:
    values = [b"\x01\x02", None]
    assert binary_to_pg_hex(pa.array(values, pa.large_binary())).to_pylist() == ["\\x0102", None]


# -- Column -> Arrow field -------------------------------------------------------------------


def col(pg_type: str, base_type: str, category: str, *, not_null: bool = False) -> Column:
    return Column(
        name="c",
        attnum=1,
        pg_type=pg_type,
        base_type=base_type,
        category=category,
        not_null=not_null,
    )


NATIVE_CASES = [
    (col("smallint", "int2", "N"), pa.int16()),
    (col("integer", "int4", "N"), pa.int32()),
    (col("bigint", "int8", "N"), pa.int64()),
    (col("real", "float4", "N"), pa.float32()),
    (col("double precision", "float8", "N"), pa.float64()),
    (col("boolean", "bool", "B"), pa.bool_()),
    (col("text", "text", "S"), pa.string()),
    (col("character varying(20)", "varchar", "S"), pa.string()),
    (col("character(3)", "bpchar", "S"), pa.string()),
    (col("bytea", "bytea", "U"), pa.binary()),
    (col("public.positive_int", "int4", "N"), pa.int32()),  # domain over a native type
]

TEXT_CASES = [
    col("numeric(12,2)", "numeric", "N"),
    col("numeric", "numeric", "N"),
    col("date", "date", "D"),
    col("timestamp with time zone", "timestamptz", "D"),
    col("json", "json", "U"),
    col("jsonb", "jsonb", "U"),
    col("uuid", "uuid", "U"),
    col("integer[]", "_int4", "A"),
    col("text[]", "_text", "A"),
    col("bytea[]", "_bytea", "A"),
    col("public.int_list", "_int4", "A"),  # domain over an integer array
    col("money", "money", "N"),
    col("public.mood", "mood", "E"),
]


@pytest.mark.parametrize(
    ("column", "arrow_type"), NATIVE_CASES, ids=[c.pg_type for c, _ in NATIVE_CASES]
)
def test_exact_types_map_to_native_arrow(column: Column, arrow_type: pa.DataType) -> None:
    field = arrow_field(column)
    assert is_native(column)
    assert field.type == arrow_type
    assert field.metadata == {PG_TYPE_KEY: column.pg_type.encode()}


@pytest.mark.parametrize("column", TEXT_CASES, ids=[c.pg_type for c in TEXT_CASES])
def test_other_types_travel_as_postgres_text_tagged_with_their_type(column: Column) -> None:
    field = arrow_field(column)
    assert not is_native(column)
    assert field.type == pa.string()
    assert field.metadata[PG_TYPE_KEY].decode() == column.pg_type


@pytest.mark.parametrize("not_null", [True, False])
def test_arrow_field_nullability_follows_not_null(not_null: bool) -> None:
    field = arrow_field(col("integer", "int4", "N", not_null=not_null))
    assert field.name == "c"
    assert field.nullable is not not_null


def test_bytea_is_read_from_csv_as_text_then_decoded() -> None:
    assert csv_read_type(col("bytea", "bytea", "U")) == pa.string()
    assert csv_read_type(col("integer", "int4", "N")) == pa.int32()
