"""The schema's DDL, taken from pg_dump inside the snapshot and split into statements by pglast.

Why pg_dump: it is PostgreSQL's own, version-aware reproduction of every object kind (partitions,
identity, generated columns, domains, triggers and their functions, matviews, expression and
partial indexes...) in dependency order, and `--snapshot` makes it see exactly the transaction
the data comes from. We keep its `pre-data` and `post-data` sections apart (tables before the
load, constraints/indexes/triggers after it, as pg_restore does) plus the DROP statements of a
`--clean` dump for `restore --clean`. pglast, PostgreSQL's own parser, splits the scripts into
statements so restore runs and reports them one at a time, and finds the matviews to refresh.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pglast
from pglast import ast
from pglast.enums import ObjectType

from anonymiser.errors import AnonymiserError, SnapshotError
from anonymiser.pg.connect import tool_environment

__all__ = [
    "INHERITED_OBJECTS_SQL",
    "DDLParseError",
    "SchemaDDL",
    "dump_schema",
    "inherited_objects",
    "matviews_in_order",
    "split_statements",
]


class DDLParseError(AnonymiserError):
    """pg_dump output pglast cannot parse (reported by the stage that met it)."""


LOCK_WAIT_TIMEOUT = "20s"


def lock_wait_hint(message: str) -> str:
    """What to do when a lock wait of the snapshot timed out (else nothing)."""
    # pg_dump implements --lock-wait-timeout with statement_timeout while it takes its locks
    if any(
        sign in message
        for sign in ("lock timeout", "could not obtain lock", "due to statement timeout")
    ):
        return (
            "; a concurrent DDL or TRUNCATE is waiting for this snapshot's locks:"
            " run again when it has finished"
        )
    return ""


_COMMON_FLAGS = [
    "--schema-only",
    "--no-owner",
    "--no-privileges",
    "--no-tablespaces",
    "--no-publications",
    "--no-subscriptions",
    "--no-security-labels",
    # The snapshot transaction already holds ACCESS SHARE on every table. A TRUNCATE or
    # ALTER issued meanwhile queues behind it, and pg_dump's own lock requests queue behind
    # that: without a limit the run would wait forever. With it, the run fails, clearly.
    f"--lock-wait-timeout={LOCK_WAIT_TIMEOUT}",
]


@dataclass
class SchemaDDL:
    pre_data: str
    post_data: str
    clean: str


# pg_dump (since the 2025 security releases) brackets its output with these psql
# meta-commands, keyed by a random alphanumeric string; nothing else in its output starts so.
_PSQL_RESTRICT = re.compile(r"^\\(?:un)?restrict [A-Za-z0-9]+[ \t]*$", re.MULTILINE)


def split_statements(script: str) -> list[str]:
    """The SQL statements of a pg_dump script, without its \\restrict meta-commands."""
    text = _PSQL_RESTRICT.sub("", script)
    try:
        return [s.strip() for s in pglast.split(text, with_parser=True) if s.strip()]
    except pglast.parser.ParseError as exc:
        raise DDLParseError(f"cannot parse the schema script: {exc}") from None


def _parse_one(statement: str) -> ast.Node:
    try:
        stmt = pglast.parse_sql(statement)[0].stmt
    except pglast.parser.ParseError as exc:
        raise DDLParseError(f"cannot parse schema statement ({statement[:60]!r}): {exc}") from None
    if stmt is None:
        raise DDLParseError(f"empty schema statement ({statement[:60]!r})")
    return stmt


def matviews_in_order(pre_data: str) -> list[tuple[str, str]]:
    """(schema, name) of each materialized view, in creation (dependency) order."""
    found: list[tuple[str, str]] = []
    for statement in split_statements(pre_data):
        stmt = _parse_one(statement)
        if (
            isinstance(stmt, ast.CreateTableAsStmt)
            and stmt.objtype == ObjectType.OBJECT_MATVIEW
            and stmt.into is not None
            and stmt.into.rel is not None
        ):
            rel = stmt.into.rel
            found.append((str(rel.schemaname or "public"), str(rel.relname)))
    return found


def _drops_of(clean_dump: str, inherited: set[tuple[str, ...]]) -> str:
    """The leading DROP part of a `pg_dump --clean` script (drops, constraint and default
    removals, session SETs), which pg_dump writes before the first CREATE.

    Drops of a partition's constraints and indexes that belong to the partitioned parent
    (`inherited`) are left out: PostgreSQL refuses them, and dropping the parent's removes them.
    pg_restore gets away with them only because it carries on after errors.
    """
    kept = []
    for statement in split_statements(clean_dump):
        stmt = _parse_one(statement)
        if isinstance(stmt, ast.AlterTableStmt) and stmt.relation is not None:
            rel = stmt.relation
            names = {
                (rel.schemaname or "public", rel.relname, cmd.name)
                for cmd in stmt.cmds or ()
                if isinstance(cmd, ast.AlterTableCmd) and cmd.name
            }
            if names and names <= inherited:
                continue
            kept.append(statement)
        elif isinstance(stmt, ast.DropStmt):
            if stmt.removeType == ObjectType.OBJECT_INDEX and all(
                tuple(part.sval for part in obj) in inherited for obj in stmt.objects or ()
            ):
                continue
            kept.append(statement)
        elif isinstance(stmt, ast.VariableSetStmt) or (
            isinstance(stmt, ast.SelectStmt) and "set_config" in statement
        ):
            kept.append(statement)
        else:
            break
    return ";\n".join(kept) + (";\n" if kept else "")


INHERITED_OBJECTS_SQL = """
SELECT n.nspname, c.relname, con.conname
  FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE con.conparentid <> 0
UNION ALL
SELECT n.nspname, ic.relname, NULL
  FROM pg_inherits i JOIN pg_class ic ON ic.oid = i.inhrelid
  JOIN pg_namespace n ON n.oid = ic.relnamespace
 WHERE ic.relkind IN ('i', 'I')
"""


def inherited_objects(rows: list[tuple[str, str, str | None]]) -> set[tuple[str, ...]]:
    """Keys for _drops_of: (schema, table, constraint) and (schema, index) of partitions."""
    return {(s, r, c) if c is not None else (s, r) for s, r, c in rows}


def dump_schema(
    pg_dump: Path, dsn: str, snapshot_id: str | None, inherited: set[tuple[str, ...]]
) -> SchemaDDL:
    """Run pg_dump (three sections at once) against the exported snapshot."""
    conninfo, env = tool_environment(dsn)
    base = [str(pg_dump), "--dbname", conninfo, *_COMMON_FLAGS]
    if snapshot_id:
        base.append(f"--snapshot={snapshot_id}")
    runs = {
        "pre_data": [*base, "--section=pre-data"],
        "post_data": [*base, "--section=post-data"],
        "clean": [*base, "--clean", "--if-exists"],
    }
    procs = {
        name: subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        for name, argv in runs.items()
    }
    out: dict[str, str] = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            detail = next((ln for ln in stderr.splitlines() if ln.strip()), "no output")
            raise SnapshotError(
                f"pg_dump of the schema ({name.replace('_', '-')}) failed: {detail}"
                + lock_wait_hint(detail)
            )
        out[name] = stdout
    return SchemaDDL(
        pre_data=out["pre_data"],
        post_data=out["post_data"],
        clean=_drops_of(out["clean"], inherited),
    )
