"""Referential closure of a subset, computed by PostgreSQL inside the snapshot transaction.

The extract transaction is READ ONLY (and the source may be a hot standby), so the closure
cannot be stored in a table. Instead it is one `WITH RECURSIVE` query over tagged primary
keys, `closure(node, key text[])`:

- the non-recursive term selects the keys of the rows each root filter picks;
- the recursive term, for a row of table C already in the closure, adds the row of P it
  references through each foreign key C -> P (always), and the rows of C' referencing it
  through each `follow` relation asked for (optionally at most `limit` per parent row, lowest
  keys first);
- `UNION` (not `UNION ALL`) drops keys already seen, which ends cycles and self-references.

Each table's COPY then selects `WHERE (primary key) IN (SELECT ... FROM closure WHERE node = n)`.
The closure is evaluated by the server in every worker's COPY, inside the one exported
snapshot, so every table sees the same rows; Python never sees a key. Partitioned tables are
one node (their leaf partitions filter on the parent's closure). Tables no root can reach get
no rows. Composite keys and foreign keys compare column by column; NULL foreign keys
reference nothing (MATCH SIMPLE), as in PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from anonymiser.catalog import Catalog, Column, ForeignKey, Table
from anonymiser.datasets import Dataset, Follow
from anonymiser.errors import ConfigError

__all__ = ["Edge", "SubsetPlan", "dangling_references", "plan_subset", "top_level"]


@dataclass(frozen=True)
class Edge:
    """One step of the closure: from rows of `source` to the rows of `target` they bring in."""

    source: str  # qualified top-level table
    target: str
    fk: ForeignKey  # declared on the child table (source for "parent", target for "child")
    kind: str  # "parent": source references target; "child": target references source
    limit: int | None = None


@dataclass
class SubsetPlan:
    """Which rows each table's COPY selects in a subset dataset."""

    catalog: Catalog
    nodes: dict[str, int] = field(default_factory=dict)  # reachable top-level table -> tag
    all_rows: set[str] = field(default_factory=set)  # tables with an unfiltered root
    edges: list[Edge] = field(default_factory=list)
    roots: list[tuple[str, str | None]] = field(default_factory=list)  # (table, filter sql)

    def where(self, table: Table) -> sql.Composable | None:
        """The row filter for `table`'s COPY (None: every row)."""
        top = top_level(self.catalog, table).qualified
        if top in self.all_rows:
            return None
        if top not in self.nodes:
            return sql.SQL("false")
        # only the tables with a path to this one can bring rows into it
        relevant = self._reaching(top)
        edges = [e for e in self.edges if e.source in relevant and e.target in relevant]
        seeds = [(name, cond) for name, cond in self.roots if name in relevant]
        if not edges:  # nothing leads here: the roots' filters alone pick the rows
            return sql.SQL(" OR ").join(
                sql.SQL("({})").format(sql.SQL(c or "true")) for _, c in seeds
            )
        columns = _key_columns(self.catalog.tables[top])
        return sql.SQL("({}) IN ({} SELECT {} FROM closure WHERE node = {})").format(
            sql.SQL(", ").join(sql.Identifier(c.name) for c in columns),
            self._closure_cte(seeds, edges),
            sql.SQL(", ").join(_from_text(c, i) for i, c in enumerate(columns, 1)),
            sql.Literal(self.nodes[top]),
        )

    def _reaching(self, target: str) -> set[str]:
        found, pending = {target}, [target]
        while pending:
            name = pending.pop()
            for edge in self.edges:
                if edge.target == name and edge.source not in found:
                    found.add(edge.source)
                    pending.append(edge.source)
        return found

    def _closure_cte(self, seeds: list[tuple[str, str | None]], edges: list[Edge]) -> sql.Composed:
        parts = []
        for table_name, condition in seeds:
            table = self.catalog.tables[table_name]
            parts.append(
                sql.SQL("SELECT {}, {} FROM {} t{}").format(
                    sql.Literal(self.nodes[table_name]),
                    _key_array(table, "t"),
                    _relation(table),
                    sql.SQL(" WHERE ({})").format(sql.SQL(condition)) if condition else sql.SQL(""),
                )
            )
        steps = [self._step(edge) for edge in edges]
        return sql.SQL(
            "WITH RECURSIVE closure(node, key) AS (({}) "
            "UNION SELECT s.node, s.key FROM closure c CROSS JOIN LATERAL ({}) s)"
        ).format(sql.SQL(" UNION ALL ").join(parts), sql.SQL(" UNION ALL ").join(steps))

    def _step(self, edge: Edge) -> sql.Composed:
        source = self.catalog.tables[edge.source]
        target = self.catalog.tables[edge.target]
        at_source = sql.SQL(" AND ").join(
            sql.SQL("a.{} = {}").format(sql.Identifier(col.name), _from_text(col, i, "c.key"))
            for i, col in enumerate(_key_columns(source), 1)
        )
        if edge.kind == "parent":  # a -> b: b is the row a's foreign key points at
            join = _join("b", edge.fk.ref_columns, "a", edge.fk.columns)
            body = sql.SQL("FROM {} a JOIN {} b ON {}").format(
                _relation(source), _relation(target), join
            )
        else:  # a <- b: b references a; at most `limit` of them per row of a
            join = _join("b", edge.fk.columns, "a", edge.fk.ref_columns)
            if edge.limit is None:
                body = sql.SQL("FROM {} a JOIN {} b ON {}").format(
                    _relation(source), _relation(target), join
                )
            else:
                body = sql.SQL(
                    "FROM {} a CROSS JOIN LATERAL "
                    "(SELECT * FROM {} b WHERE {} ORDER BY {} LIMIT {}) b"
                ).format(
                    _relation(source),
                    _relation(target),
                    join,
                    sql.SQL(", ").join(
                        sql.SQL("b.{}").format(sql.Identifier(c)) for c in _key(target)
                    ),
                    sql.Literal(edge.limit),
                )
        return sql.SQL("SELECT {} AS node, {} AS key {} WHERE c.node = {} AND {}").format(
            sql.Literal(self.nodes[edge.target]),
            _key_array(target, "b"),
            body,
            sql.Literal(self.nodes[edge.source]),
            at_source,
        )


