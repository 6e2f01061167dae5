"""Checks the server must evaluate: CHECK and domain constraints, expression/partial unique indexes.

The source is production, strictly read only (maybe a hot standby: no temporary tables).
So the masked values travel to it as arrays in a plain SELECT, one batch at a time:

    SELECT count(*) FILTER (WHERE NOT (<check>)) ...
    FROM (SELECT u.c0::<type> AS "col", ... FROM unnest(%s::text[], ...) AS u(c0, ...)) AS v

and the server evaluates each expression with its own functions, collations and operators;
nothing is written. A unique index over expressions or with a predicate has its key
expressions computed the same way, and duplicates are counted in Arrow. Only constraints
that mention a masked column are evaluated: those over kept columns held in the source and
still hold. A scratch database (a trial restore) was the alternative; it would cost about a
restore of the masked tables, against one round trip per 64k rows here.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from anonymiser.catalog import Index
from anonymiser.errors import SnapshotError
from anonymiser.maskers._pgarray import format_elements
from anonymiser.pg.connect import connect, first_line, without_values
from anonymiser.rules.plan import mentions
from anonymiser.stages.parts import ExtractedTable
from anonymiser.verify.constraints import duplicate_rows, nulls_distinct, plain_unique_keys
from anonymiser.verify.model import CheckResult, VerificationReport
from anonymiser.verify.output import Output, as_array, pg_text

__all__ = ["check_on_server", "constraint_expression"]

_COMMA = pa.scalar(",", pa.large_string())
_CHECK = re.compile(r"^CHECK\s*(.*?)(?:\s+NO INHERIT)?(?:\s+NOT VALID)?$", re.DOTALL)

_COLUMN_TYPES = """
WITH RECURSIVE chain(attname, top, oid, depth) AS (
    SELECT a.attname, a.atttypid, a.atttypid, 0 FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT c.attname, c.top, t.typbasetype, c.depth + 1
    FROM chain c JOIN pg_catalog.pg_type t ON t.oid = c.oid WHERE t.typtype = 'd'
)
SELECT c.attname,
       (SELECT pg_catalog.format_type(b.oid, NULL) FROM chain b
         WHERE b.attname = c.attname ORDER BY b.depth DESC LIMIT 1),
       (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = %s::regclass AND a.attname = c.attname),
       array(SELECT x.conname || ': ' || pg_catalog.pg_get_constraintdef(x.oid)
               FROM chain d JOIN pg_catalog.pg_constraint x ON x.contypid = d.oid
              WHERE d.attname = c.attname AND x.contype = 'c' AND x.convalidated),
       (SELECT bool_or(t.typnotnull) FROM chain d JOIN pg_catalog.pg_type t ON t.oid = d.oid
         WHERE d.attname = c.attname AND t.typtype = 'd'),
       (SELECT t.typtype = 'd' FROM pg_catalog.pg_type t WHERE t.oid = c.top),
       (SELECT pg_catalog.format('%%I.%%I', n.nspname, co.collname)
          FROM pg_catalog.pg_attribute a
          JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
          JOIN pg_catalog.pg_namespace n ON n.oid = co.collnamespace
         WHERE a.attrelid = %s::regclass AND a.attname = c.attname
           AND NOT co.collisdeterministic)
FROM chain c WHERE c.depth = 0
"""
_INDEX = """
SELECT pg_catalog.pg_get_expr(i.indpred, i.indrelid),
       array(SELECT pg_catalog.pg_get_indexdef(i.indexrelid, k, true)
               FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k)
