"""Streaming one table out of PostgreSQL: COPY (CSV) -> Arrow record batches, bounded memory.

psql runs the COPY inside the extract's snapshot and writes it to a pipe; pyarrow's C++ CSV
reader parses it block by block into typed columns. Python never looks at a row.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from anonymiser.catalog import Table
from anonymiser.pg.connect import SESSION_SETTINGS, tool_environment
from anonymiser.pg.ddl import LOCK_WAIT_TIMEOUT
from anonymiser.pg.types import arrow_field, copy_out_expression, csv_read_type, pg_hex_to_binary

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "MAX_BLOCK_SIZE",
    "CopyFailed",
    "PsqlSource",
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


class CopyFailed(Exception):
    """psql's COPY of a table failed; the message is the server's or psql's first line."""


@dataclass
class PsqlSource:
    """How to run psql's COPY against the source inside the extract's exported snapshot.

    psql moves COPY rows in C straight into a pipe that pyarrow reads in large blocks: no
    per-row Python (psycopg hands a COPY over one row per call, which cost more than the
    parse itself), and no GIL shared between --jobs workers.
    """

    psql: Path
    dsn: str
    snapshot_id: str
    running: set[subprocess.Popen[bytes]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def argv(self, copy: str) -> tuple[list[str], dict[str, str]]:
        conninfo, env = tool_environment(self.dsn)
        # the same lossless session as connect()
        options = " ".join(
            f"-c {name}={_pgoptions_escape(value)}"
            for name, value in SESSION_SETTINGS.items()
            if name != "client_encoding"  # libpq's own setting: PGCLIENTENCODING below
        )
        # in the conninfo, not PGOPTIONS: a DSN's own `options` would override the variable
        params = conninfo_to_dict(conninfo)
        params["options"] = f"{params.get('options') or env.get('PGOPTIONS', '')} {options}"
        conninfo = make_conninfo(**{k: str(v) for k, v in params.items()})
        env["PGCLIENTENCODING"] = SESSION_SETTINGS["client_encoding"]
        env["PGAPPNAME"] = "anonymiser"
        commands = [
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            f"SET TRANSACTION SNAPSHOT '{self.snapshot_id}'",
            "SET LOCAL jit = off",  # see extract._begin_snapshot
            # the snapshot's own connection holds ACCESS SHARE on every table: a TRUNCATE
            # queued behind it would make this COPY wait forever without a limit
            f"SET LOCAL lock_timeout = '{LOCK_WAIT_TIMEOUT}'",
            copy,
        ]
        argv = [str(self.psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo]
        for command in commands:
            argv += ["-c", command]
        return argv, env

    def kill_all(self) -> None:
        """Stop every COPY under way (a failed table elsewhere, or Ctrl-C)."""
        with self.lock:
            for proc in self.running:
                with contextlib.suppress(OSError):
                    proc.kill()


def _pgoptions_escape(value: str) -> str:
    """A value for PGOPTIONS, where spaces separate options unless backslash-escaped."""
    return value.replace("\\", "\\\\").replace(" ", "\\ ")


def _psql_error(proc: subprocess.Popen[bytes], stderr: IO[bytes]) -> CopyFailed:
    stderr.seek(0)
    lines = [ln.strip() for ln in stderr.read().decode(errors="replace").splitlines()]
    detail = next((ln for ln in lines if ln), f"psql exited with status {proc.returncode}")
    return CopyFailed(re.sub(r"^(psql:[^ ]*: )?(ERROR|FATAL|error):\s*", "", detail))


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
    source: PsqlSource,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    where: sql.Composable | None = None,
) -> Iterator[pa.RecordBatch]:
    """Yield the table's rows (those matching `where` if given) as batches of `arrow_schema`.

    `conn` (in the same snapshot) only renders the query; `source` runs the COPY.
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
    argv, env = source.argv(_copy_query(table, where).as_string(conn))
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, env=env
        )
        with source.lock:
            source.running.add(proc)
        try:
            stdout = cast(io.BufferedReader, proc.stdout)
            with stdout:
                if stdout.peek(1):  # pyarrow refuses an empty CSV stream
                    reader = pacsv.open_csv(
                        stdout,
                        read_options=read_options,
                        parse_options=parse_options,
                        convert_options=convert_options,
                    )
                    for batch in reader:
                        arrays = list(batch.columns)
                        for i in decode_hex:
                            arrays[i] = pg_hex_to_binary(arrays[i])
                        yield pa.RecordBatch.from_arrays(arrays, schema=schema)
            if proc.wait() != 0:
                raise _psql_error(proc, stderr)
        except BaseException:
            # psql's own failure (a cut connection truncates its output) explains more than
            # the parse error it causes; otherwise stop it and pass the error on
            if proc.poll() not in (None, 0):
                raise _psql_error(proc, stderr) from None
            proc.kill()
            proc.wait()
            raise
        finally:
            with source.lock:
                source.running.discard(proc)
