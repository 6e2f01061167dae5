"""Extract: every table of a dataset out of one read-only repeatable-read snapshot into Parquet.

One connection opens the transaction and exports its snapshot; `jobs` worker connections
import it with SET TRANSACTION SNAPSHOT, so every table and pg_dump's DDL see the same
instant. Each table streams COPY -> Arrow -> zstd Parquet parts in a work directory.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

from anonymiser.catalog import Catalog, Table, read_catalog
from anonymiser.datasets import Dataset
from anonymiser.errors import AnonymiserError, ConfigError, SnapshotError
from anonymiser.manifest import SequenceState
from anonymiser.pg.connect import connect, first_line
from anonymiser.pg.ddl import (
    INHERITED_OBJECTS_SQL,
    DDLParseError,
    SchemaDDL,
    dump_schema,
    inherited_objects,
    lock_wait_hint,
    matviews_in_order,
)
from anonymiser.pg.reader import (
    DEFAULT_BLOCK_SIZE,
    MAX_BLOCK_SIZE,
    CopyFailed,
    PsqlSource,
    arrow_schema,
    is_value_too_large,
    read_table_batches,
)
from anonymiser.pg.tools import find_pg_tool
from anonymiser.progress import NULL_REPORTER, Reporter, TableProgress
from anonymiser.subset.closure import SubsetPlan, plan_subset

__all__ = [
    "DEFAULT_PART_BYTES",
    "PARQUET_DICTIONARY_LIMIT",
    "ExtractOptions",
    "Extracted",
    "ExtractedTable",
    "batch_rows",
    "extract",
]

log = logging.getLogger(__name__)

DEFAULT_PART_BYTES = 256 * 1024 * 1024  # Arrow bytes per Parquet part before starting another
# A column's dictionary is abandoned for plain encoding once it passes 64 KiB (default 1 MiB):
# low-cardinality columns keep it, and high-cardinality ones (names, emails, free text) no
# longer build a large dictionary first only to fall back. At 1M demo rows: -25 % CPU in
# Parquet writing and 6 % smaller files (zstd compresses the plain pages well).
PARQUET_DICTIONARY_LIMIT = 64 * 1024


def batch_rows(parquet: pq.ParquetFile, max_bytes: int, max_rows: int) -> int:
    """Rows per batch so that a batch holds about `max_bytes` of this file's (Arrow) data."""
    meta = parquet.metadata
    raw = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    per_row = max(1, int(raw) // max(1, int(meta.num_rows)))
    return max(1, min(max_rows, max_bytes // per_row))


@dataclass
class ExtractOptions:
    jobs: int = 1
    block_size: int = DEFAULT_BLOCK_SIZE
    part_bytes: int = DEFAULT_PART_BYTES
    compression: str = "zstd"
    reporter: Reporter = field(default=NULL_REPORTER, repr=False, compare=False)


@dataclass
class ExtractedTable:
    table: Table
    files: list[tuple[str, int]] = field(default_factory=list)  # (relative path, rows)
    rows: int = 0
    seconds: float = 0.0


@dataclass
class Extracted:
    """What the extract stage leaves in its work directory, for the next stage."""

    root: Path
    catalog: Catalog
    server_version: str
    schema_files: dict[str, str]  # section -> relative path of the SQL script
    tables: list[ExtractedTable]
    sequences: list[SequenceState]
    matviews: list[tuple[str, str]]


def table_dir(table: Table) -> str:
    """The folder of a table's parts, safe whatever characters its names hold."""

    def segment(name: str) -> str:  # "." and ".." are not valid path segments
        return quote(name, safe="").replace(".", "%2E")

    return f"data/{segment(table.schema)}/{segment(table.name)}"


def _begin_snapshot(conn: psycopg.Connection, snapshot_id: str | None) -> None:
    conn.execute("SET idle_in_transaction_session_timeout = 0")
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    # A subset's recursive closure query has huge cost estimates, which would make the
    # server spend seconds JIT-compiling it for each table; plain COPYs gain nothing from JIT.
    conn.execute("SET LOCAL jit = off")
    if snapshot_id:
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot_id)))


def _extract_table(
    conn: psycopg.Connection,
    source: PsqlSource,
    table: Table,
    root: Path,
    options: ExtractOptions,
    subset: SubsetPlan | None = None,
    progress: TableProgress | None = None,
) -> ExtractedTable:
    started = time.monotonic()
    result = ExtractedTable(table=table)
    folder = table_dir(table)
    (root / folder).mkdir(parents=True, exist_ok=True)
    where = subset.where(table) if subset else None
    if not table.copy_columns:  # a table with no columns still has a row count
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM ONLY {}{}").format(
                sql.Identifier(table.schema, table.name),
                sql.SQL(" WHERE {}").format(where) if where is not None else sql.SQL(""),
            )
        ).fetchone()
        result.rows = int(row[0]) if row else 0
        if progress is not None:
            progress.advance(rows=result.rows)
        result.seconds = time.monotonic() - started
        return result
    block_size = options.block_size
    while True:
        try:
            _write_parts(conn, source, table, root, options, where, block_size, result, progress)
            break
        except pa.ArrowInvalid as exc:
            if not is_value_too_large(exc) or block_size >= MAX_BLOCK_SIZE:
                raise
            # one row is longer than a CSV block: start this table again with larger blocks
            shutil.rmtree(root / folder)
            (root / folder).mkdir(parents=True)
            result.files, result.rows = [], 0
            if progress is not None:
                progress.restart()
            block_size = min(block_size * 16, MAX_BLOCK_SIZE)
            log.info("re-reading %s with %d MiB blocks", table.qualified, block_size >> 20)
    result.seconds = time.monotonic() - started
    log.info("extracted %s: %d rows in %d files", table.qualified, result.rows, len(result.files))
    return result


