"""Assertions that two PostgreSQL databases hold the same schema, data and sequence positions.

The two databases may live on different servers, so data is compared by pulling each target
table into a temporary table of the source session (text COPY, which every type supports and
which is lossless) and running EXCEPT ALL both ways there. Rows are compared by their text form
(`ROW(...)::text`), which is stricter than `=`: it tells 1.5 from 1.50, -0 from 0, '36:00:00'
from '1 day 12:00:00', and works for types without an equality operator (json, xml, point...).
"""

from __future__ import annotations

import difflib
import re
import subprocess
from dataclasses import dataclass

import psycopg
from psycopg import sql

from anonymiser.pg.tools import find_pg_tool

__all__ = [
    "assert_same_data",
    "assert_same_schema",
    "assert_same_sequence_positions",
    "assert_sequences_do_not_collide",
    "dump_schema",
    "list_relations",
]

# Both sessions print values the same way, whatever the databases' own defaults.
_SESSION_SETUP = (
    "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres';"
    " SET extra_float_digits = 1; SET bytea_output = 'hex'; SET lc_monetary = 'C';"
    " SET xmloption = content; SET client_encoding = 'UTF8'"
)
_USER_SCHEMAS = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
)
_SAMPLE_ROWS = 3
_SAMPLE_CHARS = 300


def _connect(dsn: str) -> psycopg.Connection:
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute(_SESSION_SETUP)
    return conn


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str
    kind: str  # pg_class.relkind: 'r' table or partition, 'm' materialized view
    columns: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)


def list_relations(conn: psycopg.Connection) -> dict[str, Relation]:
    """Every user table, leaf partition and materialized view, by 'schema.name'."""
    rows = conn.execute(
        f"""
        SELECT n.nspname, c.relname, c.relkind,
               coalesce(array_agg(a.attname ORDER BY a.attnum)
                        FILTER (WHERE a.attnum > 0 AND NOT a.attisdropped), '{{}}')
        FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        LEFT JOIN pg_attribute AS a ON a.attrelid = c.oid
        WHERE c.relkind IN ('r', 'm') AND {_USER_SCHEMAS}
        GROUP BY n.nspname, c.relname, c.relkind
        ORDER BY 1, 2
        """
    ).fetchall()
    return {
        f"{schema}.{name}": Relation(schema, name, kind, tuple(columns))
        for schema, name, kind, columns in rows
    }


def _row_text(columns: tuple[str, ...], alias: str) -> sql.Composable:
    fields = sql.SQL(", ").join(sql.Identifier(alias, c) for c in columns)
    return sql.SQL("ROW({})::text").format(fields)


def _short(value: str | None) -> str:
    text = repr(value)
    return text if len(text) <= _SAMPLE_CHARS else text[:_SAMPLE_CHARS] + "..."