def top_level(catalog: Catalog, table: Table) -> Table:
    """The partitioned table a partition belongs to (itself for an ordinary table)."""
    while table.parent is not None and table.parent in catalog.tables:
        table = catalog.tables[table.parent]
    return table


def _relation(table: Table) -> sql.Composed:
    # a partitioned table is read with its partitions; an ordinary one without inheritors
    only = sql.SQL("") if table.kind == "partitioned" else sql.SQL("ONLY ")
    return sql.SQL("{}{}").format(only, sql.Identifier(table.schema, table.name))


def _join(left: str, left_cols: list[str], right: str, right_cols: list[str]) -> sql.Composed:
    return sql.SQL(" AND ").join(
        sql.SQL("{}.{} = {}.{}").format(
            sql.Identifier(left), sql.Identifier(lc), sql.Identifier(right), sql.Identifier(rc)
        )
        for lc, rc in zip(left_cols, right_cols, strict=True)
    )


def _key(table: Table) -> list[str]:
    """The columns that identify a row: the primary key, else a unique key of NOT NULL columns."""
    if table.primary_key:
        return table.primary_key
    not_null = {c.name for c in table.columns if c.not_null}
    for unique in table.unique_keys:
        if set(unique) <= not_null:
            return unique
    return []


def _key_columns(table: Table) -> list[Column]:
    by_name = {c.name: c for c in table.columns}
    return [by_name[name] for name in _key(table)]


def _key_array(table: Table, alias: str) -> sql.Composed:
    return sql.SQL("ARRAY[{}]").format(
        sql.SQL(", ").join(
            sql.SQL("{}.{}::text").format(sql.Identifier(alias), sql.Identifier(c))
            for c in _key(table)
        )
    )


def _from_text(col: Column, index: int, array: str = "key") -> sql.Composed:
    """Element `index` of a key array back in the column's type, so indexes apply."""
    schema, _, name = col.base_type.rpartition(".")
    type_ident = sql.Identifier(schema.strip('"'), name) if schema else sql.Identifier(name)
    return sql.SQL("({}[{}])::{}").format(sql.SQL(array), sql.Literal(index), type_ident)


def _resolve(catalog: Catalog, name: str, where: str) -> Table:
    table = catalog.tables.get(name)
    if table is None or table.kind not in ("table", "partitioned"):
        raise ConfigError(f"{where}: no table {name} in the source database")
    if table.parent is not None:
        raise ConfigError(
            f"{where}: {name} is a partition; name its partitioned table {table.parent} instead"
        )
    return table