def _write_parts(
    conn: psycopg.Connection,
    source: PsqlSource,
    table: Table,
    root: Path,
    options: ExtractOptions,
    where: sql.Composable | None,
    block_size: int,
    result: ExtractedTable,
    progress: TableProgress | None = None,
) -> None:
    """Stream the table into Parquet parts of about options.part_bytes each."""
    folder = table_dir(table)
    schema = arrow_schema(table)
    writer: pq.ParquetWriter | None = None
    part_rows = part_bytes = 0

    def close_part() -> None:
        nonlocal writer
        if writer is not None:
            writer.close()
            writer = None

    def open_part() -> pq.ParquetWriter:
        rel = f"{folder}/part-{len(result.files):05d}.parquet"
        result.files.append((rel, 0))
        return pq.ParquetWriter(
            root / rel,
            schema,
            compression=options.compression,
            dictionary_pagesize_limit=PARQUET_DICTIONARY_LIMIT,
        )

    try:
        batches = read_table_batches(conn, table, source, block_size=block_size, where=where)
        for batch in batches:
            if writer is None:
                writer = open_part()
                part_rows = part_bytes = 0
            writer.write_batch(batch)
            part_rows += batch.num_rows
            part_bytes += batch.nbytes
            result.files[-1] = (result.files[-1][0], part_rows)
            result.rows += batch.num_rows
            if progress is not None:
                progress.advance(batch.num_rows, batch.nbytes)
            if part_bytes >= options.part_bytes:
                close_part()
    finally:
        close_part()
    if not result.files:  # an empty table still gets a file carrying its schema
        open_part().close()


def _sequence_states(conn: psycopg.Connection, catalog: Catalog) -> list[SequenceState]:
    states = []
    for seq in catalog.sequences:
        row = conn.execute(
            sql.SQL("SELECT last_value, is_called FROM {}").format(
                sql.Identifier(seq.schema, seq.name)
            )
        ).fetchone()
        if row:
            states.append(SequenceState(seq.schema, seq.name, int(row[0]), bool(row[1])))
    return states


def extract(source_dsn: str, dataset: Dataset, root: Path, options: ExtractOptions) -> Extracted:
    """Run the extract stage into `root`; raises SnapshotError naming the table on failure."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SnapshotError(f"cannot create the work directory {root}: {exc.strerror}") from None
    main = connect(source_dsn, role="source")
    workers: list[psycopg.Connection] = []
    try:
        _begin_snapshot(main, None)
        snapshot_id = main.execute("SELECT pg_catalog.pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
        server_version = str(main.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        catalog = read_catalog(main)
        subset = _plan_subset(main, dataset, catalog)
        inherited = inherited_objects(main.execute(INHERITED_OBJECTS_SQL).fetchall())
        pg_dump = find_pg_tool("pg_dump", catalog.server_version_num // 10000)
        source = PsqlSource(
            find_pg_tool("psql", catalog.server_version_num // 10000), source_dsn, snapshot_id
        )
        tables = sorted(
            (t for t in catalog.data_tables() if dataset.includes(t.qualified)),
            key=lambda t: t.bytes,
            reverse=True,
        )
        # As pg_dump does: hold ACCESS SHARE locks until the end, so no TRUNCATE or table
        # rewrite (which MVCC snapshots do not protect against) lands between the snapshot
        # and a table's COPY. Writers are not blocked; DDL on these tables waits for us.
        if tables:
            main.execute(
                sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(
                    sql.SQL(", ").join(sql.Identifier(t.schema, t.name) for t in tables)
                )
            )
            _refuse_rewritten(main, tables)
        ddl_box: dict[str, SchemaDDL] = {}
        ddl_error: list[BaseException] = []

        def run_dump() -> None:
            try:
                ddl_box["ddl"] = dump_schema(pg_dump, source_dsn, snapshot_id, inherited)
            except BaseException as exc:  # surfaced after the data copy
                ddl_error.append(exc)

        dumper = threading.Thread(target=run_dump, name="pg_dump", daemon=True)
        dumper.start()
        results = _copy_tables(main, workers, source, tables, root, options, subset)
        sequences = _sequence_states(main, catalog)
        dumper.join()
        if ddl_error:
            raise ddl_error[0]
        ddl = ddl_box["ddl"]
        schema_files = {}
        for section in ("pre_data", "post_data", "clean"):
            rel = f"schema/{section.replace('_', '-')}.sql"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(getattr(ddl, section), encoding="utf-8")
            schema_files[section] = rel
        extracted = Extracted(
            root=root,
            catalog=catalog,
            server_version=server_version,
            schema_files=schema_files,
            tables=results,
            sequences=sequences,
            matviews=matviews_in_order(ddl.pre_data),
        )
        return extracted
    except psycopg.Error as exc:
        raise SnapshotError(f"extract failed: {_explain(exc)}") from None
    except DDLParseError as exc:
        raise SnapshotError(f"extract of the schema failed: {exc}") from None
    except OSError as exc:
        raise SnapshotError(f"cannot write work files under {root}: {exc}") from None
    finally:
        for conn in [*workers, main]:
            conn.close()


# pg_class as of the snapshot against the relation's current file: they differ for a table
# truncated or rewritten (which MVCC does not hide) between the snapshot and its lock.
_REWRITTEN_SQL = """
SELECT name FROM unnest(%s::text[]) AS name
 WHERE (SELECT relfilenode FROM pg_catalog.pg_class WHERE oid = name::regclass)
       IS DISTINCT FROM pg_catalog.pg_relation_filenode(name::regclass)