def _compare_relation(
    src: psycopg.Connection, tgt: psycopg.Connection, rel: Relation, tgt_rel: Relation
) -> str | None:
    """None when equal, else a description of the difference."""
    if set(rel.columns) != set(tgt_rel.columns):
        return (
            f"{rel.label}: columns differ: source {list(rel.columns)}, "
            f"target {list(tgt_rel.columns)}"
        )
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in rel.columns)
    scratch = sql.Identifier("cmp_scratch")
    src.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(scratch))
    src.execute(
        sql.SQL("CREATE TEMP TABLE {} AS SELECT {} FROM ONLY {} WITH NO DATA").format(
            scratch, cols, rel.ident
        )
    )
    copy_out = sql.SQL("COPY (SELECT {} FROM ONLY {}) TO STDOUT").format(cols, rel.ident)
    copy_in = sql.SQL("COPY {} ({}) FROM STDIN").format(scratch, cols)
    try:
        with tgt.cursor().copy(copy_out) as out, src.cursor().copy(copy_in) as into:
            for chunk in out:
                into.write(chunk)
    except psycopg.Error as exc:
        return f"{rel.label}: could not read the target's rows into the source: {exc}".strip()

    src_rows = sql.SQL("SELECT {} AS r FROM ONLY {} AS s").format(
        _row_text(rel.columns, "s"), rel.ident
    )
    tgt_rows = sql.SQL("SELECT {} AS r FROM {} AS s").format(_row_text(rel.columns, "s"), scratch)
    counts, samples = [], []
    for left, right in ((src_rows, tgt_rows), (tgt_rows, src_rows)):
        diff = sql.SQL("({}) EXCEPT ALL ({})").format(left, right)
        count = src.execute(sql.SQL("SELECT count(*) FROM ({}) AS d").format(diff)).fetchone()
        assert count is not None
        counts.append(count[0])
        samples.append(
            [
                r[0]
                for r in src.execute(
                    sql.SQL("SELECT r FROM ({}) AS d ORDER BY r LIMIT {}").format(
                        diff, sql.Literal(_SAMPLE_ROWS)
                    )
                )
            ]
        )
    src.execute(sql.SQL("DROP TABLE pg_temp.{}").format(scratch))
    if not any(counts):
        return None
    return (
        f"{rel.label}: {counts[0]} row(s) only in source, {counts[1]} only in target; "
        + _describe(rel.columns, samples[0], samples[1])
    )


def _parse_record(text: str) -> list[str | None]:
    """The fields of a record's text form (record_out's inverse); an empty field is NULL."""
    fields: list[str | None] = []
    i, body = 0, text[1:-1]
    while True:
        if i >= len(body) or body[i] == ",":
            fields.append(None)
        elif body[i] == '"':
            chars, i = [], i + 1
            while i < len(body):
                if body[i] == "\\" or (body[i] == '"' and body[i + 1 : i + 2] == '"'):
                    chars.append(body[i + 1])
                    i += 2
                elif body[i] == '"':
                    i += 1
                    break
                else:
                    chars.append(body[i])
                    i += 1
            fields.append("".join(chars))
        else:
            end = body.find(",", i)
            end = len(body) if end < 0 else end
            fields.append(body[i:end])
            i = end
        if i >= len(body):
            return fields
        i += 1  # the comma


def _describe(columns: tuple[str, ...], only_src: list[str], only_tgt: list[str]) -> str:
    """Sample differences; rows agreeing on their first column are shown column by column."""
    parts, unmatched = [], list(only_tgt)
    for row in only_src:
        fields = _parse_record(row)
        twin = next((t for t in unmatched if _parse_record(t)[:1] == fields[:1]), None)
        if twin is None:
            parts.append(f"only in source: {_short(row)}")
            continue
        unmatched.remove(twin)
        changed = [
            f"{col}: source {_short(a)} target {_short(b)}"
            for col, a, b in zip(columns, fields, _parse_record(twin), strict=False)
            if a != b
        ]
        parts.append(f"{columns[0]}={fields[0]}: " + ", ".join(changed))
    parts += [f"only in target: {_short(row)}" for row in unmatched]
    return "; ".join(parts)


def assert_same_data(source_dsn: str, target_dsn: str) -> None:
    """Every table, leaf partition and materialized view holds the same multiset of rows.

    Leaf partitions are compared one by one (never through their parent), so a row restored
    into the wrong partition shows up as a difference.
    """
    with _connect(source_dsn) as src, _connect(target_dsn) as tgt:
        src_rels, tgt_rels = list_relations(src), list_relations(tgt)
        problems = []
        missing = sorted(set(src_rels) - set(tgt_rels))
        extra = sorted(set(tgt_rels) - set(src_rels))
        if missing:
            problems.append(f"missing in target: {', '.join(missing)}")
        if extra:
            problems.append(f"only in target: {', '.join(extra)}")
        for label, rel in src_rels.items():
            if label in tgt_rels:
                problem = _compare_relation(src, tgt, rel, tgt_rels[label])
                if problem:
                    problems.append(problem)
    assert not problems, "data differs:\n  " + "\n  ".join(problems)


# ------------------------------------------------------------------------------- schema ----------

