"""Restore: verify a snapshot's files, then rebuild schema and data in ONE target transaction.

Order, as pg_restore: pre-data DDL, COPY of every table (FREEZE: the tables are new in this
transaction), post-data DDL (constraints, indexes, triggers), sequences, matview refresh.
Everything happens inside one transaction, so any failure, a lost connection included,
leaves the target exactly as it was. ANALYZE follows the commit, in parallel (stages/analyze.py).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pyarrow as pa
from psycopg import sql

from anonymiser.catalog import Catalog, Sequence, qualified_name
from anonymiser.errors import AnonymiserError, RestoreError, TargetNotEmpty
from anonymiser.guard import check_target
from anonymiser.manifest import Manifest, TableEntry
from anonymiser.pg.connect import connect, dsn_for_display, first_line
from anonymiser.pg.ddl import split_statements
from anonymiser.pg.writer import copy_batches_into
from anonymiser.progress import NULL_REPORTER, Reporter, TableProgress
from anonymiser.stages.analyze import analyze
from anonymiser.stages.fetch import fetch_and_verify
from anonymiser.stages.readahead import TableReader
from anonymiser.stores import Store

__all__ = ["RestoreOptions", "RestoreReport", "restore"]

_LOCK_KEY = "anonymiser:restore"
_USER_OBJECTS = """
SELECT kind, name FROM (
  SELECT 'relation' AS kind, format('%I.%I', n.nspname, c.relname) AS name, c.oid AS oid,
         'pg_class'::regclass AS classid
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r','p','v','m','S','f','c')
  UNION ALL
  SELECT 'type', format('%I.%I', n.nspname, t.typname), t.oid, 'pg_type'::regclass
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
   WHERE t.typtype IN ('e','d','r','m','b') AND t.typelem = 0
  UNION ALL
  SELECT 'function', format('%I.%I', n.nspname, p.proname), p.oid, 'pg_proc'::regclass
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  UNION ALL
  SELECT 'schema', format('%I', n.nspname), n.oid, 'pg_namespace'::regclass
    FROM pg_namespace n WHERE n.nspname <> 'public'
) o
WHERE split_part(name, '.', 1) NOT IN ('pg_catalog', 'information_schema')
  AND name !~ '^"?pg_(toast|temp)'
  AND name NOT IN ('pg_catalog', 'information_schema')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = o.classid AND d.objid = o.oid
                  AND d.deptype = 'e')