FROM pg_catalog.pg_index i WHERE i.indexrelid = %s::regclass
"""


def constraint_expression(definition: str) -> str | None:
    """The boolean expression of a CHECK definition; None for one NOT VALID (not enforced)."""
    text = definition.strip()
    if text.upper().endswith("NOT VALID"):
        return None
    match = _CHECK.match(text)
    return match.group(1) if match else None


@dataclass
class _Work:
    """What one data table needs from the server."""

    item: ExtractedTable
    types: dict[str, str] = field(default_factory=dict)  # column -> type to cast to
    # (result, expression counting failing rows, columns it reads)
    counts: list[tuple[CheckResult, sql.Composable, set[str]]] = field(default_factory=list)
    indexes: list[tuple[CheckResult, Index, list[str], str | None, set[str]]] = field(
        default_factory=list
    )
    # unique indexes over citext or a nondeterministic collation: grouped by the server
    grouped: list[tuple[CheckResult, Index, list[str], str | None, set[str]]] = field(
        default_factory=list
    )


def check_on_server(output: Output, report: VerificationReport, source_dsn: str) -> None:
    """Evaluate CHECK, domain and expression/partial unique constraints touching masked columns."""
    todo = [
        (item, masked) for item in output.tables if (masked := output.masked_columns(item.table))
    ]
    if not todo:
        return
    with connect(source_dsn, role="source") as conn:
        conn.execute("SELECT pg_catalog.set_config('default_transaction_read_only', 'on', false)")
        for item, masked in todo:
            try:
                work = _plan(conn, output, item, set(masked), report)
            except psycopg.Error as exc:  # the table dropped since extract, a standby conflict
                raise SnapshotError(
                    f"verification could not read the constraints of {item.table.qualified} "
                    f"on the source server: {without_values(first_line(exc))}; run again"
                ) from None
            if work.counts or work.indexes or work.grouped:
                _evaluate(conn, output, work, report)


def _plan(
    conn: psycopg.Connection,
    output: Output,
    item: ExtractedTable,
    masked: set[str],
    report: VerificationReport,
) -> _Work:
    """What to ask the server about one table; checks that cannot run are reported skipped."""
    table = item.table
    work = _Work(item)
    stored = {c.name for c in table.copy_columns}
    for name, base, exact, domain_checks, domain_not_null, is_domain, collation in conn.execute(
        _COLUMN_TYPES, (table.qualified, table.qualified, table.qualified)
    ).fetchall():
        work.types[name] = base if is_domain else exact
        if collation is not None:  # the key's equality is the collation's
            work.types[name] += f" COLLATE {collation}"
        if name not in masked or not is_domain:
            continue
        rule = output.strategy(table, [name])
        column = sql.Identifier(name)
        for labelled in domain_checks:
            label, _, definition = labelled.partition(": ")
            expression = constraint_expression(definition)
            if expression is None:
                continue
            # VALUE inside a domain CHECK is the column's value: bind it through a subquery
            failing = sql.SQL("NOT (SELECT ({}) FROM (SELECT v.{}) AS dom(value))").format(
                sql.SQL(expression), column
            )
            result = CheckResult("domain", table.qualified, name, rule, detail=label)
            work.counts.append((result, failing, {name}))
        if domain_not_null:
            result = CheckResult("domain", table.qualified, name, rule, detail="NOT NULL")
            work.counts.append((result, sql.SQL("v.{} IS NULL").format(column), {name}))
    for definition in table.checks:
        expression = constraint_expression(definition)
        touched = sorted(c for c in masked if mentions(definition, c))
        if expression is None or not touched:
            continue
        result = CheckResult(
            "check",
            table.qualified,
            ",".join(touched),
            output.strategy(table, touched),
            detail=definition,
        )
        reads = {c for c in stored if mentions(definition, c)}
        if any(mentions(definition, c.name) for c in table.columns if c.is_generated):
            # a generated column is recomputed at restore from the masked columns; not in
            # the files, so its value here is unknown
            result.detail = f"skipped: reads a generated column: {definition}"
            report.add(result)
        elif not reads <= set(work.types):
            result.detail = f"skipped: a column it reads is not on the server: {definition}"
            report.add(result)
        else:
            work.counts.append((result, sql.SQL("NOT ({})").format(sql.SQL(expression)), reads))
    plain = {index.name for index, _ in plain_unique_keys(table)}
    for index in table.indexes:
        if not index.unique or index.name in plain:
            continue
        touched = sorted(c for c in masked if mentions(index.definition, c))
        if not touched:
            continue
        row = conn.execute(
            _INDEX,
            (
                f"{sql.Identifier(table.schema).as_string(conn)}.{sql.Identifier(index.name).as_string(conn)}",
            ),
        ).fetchone()
        if row is None:
            continue
        predicate, keys = row
        reads = {c for c in stored if mentions(index.definition, c)}
        result = CheckResult(
            "unique",
            table.qualified,
            ",".join(touched),
            output.strategy(table, touched),
            detail=index.name,
        )
        inexact = any(not c.bytewise_equal for c in table.columns if c.name in reads)
        (work.grouped if inexact else work.indexes).append(
            (result, index, list(keys), predicate, reads)
        )
    return work


def _array_literal(values: list[pa.Array]) -> str:
    """The values as PostgreSQL's text of a one-dimensional array ('{"a b",NULL}'), built
    in Arrow: psycopg adapts a list value by value in Python (~1 us each, most of this
    check's client CPU at a million rows)."""
    # each batch formatted alone, then joined as large_string: a whole table's keys (the
    # server's GROUP BY of citext keys) may pass 2 GiB
    formatted = [format_elements(as_array(pg_text(v))).cast(pa.large_string()) for v in values]
    elements = as_array(pa.chunked_array(formatted, pa.large_string()))
    bounds = pa.array([0, len(elements)], pa.int64())
    joined = pc.binary_join(pa.LargeListArray.from_arrays(bounds, elements), _COMMA)
    text: str = joined[0].as_py()
    return "{" + text + "}"


def _relation(columns: list[str], types: dict[str, str]) -> sql.Composable:
    """The batch as a relation `v` of typed columns named as in the table."""
    return sql.SQL("(SELECT {} FROM unnest({}) AS u({})) AS v").format(
        sql.SQL(", ").join(
            sql.SQL("u.{}::{} AS {}").format(
                sql.Identifier(f"c{i}"), sql.SQL(types[c]), sql.Identifier(c)
            )
            for i, c in enumerate(columns)
        ),
        sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in columns),
        sql.SQL(", ").join(sql.Identifier(f"c{i}") for i in range(len(columns))),
    )