# comments, SET lines, search_path resets and pg_dump's \restrict lines (random keys)
_NOISE = re.compile(
    r"^(--|SET |SELECT pg_catalog\.set_config\('search_path'|\\restrict |\\unrestrict )"
)


def dump_schema(dsn: str) -> list[str]:
    """`pg_dump --schema-only` of the database, without comments, SET lines or restrict keys."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        major = conn.info.server_version // 10000
    pg_dump = find_pg_tool("pg_dump", major)
    done = subprocess.run(
        [str(pg_dump), "--schema-only", "--no-owner", "--no-privileges", "--dbname", dsn],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"pg_dump failed: {done.stderr.strip()}"
    return [line for line in done.stdout.splitlines() if line.strip() and not _NOISE.match(line)]


def assert_same_schema(source_dsn: str, target_dsn: str) -> None:
    """The normalised `pg_dump --schema-only` output of both databases is identical."""
    source, target = dump_schema(source_dsn), dump_schema(target_dsn)
    if source != target:
        diff = "\n".join(difflib.unified_diff(source, target, "source", "target", lineterm=""))
        raise AssertionError(f"schema differs (pg_dump --schema-only):\n{diff}")


# ------------------------------------------------------------------------------- sequences -------

_SEQUENCES = f"""
    SELECT n.nspname, s.relname, q.seqincrement, q.seqstart,
           owner_n.nspname, owner.relname, a.attname
    FROM pg_class AS s
    JOIN pg_namespace AS n ON n.oid = s.relnamespace
    JOIN pg_sequence AS q ON q.seqrelid = s.oid
    LEFT JOIN pg_depend AS d
           ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
          AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    LEFT JOIN pg_class AS owner ON owner.oid = d.refobjid
    LEFT JOIN pg_namespace AS owner_n ON owner_n.oid = owner.relnamespace
    LEFT JOIN pg_attribute AS a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    WHERE s.relkind = 'S' AND {_USER_SCHEMAS}
    ORDER BY 1, 2