ORDER BY kind, name
LIMIT 6
"""


@dataclass
class RestoreOptions:
    clean: bool = False
    jobs: int = 1
    allow_production: bool = False  # skip the production guard (logged)
    analyze: bool = True  # ANALYZE after the commit (pg_restore does not)
    reporter: Reporter = field(default=NULL_REPORTER, repr=False, compare=False)


@dataclass
class RestoreReport:
    tables: int = 0
    rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


class _Step:
    """Names the step under way, so a failure message says what was being done."""

    def __init__(self) -> None:
        self.what = "connecting"


def _run_script(conn: psycopg.Connection, script: str, section: str, step: _Step) -> None:
    for number, statement in enumerate(split_statements(script), start=1):
        summary = " ".join(statement.split())[:80]
        step.what = f"{section} statement {number} ({summary})"
        conn.execute(statement)


def _ensure_empty(conn: psycopg.Connection, target_dsn: str) -> None:
    found = conn.execute(_USER_OBJECTS).fetchall()
    if found:
        listed = ", ".join(f"{kind} {name}" for kind, name in found[:5])
        raise TargetNotEmpty(
            f"target {dsn_for_display(target_dsn)} is not empty ({listed}"
            f"{', ...' if len(found) > 5 else ''}); restore into an empty database or pass "
            "--clean to replace the snapshot's objects"
        )


def _load_table(
    conn: psycopg.Connection,
    table: TableEntry,
    reader: TableReader | None,
    progress: TableProgress,
) -> None:
    if reader is None:  # a table without columns: only its row count
        conn.execute(
            sql.SQL("INSERT INTO {} SELECT FROM generate_series(1, %s)").format(
                sql.Identifier(table.schema, table.name)
            ),
            (table.rows,),
        )
        progress.advance(rows=table.rows)
        return

    def counted() -> Iterator[bytes]:
        for chunk in reader:
            progress.advance(chunk.rows, chunk.arrow_bytes)
            yield chunk.text

    columns = [c["name"] for c in table.columns]
    copy_batches_into(conn, table.schema, table.name, columns, counted(), freeze=True)


def _readers(
    tables: list[TableEntry], paths: dict[str, Path], jobs: int
) -> Generator[TableReader | None]:
    """Each table's reader (None without columns), the next one started before it is
    handed out; all are closed when this is (a failed load included)."""

    def start(table: TableEntry) -> TableReader | None:
        return TableReader(table.files, paths, jobs) if table.columns else None

    upcoming = start(tables[0]) if tables else None
    current: TableReader | None = None
    try:
        for index in range(len(tables)):
            current, upcoming = upcoming, None
            if index + 1 < len(tables):
                upcoming = start(tables[index + 1])
            yield current
            if current is not None:
                current.close()
    finally:
        for reader in (current, upcoming):
            if reader is not None:
                reader.close()


def _tune_transaction(conn: psycopg.Connection, jobs: int) -> None:
    """Settings for the restore transaction alone (SET LOCAL).

    Index builds in parallel workers are the one way --jobs helps inside one transaction.
    More maintenance_work_mem (or work_mem for the foreign-key checks) was measured and did
    not pay: with more memory the planner gives index builds more workers, which on a busy
    server costs more CPU than it saves (docs/performance-history.md, "Restore against
    pg_restore").
    """
    if jobs > 1:
        conn.execute(
            "SELECT set_config('max_parallel_maintenance_workers', %s, true)",
            (str(min(jobs - 1, 8)),),
        )


def _largest_id(
    conn: psycopg.Connection, seq: Sequence | None, catalog: Catalog, restored: set[str]
) -> int | None:
    """max() of the integer column an ascending sequence feeds, if that table was restored."""
    if seq is None or seq.owned_by is None or seq.increment <= 0:
        return None
    owner = catalog.tables.get(seq.owned_by)
    if owner is None or not (owner.qualified in restored or owner.kind == "partitioned"):
        return None
    column = next((c for c in owner.columns if c.name == seq.owned_column), None)
    if column is None or column.base_type not in ("int2", "int4", "int8"):
        return None
    row = conn.execute(
        sql.SQL("SELECT max({}) FROM {}").format(
            sql.Identifier(column.name), sql.Identifier(owner.schema, owner.name)
        )
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _set_sequences(conn: psycopg.Connection, manifest: Manifest, catalog: Catalog) -> None:
    restored = {t.qualified for t in manifest.tables}
    by_name = {s.qualified: s for s in catalog.sequences}
    for state in manifest.sequences:
        value, called = state.last_value, state.is_called
        top = _largest_id(
            conn, by_name.get(qualified_name(state.schema, state.name)), catalog, restored
        )
        if top is not None and (top > value or (top == value and not called)):
            value, called = top, True  # never hand out an id already in use
        conn.execute(
            "SELECT pg_catalog.setval(%s::regclass, %s, %s)",
            (sql.Identifier(state.schema, state.name).as_string(conn), value, called),
        )


def restore(
    manifest: Manifest, store: Store, target_dsn: str, options: RestoreOptions
) -> RestoreReport:
    report = RestoreReport()
    timer = time.monotonic()
    # the production guard comes before any download: a refused target costs nothing
    with contextlib.closing(connect(target_dsn, role="target")) as probe:
        try:
            check_target(probe, target_dsn, manifest, allow_production=options.allow_production)
        except psycopg.Error as exc:
            raise RestoreError(
                f"cannot inspect the target {dsn_for_display(target_dsn)}: {first_line(exc)}"
            ) from None
    with tempfile.TemporaryDirectory(prefix="anonymiser-restore-") as cache_dir:
        with options.reporter.stage("fetch"):
            paths = fetch_and_verify(manifest, store, Path(cache_dir), options.reporter)
        report.seconds["verify"] = time.monotonic() - timer
        catalog = manifest.get_catalog()
        conn = connect(target_dsn, role="target")
        step = _Step()
        try:
            step.what = "starting the restore transaction"
            conn.execute("BEGIN")
            got = conn.execute(
                "SELECT pg_try_advisory_xact_lock(hashtext(%s))", (_LOCK_KEY,)
            ).fetchone()
            if not got or not got[0]:
                raise RestoreError(
                    f"another restore into {dsn_for_display(target_dsn)} is running; try again "
                    "when it has finished"
                )
            _tune_transaction(conn, options.jobs)
            phase = time.monotonic()
            if options.clean:
                _run_script(
                    conn,
                    (Path(paths[manifest.schema_files["clean"].path])).read_text(),
                    "clean",
                    step,
                )
            else:
                step.what = "checking the target is empty"
                _ensure_empty(conn, target_dsn)
            _run_script(
                conn, paths[manifest.schema_files["pre_data"].path].read_text(), "pre-data", step
            )
            report.seconds["schema"] = time.monotonic() - phase
            phase = time.monotonic()
            # closed explicitly: a failed COPY's traceback, kept by a caller, would keep the
            # readers (threads, batches, open files) alive
            with contextlib.closing(_readers(manifest.tables, paths, options.jobs)) as readers:
                for table, reader in zip(manifest.tables, readers, strict=True):
                    step.what = f"loading table {table.qualified}"
                    with options.reporter.table_progress(
                        "restore", table.qualified, total_rows=table.rows
                    ) as progress:
                        _load_table(conn, table, reader, progress)
                    report.tables += 1
                    report.rows += table.rows
            report.seconds["load"] = time.monotonic() - phase
            phase = time.monotonic()
            _run_script(
                conn, paths[manifest.schema_files["post_data"].path].read_text(), "post-data", step
            )
            report.seconds["constraints"] = time.monotonic() - phase
            phase = time.monotonic()
            step.what = "setting sequences"
            _set_sequences(conn, manifest, catalog)
            for schema, name in manifest.matviews:
                mv = catalog.tables.get(qualified_name(schema, name))
                if mv is None or mv.populated:
                    step.what = f"refreshing materialized view {schema}.{name}"
                    conn.execute(
                        sql.SQL("REFRESH MATERIALIZED VIEW {}").format(sql.Identifier(schema, name))
                    )
            step.what = "committing"
            conn.execute("COMMIT")
            report.seconds["finish"] = time.monotonic() - phase
        except (psycopg.Error, AnonymiserError, OSError, pa.ArrowException) as exc:
            # if the connection is gone the server has rolled the transaction back already
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
            if isinstance(exc, RestoreError):
                raise
            reason = first_line(exc) if isinstance(exc, psycopg.Error) else str(exc)
            outcome = "nothing was changed in the target"
            if step.what == "committing" and isinstance(exc, psycopg.OperationalError):
                outcome = (
                    "the connection was lost during COMMIT: check whether the target "
                    "holds the snapshot"
                )
            raise RestoreError(
                f"restore into {dsn_for_display(target_dsn)} failed while {step.what}: {reason}; "
                f"{outcome}"
            ) from None
        finally:
            conn.close()
    if options.analyze:
        phase = time.monotonic()
        analyze(target_dsn, manifest, options.jobs)
        report.seconds["analyze"] = time.monotonic() - phase
    report.seconds["total"] = time.monotonic() - timer
    return report
