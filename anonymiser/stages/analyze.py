"""ANALYZE after a restore's commit: every restored table, matview and partitioned parent."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from typing import Any

import psycopg
from psycopg import sql

from anonymiser.errors import AnonymiserError
from anonymiser.manifest import Manifest, TableEntry
from anonymiser.pg.connect import connect, dsn_for_display, first_line

__all__ = ["analyze"]

# part of the restore: its warnings keep the logger name they had (a field of --log-format json)
log = logging.getLogger("anonymiser.stages.restore")

_ANALYZE_FAILED = (
    "ANALYZE after the restore into %s failed (the data is restored and committed; "
    "statistics will come from autovacuum or a manual ANALYZE): %s"
)


def analyze(target_dsn: str, manifest: Manifest, jobs: int) -> None:
    """ANALYZE every restored table and materialized view, and the partitioned tables above
    them, each leaf partition once, the largest first, over `jobs` connections.

    It runs after the commit: statistics are not part of the all-or-nothing load, and
    outside the transaction the tables can be analyzed in parallel. A failure here leaves
    the restored data complete, so it is logged, not raised: autovacuum will analyze later.
    Autovacuum never analyzes a partitioned table itself (it holds no rows), so its
    statistics, which the planner uses for joins over the whole table, come from here.
    """
    tables = sorted(manifest.tables, key=lambda t: -t.rows)
    units = [((t.schema, t.name), False) for t in tables]
    units += [((schema, name), False) for schema, name in manifest.matviews]
    pending: deque[tuple[tuple[str, str], bool]] = deque()
    lock = threading.Lock()

    def work(conn: psycopg.Connection[Any]) -> None:
        while True:
            with lock:
                if not pending:
                    return
                (schema, name), only = pending.popleft()
            statement = "ANALYZE ONLY {}" if only else "ANALYZE {}"
            conn.execute(sql.SQL(statement).format(sql.Identifier(schema, name)))

    def worker(conn: psycopg.Connection[Any] | None = None) -> None:
        try:
            with contextlib.closing(conn or connect(target_dsn, role="target")) as open_conn:
                work(open_conn)
        except (psycopg.Error, AnonymiserError) as exc:
            log.warning(_ANALYZE_FAILED, dsn_for_display(target_dsn), first_line(exc))

    try:
        first = connect(target_dsn, role="target")
    except AnonymiserError as exc:
        log.warning(_ANALYZE_FAILED, dsn_for_display(target_dsn), first_line(exc))
        return
    try:
        pending.extend(_analyze_units(first, tables, units))
    except psycopg.Error as exc:  # the tables' own statistics still come
        log.warning("ANALYZE of partitioned tables skipped: %s", first_line(exc))
        pending.extend(units)
    count = max(1, min(jobs, len(pending)))
    threads = [threading.Thread(target=worker, name=f"analyze-{i}") for i in range(1, count)]
    for thread in threads:
        thread.start()
    worker(first)
    for thread in threads:
        thread.join()


def _analyze_units(
    conn: psycopg.Connection[Any],
    tables: list[TableEntry],
    units: list[tuple[tuple[str, str], bool]],
) -> list[tuple[tuple[str, str], bool]]:
    """What to ANALYZE, largest first, as ((schema, name), only) with `only` for ANALYZE ONLY.

    ANALYZE of a partitioned table also analyzes every partition below it, so analyzing the
    partitions as well would do them twice (a third of a restore's ANALYZE of the demo,
    whose audit log is partitioned). From PostgreSQL 18 a parent's own statistics come from
    ANALYZE ONLY and the partitions are analyzed in parallel; before 18 each outermost
    parent is analyzed, covering its partitions in one statement.
    """
    ancestors = _partition_ancestors(conn, [(t.schema, t.name) for t in tables])
    if not ancestors:
        return units
    version = int(conn.execute("SHOW server_version_num").fetchone()[0])  # type: ignore[index]
    if version >= 180000:
        parents = sorted({parent for chain in ancestors.values() for parent in chain})
        return units + [(parent, True) for parent in parents]
    rows = {(t.schema, t.name): t.rows for t in tables}
    sizes = dict.fromkeys(sorted({chain[-1] for chain in ancestors.values()}), 0)
    for table, chain in ancestors.items():
        sizes[chain[-1]] += rows.get(table, 0)
    sized = [(unit, rows.get(unit[0], 0)) for unit in units if unit[0] not in ancestors]
    sized += [((parent, False), size) for parent, size in sizes.items()]
    return [unit for unit, _ in sorted(sized, key=lambda item: -item[1])]


def _partition_ancestors(
    conn: psycopg.Connection[Any], tables: list[tuple[str, str]]
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Per restored table that is a partition, the partitioned tables above it, innermost
    first."""
    if not tables:
        return {}
    rows = conn.execute(
        """
        SELECT t.schema_name, t.table_name, n.nspname, c.relname
        FROM unnest(%s::text[], %s::text[]) AS t(schema_name, table_name)
        JOIN pg_catalog.pg_namespace tn ON tn.nspname = t.schema_name
        JOIN pg_catalog.pg_class tc ON tc.relnamespace = tn.oid AND tc.relname = t.table_name
        CROSS JOIN LATERAL pg_catalog.pg_partition_ancestors(tc.oid) WITH ORDINALITY
            AS a(relid, level)
        JOIN pg_catalog.pg_class c ON c.oid = a.relid AND c.relkind = 'p'
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        ORDER BY t.schema_name, t.table_name, a.level
        """,
        ([schema for schema, _ in tables], [name for _, name in tables]),
    ).fetchall()
    chains: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, name, parent_schema, parent in rows:
        chains.setdefault((schema, name), []).append((parent_schema, parent))
    return chains
