"""Loading Arrow record batches into PostgreSQL with COPY FROM STDIN (CSV), vectorised."""

from __future__ import annotations

import io
from collections.abc import Iterable

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from anonymiser.pg.types import binary_to_pg_hex

__all__ = ["copy_batches_into", "encode_batch"]

_WRITE_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")


def encode_batch(batch: pa.RecordBatch) -> bytes:
    """CSV bytes PostgreSQL reads back exactly: NULL unquoted, every value (even '') quoted."""
    arrays = [
        binary_to_pg_hex(col)
        if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type)
        else col
        for col in batch.columns
    ]
    out = io.BytesIO()
    pacsv.write_csv(
        pa.RecordBatch.from_arrays(arrays, names=batch.schema.names),
        out,
        write_options=_WRITE_OPTIONS,
    )
    return out.getvalue()


def copy_batches_into(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    columns: list[str],
    chunks: Iterable[bytes],
    *,
    freeze: bool = False,
) -> None:
    """COPY already-encoded CSV chunks into schema.table(columns)."""
    options = sql.SQL("FORMAT csv, FREEZE") if freeze else sql.SQL("FORMAT csv")
    query = sql.SQL("COPY {} ({}) FROM STDIN ({})").format(
        sql.Identifier(schema, table), sql.SQL(", ").join(map(sql.Identifier, columns)), options
    )
    with conn.cursor() as cur, cur.copy(query) as copy:
        for chunk in chunks:
            copy.write(chunk)