"""


@dataclass(frozen=True)
class Sequence:
    schema: str
    name: str
    increment: int
    owner_schema: str | None
    owner_table: str | None
    owner_column: str | None
    next_value: int

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"


def _sequences(conn: psycopg.Connection) -> dict[str, Sequence]:
    found = {}
    for schema, name, inc, _start, o_schema, o_table, o_col in conn.execute(_SEQUENCES):
        row = conn.execute(
            sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(schema, name))
        ).fetchone()
        assert row is not None
        last_value, is_called = row
        seq = Sequence(
            schema,
            name,
            inc,
            o_schema,
            o_table,
            o_col,
            last_value + inc if is_called else last_value,
        )
        found[seq.label] = seq
    return found


def assert_same_sequence_positions(source_dsn: str, target_dsn: str) -> None:
    """Standalone sequences continue exactly where the source's do; owned ones no earlier.

    An owned (serial/identity) sequence may legitimately be set past max(column) rather than
    copied, but it must never hand out a value the source has already handed out.
    """
    with _connect(source_dsn) as src, _connect(target_dsn) as tgt:
        source, target = _sequences(src), _sequences(tgt)
    problems = []
    if set(source) != set(target):
        problems.append(f"sequences differ: source {sorted(source)}, target {sorted(target)}")
    for label, s in source.items():
        t = target.get(label)
        if t is None:
            continue
        if s.owner_table is None and t.next_value != s.next_value:
            problems.append(
                f"{label} (standalone): next value {t.next_value} in target, "
                f"{s.next_value} in source"
            )
        ahead = (t.next_value - s.next_value) * (1 if s.increment > 0 else -1)
        if s.owner_table is not None and ahead < 0:
            problems.append(
                f"{label} (owned by {s.owner_table}.{s.owner_column}): next value "
                f"{t.next_value} in target is behind the source's {s.next_value}"
            )
    assert not problems, "sequence positions differ:\n  " + "\n  ".join(problems)


def _insert_with_defaults(
    conn: psycopg.Connection, seq: Sequence, owned_columns: set[str]
) -> str | None:
    """Insert a copy of an existing row letting the owned sequence(s) fill the key; rolled back.

    Unique constraints not involving a sequence column are dropped first (inside the same,
    rolled-back transaction) so the copied row can only clash where the sequence would.
    Returns a problem description or None.
    """
    table = sql.Identifier(seq.owner_schema or "", seq.owner_table or "")
    assert seq.owner_column is not None
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL session_replication_role = replica")  # no FK/user triggers
        uniques = conn.execute(
            """
            SELECT i.indexrelid::regclass::text, con.conname,
                   ARRAY(SELECT a.attname FROM pg_attribute AS a
                         WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey))
            FROM pg_index AS i
            LEFT JOIN pg_constraint AS con ON con.conindid = i.indexrelid
                                           AND con.conrelid = i.indrelid
            WHERE i.indrelid = %s::regclass AND i.indisunique
            """,
            [table.as_string(conn)],
        ).fetchall()
        for index, constraint, index_columns in uniques:
            if owned_columns & set(index_columns):
                continue
            if constraint:
                conn.execute(
                    sql.SQL("ALTER TABLE {} DROP CONSTRAINT {} CASCADE").format(
                        table, sql.Identifier(constraint)
                    )
                )
            else:
                conn.execute(sql.SQL("DROP INDEX {} CASCADE").format(sql.SQL(index)))
        columns = [
            r[0]
            for r in conn.execute(
                """
            SELECT attname FROM pg_attribute
            WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped
              AND attgenerated = '' ORDER BY attnum
            """,
                [table.as_string(conn)],
            )
            if r[0] not in owned_columns
        ]
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        key = sql.Identifier(seq.owner_column)
        statement = (
            sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {t} LIMIT 1 RETURNING {k}")
            if columns
            else sql.SQL("INSERT INTO {t} DEFAULT VALUES RETURNING {k}")
        ).format(t=table, c=cols, k=key)
        try:
            with conn.transaction():
                conn.execute(statement)
        except psycopg.errors.UniqueViolation as exc:
            return f"{seq.label}: an INSERT using the default collides: {exc}".strip()
    return None


def assert_sequences_do_not_collide(target_dsn: str) -> list[str]:
    """Every owned sequence's next value is past its column's values, and an INSERT that
    takes the default succeeds. Returns the sequences checked (so callers can see it did work).

    The INSERTs are rolled back, but each advances its sequence by one (nextval is not
    transactional): call this after the other comparisons.
    """
    problems, checked = [], []
    with _connect(target_dsn) as conn:
        sequences = _sequences(conn)
        owned_by_table: dict[tuple[str, str], set[str]] = {}
        for seq in sequences.values():
            if seq.owner_table and seq.owner_schema and seq.owner_column:
                owned_by_table.setdefault((seq.owner_schema, seq.owner_table), set()).add(
                    seq.owner_column
                )
        for seq in sequences.values():
            if not (seq.owner_table and seq.owner_schema and seq.owner_column):
                continue
            table = sql.Identifier(seq.owner_schema, seq.owner_table)
            column = sql.Identifier(seq.owner_column)
            row = conn.execute(
                sql.SQL("SELECT max({c}), min({c}) FROM {t}").format(c=column, t=table)
            ).fetchone()
            assert row is not None
            high, low = row
            if high is not None and (
                seq.next_value <= high if seq.increment > 0 else seq.next_value >= low
            ):
                problems.append(
                    f"{seq.label}: next value {seq.next_value} is not past "
                    f"{seq.owner_table}.{seq.owner_column} (max {high}, min {low})"
                )
                continue
            if high is not None:
                problem = _insert_with_defaults(
                    conn, seq, owned_by_table[(seq.owner_schema, seq.owner_table)]
                )
                if problem:
                    problems.append(problem)
            checked.append(seq.label)
    assert not problems, "sequences collide:\n  " + "\n  ".join(problems)
    return checked