"""


def _refuse_rewritten(conn: psycopg.Connection, tables: list[Table]) -> None:
    names = [sql.Identifier(t.schema, t.name).as_string(conn) for t in tables]
    changed = [row[0] for row in conn.execute(_REWRITTEN_SQL, (names,)).fetchall()]
    if changed:
        raise SnapshotError(
            f"{', '.join(changed[:5])} truncated or rewritten after the snapshot was taken: a "
            "concurrent DDL or TRUNCATE committed before this run could lock the tables; "
            "run again"
        )


def _plan_subset(conn: psycopg.Connection, dataset: Dataset, catalog: Catalog) -> SubsetPlan | None:
    """The subset's closure plan, its filters checked by the server (types, operators)."""
    if not dataset.is_subset:
        return None
    plan = plan_subset(dataset, catalog)
    for root in dataset.roots:
        if root.where is None:
            continue
        table = catalog.tables[root.table]
        query = sql.SQL("EXPLAIN SELECT FROM {} WHERE ({})").format(
            sql.Identifier(table.schema, table.name), sql.SQL(root.where.sql)
        )
        try:
            conn.execute("SAVEPOINT check_filter")
            conn.execute(query)
            conn.execute("RELEASE SAVEPOINT check_filter")
        except psycopg.Error as exc:
            raise ConfigError(
                f"{dataset.source_file or dataset.name}: subset {root.label}: the filter "
                f"{root.where.sql!r} is refused by the source database: {first_line(exc)}"
            ) from None
    return plan


def _explain(exc: psycopg.Error | CopyFailed) -> str:
    """The server's message, plus what to do for the failures operators meet."""
    message = first_line(exc) + lock_wait_hint(first_line(exc))
    if "row-level security" in message:
        message += (
            "; the source role is subject to row-level security and would see only some "
            "rows: use the table owner or a role with BYPASSRLS"
        )
    return message


def _copy_tables(
    main: psycopg.Connection,
    workers: list[psycopg.Connection],
    source: PsqlSource,
    tables: list[Table],
    root: Path,
    options: ExtractOptions,
    subset: SubsetPlan | None,
) -> list[ExtractedTable]:
    def one(conn: psycopg.Connection, table: Table) -> ExtractedTable:
        # the catalog's estimate gives an ETA; a subset's share of the table is unknown
        estimate = None if subset and subset.where(table) is not None else table.est_rows
        try:
            with options.reporter.table_progress(
                "extract", table.qualified, total_rows=estimate
            ) as progress:
                return _extract_table(conn, source, table, root, options, subset, progress)
        except (psycopg.Error, CopyFailed) as exc:
            raise SnapshotError(
                f"extract of table {table.qualified} failed: {_explain(exc)}"
            ) from None
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise SnapshotError(f"extract of table {table.qualified} failed: {exc}") from None

    jobs = max(1, min(options.jobs, len(tables)))
    if jobs == 1:
        return [one(main, t) for t in tables]
    for _ in range(jobs):
        conn = connect(source.dsn, role="source")
        _begin_snapshot(conn, source.snapshot_id)
        workers.append(conn)
    free = list(workers)
    lock = threading.Lock()

    def job(table: Table) -> ExtractedTable:
        with lock:
            conn = free.pop()
        try:
            return one(conn, table)
        finally:
            with lock:
                free.append(conn)

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="extract")
    futures = [pool.submit(job, t) for t in tables]
    try:
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for fut in done:
            exc = fut.exception()
            if exc is not None:
                raise exc if isinstance(exc, AnonymiserError) else SnapshotError(str(exc))
    except BaseException:
        # a failed table or Ctrl-C: stop the queued tables and cancel the running COPYs
        pool.shutdown(wait=False, cancel_futures=True)
        source.kill_all()
        for conn in workers:
            with contextlib.suppress(psycopg.Error):
                conn.cancel_safe(timeout=5)
        wait(futures, timeout=30)
        raise
    pool.shutdown(wait=True)
    return [f.result() for f in futures]
