"""null: every value becomes NULL (refused on NOT NULL columns)."""

from __future__ import annotations

import pyarrow as pa

from anonymiser.maskers.base import ColumnSpec, MaskContext, Strategy, register


@register
class Null(Strategy):
    """Every value becomes NULL. Refused on a NOT NULL column.

    Quote the name in rule files: a bare `null` is YAML's empty value.

    Example: {strategy: "null", reason: "not needed in test environments"}
    """

    name = "null"
    summary = "Replace every value with NULL."

    def check_column(self, column: ColumnSpec) -> str | None:
        if column.not_null:
            return f"strategy null cannot mask {column.table}.{column.name}: the column is NOT NULL"
        return None

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        return pa.nulls(len(values), type=values.type)
