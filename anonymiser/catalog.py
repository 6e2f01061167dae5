"""The source schema as data: tables, columns and exact types, keys, indexes, sequences.

The catalog is read from pg_catalog inside the snapshot transaction. It drives extraction
(which relations hold rows, which columns to COPY, which Arrow type each gets) and is kept
in the manifest for the masking and verification stages. The DDL itself is not generated
from it: see anonymiser.pg.ddl.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg

__all__ = [
    "Catalog",
    "Column",
    "ForeignKey",
    "Index",
    "Sequence",
    "Table",
    "qualified_name",
    "quote_ident",
    "read_catalog",
]

_PLAIN_IDENT = re.compile(r"[a-z_][a-z0-9_$]*")


def quote_ident(name: str) -> str:
    """An identifier as SQL would write it: bare when plain lower-case, else double-quoted."""
    return name if _PLAIN_IDENT.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def qualified_name(schema: str, name: str) -> str:
    """The unambiguous "schema.table" key: `a.b`.c and a."b.c" stay apart."""
    return f"{quote_ident(schema)}.{quote_ident(name)}"


_USER_NAMESPACES = """
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp'
"""
_NOT_FROM_EXTENSION = """
    NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                AND d.objid = c.oid AND d.deptype = 'e')
"""
# built-in types by their bare name ("int4"), any other schema-qualified ("app.int4")
_TYPE_NAME = """CASE WHEN {t}.typnamespace = 'pg_catalog'::regnamespace THEN {t}.typname::text
     ELSE {t}.typnamespace::regnamespace::text || '.' || {t}.typname END"""
_KINDS = {"r": "table", "p": "partitioned", "m": "matview", "v": "view", "f": "foreign"}


@dataclass
class Column:
    name: str
    attnum: int
    pg_type: str  # format_type(): exact, with typmod, e.g. "numeric(12,2)", "public.mood[]"
    base_type: str  # typname after unwrapping domains, e.g. "int4", "_text", "mood"
    category: str  # pg_type.typcategory of the base type ("A" for arrays, "N" numeric, ...)
    not_null: bool
    generated: str = ""  # "s" for a stored generated column
    identity: str = ""  # "a" (ALWAYS) or "d" (BY DEFAULT)
    has_default: bool = False
    # equal values are equal bytes: not for citext nor a nondeterministic collation, whose
    # equality (unique keys) only the server can evaluate
    bytewise_equal: bool = True

    @property
    def is_generated(self) -> bool:
        return self.generated == "s"


@dataclass
class ForeignKey:
    name: str
    columns: list[str]
    ref_table: str  # qualified "schema.table"
    ref_columns: list[str]


@dataclass
class Index:
    name: str
    unique: bool
    primary: bool
    columns: list[str | None]  # None where the key part is an expression
    predicate: str | None
    definition: str


@dataclass
class Table:
    schema: str
    name: str
    kind: str  # table | partitioned | matview | view | foreign
    columns: list[Column]
    parent: str | None = None  # qualified parent for a partition
    partition_bound: str | None = None
    persistence: str = "p"
    est_rows: int = 0
    bytes: int = 0
    populated: bool = True
    primary_key: list[str] = field(default_factory=list)
    unique_keys: list[list[str]] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)

    @property
    def qualified(self) -> str:
        return qualified_name(self.schema, self.name)

    @property
    def has_rows(self) -> bool:
        """Whether the relation stores rows we copy (matviews are refreshed, not copied)."""
        return self.kind == "table"

    @property
    def copy_columns(self) -> list[Column]:
        """Columns carried in the data files: stored generated columns are recomputed."""
        return [c for c in self.columns if not c.is_generated]


@dataclass
class Sequence:
    schema: str
    name: str
    increment: int
    owned_by: str | None = None  # qualified table
    owned_column: str | None = None
    identity: bool = False

    @property
    def qualified(self) -> str:
        return qualified_name(self.schema, self.name)


@dataclass
class Catalog:
    tables: dict[str, Table]
    sequences: list[Sequence]
    server_version_num: int = 0

    def data_tables(self) -> list[Table]:
        return [t for t in self.tables.values() if t.has_rows]

    def matviews(self) -> list[Table]:
        return [t for t in self.tables.values() if t.kind == "matview"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "server_version_num": self.server_version_num,
            "tables": [asdict(t) for t in self.tables.values()],
            "sequences": [asdict(s) for s in self.sequences],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Catalog:
        tables: dict[str, Table] = {}
        for raw in data["tables"]:
            raw = dict(raw)
            raw["columns"] = [Column(**c) for c in raw["columns"]]
            raw["foreign_keys"] = [ForeignKey(**f) for f in raw["foreign_keys"]]
            raw["indexes"] = [Index(**i) for i in raw["indexes"]]
            table = Table(**raw)
            tables[table.qualified] = table
        return cls(
            tables=tables,
            sequences=[Sequence(**s) for s in data["sequences"]],
            server_version_num=int(data.get("server_version_num", 0)),
        )


def read_catalog(conn: psycopg.Connection) -> Catalog:
    """Read every user relation and sequence (not those owned by extensions)."""
    version = int(conn.execute("SHOW server_version_num").fetchone()[0])  # type: ignore[index]
    domain_base = {
        oid: (typname, category)
        for oid, typname, category in conn.execute(
            f"""
            WITH RECURSIVE d(oid, base) AS (
                SELECT oid, typbasetype FROM pg_type WHERE typtype = 'd'
                UNION ALL
                SELECT d.oid, t.typbasetype FROM d JOIN pg_type t ON t.oid = d.base
                WHERE t.typtype = 'd')
            SELECT d.oid, {_TYPE_NAME.format(t="bt")}, bt.typcategory
            FROM d JOIN pg_type bt ON bt.oid = d.base WHERE bt.typtype <> 'd'
            """
        ).fetchall()
    }
    rows = conn.execute(
        f"""
        SELECT c.oid, n.nspname, c.relname, c.relkind, c.relpersistence,
               greatest(c.reltuples, 0)::bigint, pg_catalog.pg_relation_size(c.oid),
               c.relispopulated, pg_catalog.pg_get_expr(c.relpartbound, c.oid),
               (SELECT pn.nspname FROM pg_inherits i
                  JOIN pg_class pc ON pc.oid = i.inhparent
                  JOIN pg_namespace pn ON pn.oid = pc.relnamespace
                 WHERE i.inhrelid = c.oid AND c.relispartition),
               (SELECT pc.relname FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
                 WHERE i.inhrelid = c.oid AND c.relispartition)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'm', 'v', 'f') AND {_USER_NAMESPACES}
          AND {_NOT_FROM_EXTENSION}
        ORDER BY n.nspname, c.relname
        """
    ).fetchall()
    by_oid: dict[int, Table] = {}
    for oid, schema, name, kind, persistence, est, size, populated, bound, pschema, pname in rows:
        parent = qualified_name(pschema, pname) if pname is not None else None
        by_oid[oid] = Table(
            schema=schema,
            name=name,
            kind=_KINDS[kind],
            columns=[],
            parent=parent,
            partition_bound=bound,
            persistence=persistence,
            est_rows=est,
            bytes=size,
            populated=populated,
        )
    oids = list(by_oid)
    names: dict[int, dict[int, str]] = {oid: {} for oid in oids}
    for (
        relid,
        attnum,
        attname,
        pg_type,
        typid,
        typname,
        category,
        notnull,
        gen,
        ident,
        hasdef,
        nondeterministic,
    ) in conn.execute(
        f"""
            SELECT a.attrelid, a.attnum, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
                   a.atttypid, {_TYPE_NAME.format(t="t")}, t.typcategory, a.attnotnull,
                   a.attgenerated, a.attidentity, a.atthasdef,
                   EXISTS (SELECT 1 FROM pg_collation co
                           WHERE co.oid = a.attcollation AND NOT co.collisdeterministic)
            FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
            WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attrelid, a.attnum
            """,
        (oids,),
    ).fetchall():
        base, base_category = domain_base.get(typid, (typname, category))
        by_oid[relid].columns.append(
            Column(
                name=attname,
                attnum=attnum,
                pg_type=pg_type,
                base_type=base,
                category=base_category,
                not_null=notnull,
                generated=gen,
                identity=ident,
                has_default=hasdef,
                bytewise_equal=not nondeterministic and base.rsplit(".", 1)[-1] != "citext",
            )
        )
        names[relid][attnum] = attname
    qualified = {oid: t.qualified for oid, t in by_oid.items()}
    for relid, conname, contype, conkey, confrelid, confkey, definition in conn.execute(
        """
        SELECT c.conrelid, c.conname, c.contype, c.conkey, c.confrelid, c.confkey,
               pg_catalog.pg_get_constraintdef(c.oid)
        FROM pg_constraint c WHERE c.conrelid = ANY(%s) AND c.contype IN ('p', 'u', 'f', 'c')
          -- not the hidden copies of a foreign key onto a partitioned table, one per
          -- referenced partition (the key is the one onto the partitioned table); a
          -- partition's own copy of its parent's constraint has another conrelid and stays
          AND NOT EXISTS (SELECT 1 FROM pg_constraint p
                          WHERE p.oid = c.conparentid AND p.conrelid = c.conrelid)
        ORDER BY c.conrelid, c.conname
        """,
        (oids,),
    ).fetchall():
        table = by_oid[relid]
        cols = [names[relid][k] for k in conkey or []]
        if contype == "p":
            table.primary_key = cols
        elif contype == "u":
            table.unique_keys.append(cols)
        elif contype == "f":
            ref = qualified.get(confrelid, str(confrelid))
            ref_cols = [names.get(confrelid, {}).get(k, str(k)) for k in confkey or []]
            table.foreign_keys.append(ForeignKey(conname, cols, ref, ref_cols))
        else:
            table.checks.append(definition)
    for relid, idxname, unique, primary, keys, predicate, definition in conn.execute(
        """
        SELECT i.indrelid, ic.relname, i.indisunique, i.indisprimary, i.indkey::int2[],
               pg_catalog.pg_get_expr(i.indpred, i.indrelid),
               pg_catalog.pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = ANY(%s) ORDER BY i.indrelid, ic.relname
        """,
        (oids,),
    ).fetchall():
        cols_or_expr = [names[relid].get(k) if k else None for k in keys]
        by_oid[relid].indexes.append(
            Index(idxname, unique, primary, cols_or_expr, predicate, definition)
        )
    sequences = [
        Sequence(
            schema=schema,
            name=name,
            increment=increment,
            owned_by=qualified.get(owner),
            owned_column=names.get(owner, {}).get(attnum) if owner else None,
            identity=deptype == "i",
        )
        for schema, name, increment, owner, attnum, deptype in conn.execute(
            f"""
            SELECT n.nspname, c.relname, s.seqincrement, dep.refobjid, dep.refobjsubid, dep.deptype
            FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_depend dep ON dep.classid = 'pg_class'::regclass
                 AND dep.objid = s.seqrelid AND dep.refclassid = 'pg_class'::regclass
                 AND dep.deptype IN ('a', 'i')
            WHERE {_USER_NAMESPACES} AND {_NOT_FROM_EXTENSION}
            ORDER BY n.nspname, c.relname
            """
        ).fetchall()
    ]
    return Catalog(
        tables={t.qualified: t for t in by_oid.values()},
        sequences=sequences,
        server_version_num=version,
    )