def _follow_fk(catalog: Catalog, rule: Follow, where: str) -> tuple[Table, Table, ForeignKey]:
    parent = _resolve(catalog, rule.parent, where)
    child = _resolve(catalog, rule.child, where)
    candidates = [
        fk
        for fk in child.foreign_keys
        if fk.ref_table == parent.qualified and (not rule.via or list(rule.via) == fk.columns)
    ]
    if len(candidates) != 1:
        found = "; ".join(f"({', '.join(fk.columns)})" for fk in child.foreign_keys
                          if fk.ref_table == parent.qualified) or "none"  # fmt: skip
        raise ConfigError(
            f"{where}: {'no' if not candidates else 'more than one'} foreign key of "
            f"{child.qualified} references {parent.qualified}"
            f"{' through (' + ', '.join(rule.via) + ')' if rule.via else ''} "
            f"(foreign keys: {found}); set 'via' to the child's FK columns"
        )
    return parent, child, candidates[0]


def plan_subset(dataset: Dataset, catalog: Catalog) -> SubsetPlan:
    """Check the subset against the source schema and lay out its closure."""
    origin = dataset.source_file or dataset.name
    included = {
        top_level(catalog, t).qualified
        for t in catalog.data_tables()
        if dataset.includes(t.qualified)
    }
    plan = SubsetPlan(catalog=catalog)
    # every foreign key between top-level tables (partitions carry clones of their parent's)
    parent_edges: dict[str, list[Edge]] = {}
    for table in catalog.tables.values():
        if table.parent is not None or table.qualified not in included:
            continue
        for fk in table.foreign_keys:
            ref = catalog.tables.get(fk.ref_table)
            if ref is None or ref.parent is not None:
                continue
            if ref.qualified not in included:
                raise ConfigError(
                    f"{origin}: {table.qualified} references {ref.qualified} ({fk.name}) but "
                    f"{ref.qualified} is excluded: a subset must hold what it references; "
                    "include it or exclude the referencing table too"
                )
            edge = Edge(table.qualified, ref.qualified, fk, "parent")
            parent_edges.setdefault(table.qualified, []).append(edge)
    child_edges: dict[str, list[Edge]] = {}
    for rule in dataset.follow:
        where = f"{origin}: subset {rule.label}"
        parent, child, fk = _follow_fk(catalog, rule, where)
        for table in (parent, child):
            if table.qualified not in included:
                raise ConfigError(f"{where}: {table.qualified} is not included in the dataset")
        edge = Edge(parent.qualified, child.qualified, fk, "child", rule.limit)
        child_edges.setdefault(parent.qualified, []).append(edge)
    for root in dataset.roots:
        where = f"{origin}: subset {root.label}"
        table = _resolve(catalog, root.table, where)
        if table.qualified not in included:
            raise ConfigError(f"{where}: {table.qualified} is not included in the dataset")
        if root.where is not None:
            unknown = sorted(root.where.columns - {c.name for c in table.columns})
            if unknown:
                raise ConfigError(
                    f"{where}: the filter names {', '.join(unknown)}, not a column of "
                    f"{table.qualified} (filters read only their own table's columns)"
                )
        else:
            plan.all_rows.add(table.qualified)
        plan.roots.append((table.qualified, root.where.sql if root.where else None))
    # the tables the roots can reach, each with a tag; edges only between reachable tables
    pending = [name for name, _ in plan.roots]
    while pending:
        name = pending.pop()
        if name in plan.nodes:
            continue
        table = catalog.tables[name]
        if not _key(table):
            raise ConfigError(
                f"{origin}: {name} has no primary key (nor a unique key of NOT NULL columns), "
                "so the subset cannot tell its rows apart; add a key or exclude the table"
            )
        plan.nodes[name] = len(plan.nodes)
        for edge in parent_edges.get(name, []) + child_edges.get(name, []):
            plan.edges.append(edge)
            pending.append(edge.target)
    return plan


def dangling_references(conn: psycopg.Connection, catalog: Catalog) -> list[str]:
    """Every foreign key with rows whose (non-NULL) reference finds no row: one line each."""
    problems = []
    for table in catalog.tables.values():
        if table.parent is not None or table.kind not in ("table", "partitioned"):
            continue
        for fk in table.foreign_keys:
            ref = catalog.tables.get(fk.ref_table)
            if ref is None or ref.parent is not None:
                continue
            query = sql.SQL(
                "SELECT count(*) FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})"
            ).format(
                _relation(table),
                sql.SQL(" AND ").join(
                    sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(col)) for col in fk.columns
                ),
                _relation(ref),
                _join("p", fk.ref_columns, "c", fk.columns),
            )
            row = conn.execute(query).fetchone()
            missing = int(row[0]) if row else 0
            if missing:
                problems.append(
                    f"{table.qualified}.{fk.name}: {missing} rows reference "
                    f"no row of {ref.qualified}"
                )
    return problems
