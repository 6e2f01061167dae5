"""Extract: every table of a dataset out of one read-only repeatable-read snapshot into Parquet.

One connection opens the transaction and exports its snapshot; `jobs` worker connections
import it with SET TRANSACTION SNAPSHOT, so every table and pg_dump's DDL see the same
instant. Each table streams COPY -> Arrow -> zstd Parquet parts in a work directory
(stages/parts.py).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pyarrow as pa
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
    CopyFailed,
    PsqlSource,
)
from anonymiser.pg.tools import find_pg_tool
from anonymiser.progress import NULL_REPORTER, Reporter
from anonymiser.stages.parts import DEFAULT_PART_BYTES, ExtractedTable, extract_table
from anonymiser.subset.closure import SubsetPlan, plan_subset

__all__ = ["ExtractOptions", "Extracted", "extract"]

log = logging.getLogger(__name__)


@dataclass
class ExtractOptions:
    jobs: int = 1
    block_size: int = DEFAULT_BLOCK_SIZE
    part_bytes: int = DEFAULT_PART_BYTES
    compression: str = "zstd"
    reporter: Reporter = field(default=NULL_REPORTER, repr=False, compare=False)


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


def _begin_snapshot(conn: psycopg.Connection, snapshot_id: str | None) -> None:
    conn.execute("SET idle_in_transaction_session_timeout = 0")
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    # A subset's recursive closure query has huge cost estimates, which would make the
    # server spend seconds JIT-compiling it for each table; plain COPYs gain nothing from JIT.
    conn.execute("SET LOCAL jit = off")
    if snapshot_id:
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot_id)))


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
                return extract_table(conn, source, table, root, options, subset, progress)
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
