"""What the catalog says about a column for masking: its spec, uniqueness, FK parent, root table.

Partitions are masked under their partitioned root: rules are written for the root, its
namespace is the root's, and uniqueness is checked over all of its partitions together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from anonymiser.catalog import Catalog, Column, Table, quote_ident
from anonymiser.maskers import ColumnSpec
from anonymiser.pg.types import arrow_field

__all__ = ["UniqueInfo", "column_spec", "fk_parent", "mentions", "root_table", "unique_columns"]

_LENGTH = re.compile(r"^(?:character varying|character|varchar|bpchar)\((\d+)\)$")
_CASE_FOLD = re.compile(r"\b(lower|upper)\s*\(", re.IGNORECASE)


@dataclass(frozen=True)
class UniqueInfo:
    """A column under some unique constraint or index; `fold`: unique only after lower()/upper()."""

    fold: bool = False


def root_table(catalog: Catalog, table: Table) -> Table:
    """The partitioned table at the top of a partition tree (the table itself otherwise)."""
    seen = {table.qualified}
    while table.parent and table.parent in catalog.tables and table.parent not in seen:
        table = catalog.tables[table.parent]
        seen.add(table.qualified)
    return table


def mentions(text: str, column: str) -> bool:
    """Whether SQL `text` (a CHECK or an index expression) names `column` as a whole word."""
    return bool(re.search(rf"(?<![\w\"]){re.escape(quote_ident(column))}(?![\w\"])", text))


def _index_key_text(definition: str) -> str:
    """The parenthesised key list of a CREATE INDEX statement (without INCLUDE / WHERE)."""
    rest = definition.split(" USING ", 1)[-1]
    start = rest.find("(")
    depth = 0
    for i in range(start, len(rest)):
        depth += {"(": 1, ")": -1}.get(rest[i], 0)
        if depth == 0:
            return rest[start + 1 : i]
    return rest


def unique_columns(table: Table) -> dict[str, UniqueInfo]:
    """Every column that some PK, UNIQUE constraint or unique index (expressions too) covers.

    Each column of a composite key is listed: the mask stage keeps every such column
    injective on its own, which keeps every combination unique. A column inside a
    lower()/upper() expression index must stay unique after case folding.
    """
    found: dict[str, UniqueInfo] = {}

    def add(name: str, fold: bool = False) -> None:
        found[name] = UniqueInfo(fold or found.get(name, UniqueInfo()).fold)

    for name in table.primary_key:
        add(name)
    for key in table.unique_keys:
        for name in key:
            add(name)
    names = {c.name for c in table.columns}
    for index in table.indexes:
        if not index.unique:
            continue
        for part in index.columns:
            if part is not None:
                add(part)
        if any(part is None for part in index.columns):
            text = _index_key_text(index.definition)
            fold = bool(_CASE_FOLD.search(text))
            for name in names:
                if mentions(text, name):
                    add(name, fold)
    return found


def fk_parent(catalog: Catalog, table: Table, column: str) -> tuple[Table, str] | None:
    """The (root table, column) that `column` references through a foreign key, if any."""
    for fk in sorted(table.foreign_keys, key=lambda f: f.name):
        if column in fk.columns and fk.ref_table in catalog.tables:
            ref = root_table(catalog, catalog.tables[fk.ref_table])
            return ref, fk.ref_columns[fk.columns.index(column)]
    return None


def column_spec(table: Table, column: Column, unique: dict[str, UniqueInfo]) -> ColumnSpec:
    """The ColumnSpec a strategy checks itself against, before any data is read."""
    length = _LENGTH.match(column.pg_type)
    return ColumnSpec(
        table=table.qualified,
        name=column.name,
        pg_type=column.pg_type,
        base_type=column.base_type,
        category=column.category,
        arrow_type=arrow_field(column).type,
        max_length=int(length.group(1)) if length else None,
        unique=column.name in unique,
        not_null=column.not_null,
        checks=tuple(c for c in table.checks if mentions(c, column.name)),
    )
