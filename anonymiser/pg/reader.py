"""Streaming one table out of PostgreSQL: COPY (CSV) -> Arrow record batches, bounded memory.

psycopg hands over the COPY stream in chunks; pyarrow's C++ CSV reader parses it block by
block into typed columns. Python only moves byte chunks, never looks at a row.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from anonymiser.catalog import Table
from anonymiser.pg.types import arrow_field, copy_out_expression, csv_read_type, pg_hex_to_binary

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "MAX_BLOCK_SIZE",
    "arrow_schema",
    "is_value_too_large",
    "read_table_batches",
]

DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024
MAX_BLOCK_SIZE = 1024 * 1024 * 1024  # a PostgreSQL field holds at most 1 GiB


def is_value_too_large(exc: Exception) -> bool:
    """pyarrow's error for a CSV row longer than the block: read again with a larger block."""
    return isinstance(exc, pa.ArrowInvalid) and "straddl" in str(exc)


# Give freed Arrow memory back to the OS at once: with the allocator's lazy purge, a busy
# machine saw peak RSS of the same extract double.
with contextlib.suppress(NotImplementedError, AttributeError):
    pa.jemalloc_set_decay_ms(0)


class _CopyStream(io.RawIOBase):
    """A readable file over a psycopg COPY TO STDOUT, filling each read from the row chunks.

    psycopg hands over one chunk per row; they are copied once, straight into the buffer
    pyarrow reads into.
    """

    def __init__(self, chunks: Iterator[bytes | bytearray | memoryview]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def at_end(self) -> bool:
        """True when the stream holds no data at all (looks ahead one chunk)."""
        if not self._pending:
            chunk = next(self._chunks, None)
            self._pending = memoryview(chunk if chunk is not None else b"").cast("B")
        return not self._pending

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        size = len(view)
        filled = 0
        pending = self._pending
        while filled < size:
            if not pending:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                pending = memoryview(chunk).cast("B")
            take = min(len(pending), size - filled)
            view[filled : filled + take] = pending[:take]
            pending = pending[take:]
            filled += take
        self._pending = pending
        return filled

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            parts = [bytes(self._pending), *(bytes(c) for c in self._chunks)]
            self._pending = memoryview(b"")
            return b"".join(parts)
        buffer = bytearray(size)
        with memoryview(buffer) as target:
            filled = self.readinto(target)
        del buffer[filled:]
        return buffer  # type: ignore[return-value]  # bytes-like, saves a copy


def arrow_schema(table: Table) -> pa.Schema:
    """The Arrow schema of a table's data files (stored generated columns excluded)."""
    return pa.schema(
        [arrow_field(c) for c in table.copy_columns],
        metadata={b"pg_table": table.qualified.encode()},
    )


def _copy_query(table: Table, where: sql.Composable | None = None) -> sql.Composed:
    """COPY of the table's rows, or only those matching `where` (a boolean SQL expression)."""
    cols = table.copy_columns
    target = sql.Identifier(table.schema, table.name)
    # The first column is always quoted: the CSV parser would drop a byte-order mark
    # at the very start of the stream if a value began with one.
    options = sql.SQL("FORMAT csv, FORCE_QUOTE ({})").format(sql.Identifier(cols[0].name))
    if where is None and all(copy_out_expression(c) == sql.Identifier(c.name) for c in cols):
        return sql.SQL("COPY {} ({}) TO STDOUT ({})").format(
            target, sql.SQL(", ").join(sql.Identifier(c.name) for c in cols), options
        )
    selected = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(copy_out_expression(c), sql.Identifier(c.name)) for c in cols
    )
    condition = sql.SQL(" WHERE {}").format(where) if where is not None else sql.SQL("")
    return sql.SQL("COPY (SELECT {} FROM ONLY {}{}) TO STDOUT ({})").format(
        selected, target, condition, options
    )


def read_table_batches(
    conn: psycopg.Connection,
    table: Table,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    where: sql.Composable | None = None,
    server_rows: Callable[[int], None] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Yield the table's rows (those matching `where` if given) as batches of `arrow_schema`.

    Once the COPY has ended, `server_rows` gets the row count the server reported for it
    (its `COPY n` command tag): a count independent of the batches parsed here.
    """
    schema = arrow_schema(table)
    cols = table.copy_columns
    positional = [f"c{i}" for i in range(len(cols))]
    decode_hex = [i for i, f in enumerate(schema) if f.type == pa.binary()]
    read_options = pacsv.ReadOptions(
        column_names=positional, block_size=block_size, use_threads=True
    )
    # A row of one NULL column is an empty line: it must not be skipped.
    parse_options = pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False)
    convert_options = pacsv.ConvertOptions(
        column_types={p: csv_read_type(c) for p, c in zip(positional, cols, strict=True)},
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,  # "" is an empty string, an unquoted empty is NULL
        null_values=[""],
        true_values=["t"],
        false_values=["f"],
    )
    with conn.cursor() as cur:
        with cur.copy(_copy_query(table, where)) as copy:
            stream = _CopyStream(iter(copy))
            if not stream.at_end():  # an empty table: pyarrow refuses an empty CSV stream
                yield from _parse(
                    stream, schema, decode_hex, read_options, parse_options, convert_options
                )
        if server_rows is not None:
            server_rows(cur.rowcount)


def _parse(
    stream: _CopyStream,
    schema: pa.Schema,
    decode_hex: list[int],
    read_options: pacsv.ReadOptions,
    parse_options: pacsv.ParseOptions,
    convert_options: pacsv.ConvertOptions,
) -> Iterator[pa.RecordBatch]:
    reader = pacsv.open_csv(
        stream,
        read_options=read_options,
        parse_options=parse_options,
        convert_options=convert_options,
    )
    try:
        for batch in reader:
            arrays = list(batch.columns)
            for i in decode_hex:
                arrays[i] = pg_hex_to_binary(arrays[i])
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)
    except pa.ArrowInvalid:
        # finish the COPY normally so the snapshot transaction stays usable for a retry
        while stream.read(1 << 20):
            pass
        raise
    # drain anything the parser left so the COPY ends cleanly
    while stream.read(1 << 20):
        pass
