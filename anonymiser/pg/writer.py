"""Loading Arrow record batches into PostgreSQL with COPY FROM STDIN (text format), vectorised."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from anonymiser.pg.types import binary_to_pg_hex

__all__ = ["copy_batches_into", "encode_batch"]

# COPY's text format, as pg_restore sends it: the server parses it in about half the CPU of
# CSV with every value quoted (perf, docs/performance-history.md). Fields are separated by a
# tab, rows end with a newline, NULL is \N, and only these four characters need a backslash
# escape.
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
_BACKSLASH, _BELOW_CONTROL = ord("\\"), 14
_BLOCK = 256 * 1024
_NULL_AS = pc.JoinOptions(null_handling="replace", null_replacement="\\N")
_DELIMITER = pa.scalar("\t", pa.large_string())
_NEWLINE = pa.scalar("\n", pa.large_string())
_EMPTY = pa.scalar("", pa.large_string())


def _text_field(column: pa.Array) -> pa.Array:
    """One column as COPY text fields: PostgreSQL's input text, escaped (nulls stay null)."""
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        column = binary_to_pg_hex(column)  # \x... text: its backslash is escaped below
    # numbers and booleans take the same cast to text as Arrow's CSV writer gave them
    column = column.cast(pa.large_string())
    if _has_special(column):
        for special, escaped in _ESCAPES:
            column = pc.replace_substring(column, special, escaped)
    return column


def _has_special(column: pa.Array) -> bool:
    """Whether any value may hold a character to escape (tab, newline and carriage return
    are below 14): vectorised comparisons over the values buffer in cache-sized blocks, many
    times faster than a per-value search. A false positive only costs the escaping passes."""
    data = column.buffers()[2]
    if data is None or len(column) == 0:
        return False
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int64)
    start, end = int(offsets[column.offset]), int(offsets[column.offset + len(column)])
    values = np.frombuffer(data, dtype=np.uint8)
    return any(
        ((block == _BACKSLASH) | (block < _BELOW_CONTROL)).any()
        for block in (values[at : min(at + _BLOCK, end)] for at in range(start, end, _BLOCK))
    )


def encode_batch(batch: pa.RecordBatch) -> bytes:
    """COPY text-format bytes of a batch, which PostgreSQL reads back exactly (NULL is \\N,
    the empty string an empty field)."""
    if batch.num_rows == 0 or batch.num_columns == 0:
        return b""
    fields = [_text_field(column) for column in batch.columns]
    # nulls become \N as the fields are joined, without a copy of each column to fill them
    fields[-1] = pc.binary_join_element_wise(fields[-1], _EMPTY, _NEWLINE, options=_NULL_AS)
    lines = fields[0]
    if len(fields) > 1:
        lines = pc.binary_join_element_wise(*fields, _DELIMITER, options=_NULL_AS)
    # the lines, each ending in a newline, lie back to back in the array's data buffer
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset :]
    start, end = int(offsets[0]), int(offsets[len(lines)])
    data = lines.buffers()[2]
    return data[start:end].to_pybytes() if data is not None else b""


def copy_batches_into(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    columns: list[str],
    chunks: Iterable[bytes],
    *,
    freeze: bool = False,
) -> None:
    """COPY already-encoded text-format chunks into schema.table(columns)."""
    options = sql.SQL(" (FREEZE)") if freeze else sql.SQL("")
    query = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        sql.Identifier(schema, table), sql.SQL(", ").join(map(sql.Identifier, columns)), options
    )
    with conn.cursor() as cur, cur.copy(query) as copy:
        for chunk in chunks:
            copy.write(chunk)