def _evaluate(
    conn: psycopg.Connection, output: Output, work: _Work, report: VerificationReport
) -> None:
    started = time.monotonic()
    table = work.item.table
    columns = sorted(
        set().union(
            *(r for *_, r in work.counts),
            *(r for *_, r in work.indexes),
            *(r for *_, r in work.grouped),
        )
    )
    relation = _relation(columns, work.types)
    count_query = (
        sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(
                sql.SQL("count(*) FILTER (WHERE {})").format(f) for _, f, _ in work.counts
            ),
            relation,
        )
        if work.counts
        else None
    )
    keys: list[list[pa.Table]] = [[] for _ in work.indexes]
    paths = output.masked_paths(work.item)
    failed: str | None = None
    whole: list[list[pa.Array]] = [[] for _ in columns]  # for work.grouped
    for batch in output.batches(paths, columns):
        params = [_array_literal([batch.column(c)]) for c in columns]
        if work.grouped:
            for values, column in zip(whole, columns, strict=True):
                values.append(batch.column(column))
        try:
            if count_query is not None:
                counts = conn.execute(count_query, params).fetchone() or ()
                for (result, _, _), failing in zip(work.counts, counts, strict=True):
                    result.checked += batch.num_rows
                    result.failures += int(failing)
            for (result, _, exprs, predicate, _), found in zip(work.indexes, keys, strict=True):
                names = [f"k{i}" for i in range(len(exprs))]
                query = sql.SQL("SELECT {} FROM {}{}").format(
                    sql.SQL(", ").join(
                        sql.SQL("({})::text AS {}").format(sql.SQL(e), sql.Identifier(n))
                        for e, n in zip(exprs, names, strict=True)
                    ),
                    relation,
                    sql.SQL(" WHERE {}").format(sql.SQL(predicate)) if predicate else sql.SQL(""),
                )
                rows = conn.execute(query, params).fetchall()
                result.checked += len(rows)
                found.append(
                    pa.table(
                        {
                            n: pa.array([r[i] for r in rows], pa.string())
                            for i, n in enumerate(names)
                        }
                    )
                )
        except psycopg.Error as exc:  # a masked value the column type or an expression refuses
            failed = without_values(first_line(exc))
            break
    if failed is None:
        try:
            for result, index, exprs, predicate, _ in work.grouped:
                params = [_array_literal(values) for values in whole]
                _count_duplicates(conn, relation, params, result, index, exprs, predicate)
        except psycopg.Error as exc:
            failed = without_values(first_line(exc))
    for (result, index, exprs, _, _), found in zip(work.indexes, keys, strict=True):
        if found:
            names = [f"k{i}" for i in range(len(exprs))]
            result.failures = duplicate_rows(
                pa.concat_tables(found), names, drop_nulls=nulls_distinct(index)
            )
        if result.failures:
            result.detail = f"{index.name}: duplicate values"
    results = [c[0] for c in work.counts] + [i[0] for i in (*work.indexes, *work.grouped)]
    for result in results:
        result.seconds = (time.monotonic() - started) / len(results)
        if failed is not None:
            result.failures = max(result.failures, 1)
            result.detail = (
                f"the source server refused the masked values of {table.qualified}: {failed}"
            )
        report.add(result)


def _count_duplicates(
    conn: psycopg.Connection,
    relation: sql.Composable,
    params: list[str],
    result: CheckResult,
    index: Index,
    exprs: list[str],
    predicate: str | None,
) -> None:
    """Duplicate keys of the whole table by the server's own equality (citext, collations).

    Every key of the table travels in one statement: rows equal under a case- or
    accent-insensitive equality may sit in different batches.
    """
    names = [sql.Identifier(f"k{i}") for i in range(len(exprs))]
    keys = sql.SQL("SELECT {} FROM {}{}").format(
        sql.SQL(", ").join(
            sql.SQL("({}) AS {}").format(sql.SQL(e), n) for e, n in zip(exprs, names, strict=True)
        ),
        relation,
        sql.SQL(" WHERE {}").format(sql.SQL(predicate)) if predicate else sql.SQL(""),
    )
    no_null = sql.SQL(" WHERE {}").format(
        sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(n) for n in names)
    )
    query = sql.SQL(
        "SELECT coalesce(sum(n - 1), 0), coalesce(sum(n), 0) FROM "
        "(SELECT count(*) AS n FROM ({}) AS x{} GROUP BY {}) AS g"
    ).format(keys, no_null if nulls_distinct(index) else sql.SQL(""), sql.SQL(", ").join(names))
    duplicates, rows = conn.execute(query, params).fetchone() or (0, 0)
    result.checked, result.failures = int(rows), int(duplicates)
    if result.failures:
        result.detail = f"{index.name}: duplicate values"
