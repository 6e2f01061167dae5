"""The restore writer's COPY text format against a real server: random values read back exactly."""

from __future__ import annotations

import json
import math
import random

import psycopg
import pyarrow as pa
import pytest

from anonymiser.pg.writer import copy_batches_into, encode_batch

# every character COPY's text format treats specially, CSV's, and look-alikes of its markers
PIECES = [
    "\\",
    "\t",
    "\n",
    "\r",
    "\r\n",
    '"',
    ",",
    "\\N",
    "\\.",
    "N",
    ".",
    "x",
    " ",
    "é",
    "字",
    "\x01",
]
FLOATS = [0.0, -0.0, 1.5, -1e-310, 5e-324, 1.7976931348623157e308, math.inf, -math.inf, math.nan]


def random_text(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.2:
        return ""
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 6)))


def random_batch(rng: random.Random, rows: int) -> pa.RecordBatch:
    def maybe(value: object) -> object:
        return None if rng.random() < 0.1 else value

    return pa.RecordBatch.from_pydict(
        {
            "id": pa.array(range(rows), pa.int64()),
            "t": pa.array([random_text(rng) for _ in range(rows)], pa.string()),
            "b": pa.array(
                [maybe(rng.randbytes(rng.randint(0, 5))) for _ in range(rows)], pa.binary()
            ),
            "f8": pa.array([maybe(rng.choice(FLOATS) * rng.random()) for _ in range(rows)]),
            "f4": pa.array([maybe(rng.choice(FLOATS)) for _ in range(rows)], pa.float32()),
            "i2": pa.array([maybe(rng.randint(-32768, 32767)) for _ in range(rows)], pa.int16()),
            "flag": pa.array([maybe(rng.random() < 0.5) for _ in range(rows)], pa.bool_()),
            "j": pa.array([maybe(json.dumps({"k": random_text(rng)})) for _ in range(rows)]),
        }
    )


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return a == b


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_values_copied_in_text_format_read_back_exactly(target_dsn: str, seed: int) -> None:
    batch = random_batch(random.Random(seed), 3000)
    with psycopg.connect(target_dsn) as conn:
        conn.execute(
            "CREATE TABLE t (id int8, t text, b bytea, f8 float8, f4 float4, i2 int2, flag bool,"
            " j jsonb)"
        )
        # a sliced batch too: encoding must honour the arrays' offsets
        copy_batches_into(
            conn, "public", "t", batch.schema.names, [encode_batch(batch.slice(0, 1000)),
            encode_batch(batch.slice(1000))],
        )  # fmt: skip
        rows = conn.execute(
            "SELECT id, t, b, f8, f4::float8, i2, flag, j FROM t ORDER BY id"
        ).fetchall()
    expected = batch.to_pylist()  # float32 values come out as the doubles they widen to
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        got = dict(zip(batch.schema.names, row, strict=True))
        got["b"] = None if got["b"] is None else bytes(got["b"])
        want["j"] = None if want["j"] is None else json.loads(want["j"])
        for name, value in want.items():
            assert same(got[name], value), (name, got[name], value)


def test_a_single_column_of_empty_strings_and_nulls_stays_apart(target_dsn: str) -> None:
    batch = pa.RecordBatch.from_pydict({"x": pa.array(["", None, "", "\\N", None])})
    with psycopg.connect(target_dsn) as conn:
        conn.execute("CREATE TABLE one (n serial, x text)")
        copy_batches_into(conn, "public", "one", ["x"], [encode_batch(batch)])
        rows = [r[0] for r in conn.execute("SELECT x FROM one ORDER BY n").fetchall()]
    assert rows == ["", None, "", "\\N", None]


def test_control_characters_are_escaped_in_a_column_without_backslashes(target_dsn: str) -> None:
    values = ["a\tb", "line\nbreak", "cr\r", "\r\n", "plain", None]
    with psycopg.connect(target_dsn) as conn:
        conn.execute("CREATE TABLE ctl (n serial, x text, y text)")
        batch = pa.RecordBatch.from_pydict({"x": values, "y": ["1", "2", "3", "4", "5", "6"]})
        copy_batches_into(conn, "public", "ctl", ["x", "y"], [encode_batch(batch)])
        rows = conn.execute("SELECT x, y FROM ctl ORDER BY n").fetchall()
    assert rows == list(zip(values, ["1", "2", "3", "4", "5", "6"], strict=True))


def test_an_empty_batch_encodes_to_no_bytes() -> None:
    empty = pa.RecordBatch.from_pydict(
        {"a": pa.array([], pa.string()), "b": pa.array([], pa.int32())}
    )
    assert encode_batch(empty) == b""
