"""Nested rules: a strategy applied inside a value (JSON paths, array elements)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from anonymiser.maskers._fixedpoints import remask_fixed_points
from anonymiser.maskers.base import ColumnSpec, MaskContext, RuleError, Strategy, get_strategy

__all__ = ["NestedRule", "element_column"]

_ARROW = {"int2": pa.int16(), "int4": pa.int32(), "int8": pa.int64()}
_CATEGORY = {
    "text": "S", "varchar": "S", "bpchar": "S", "name": "S", "citext": "S",
    "int2": "N", "int4": "N", "int8": "N", "float4": "N", "float8": "N", "numeric": "N",
    "date": "D", "timestamp": "D", "timestamptz": "D", "bool": "B",
}  # fmt: skip


def element_column(
    parent: ColumnSpec, base_type: str, where: str, max_length: int | None = None
) -> ColumnSpec:
    """The ColumnSpec a nested strategy sees for values inside `parent`."""
    return ColumnSpec(
        table=parent.table,
        name=f"{parent.name}{where}",
        pg_type=base_type if max_length is None else f"{base_type}({max_length})",
        base_type=base_type,
        category=_CATEGORY.get(base_type, "U"),
        arrow_type=_ARROW.get(base_type, pa.string()),
        max_length=max_length,
        unique=False,
        not_null=False,
    )


class NestedRule:
    """A nested `{strategy: NAME, <params> | params: {...}, namespace: ...}` for an element."""

    def __init__(self, rule: Any, column: ColumnSpec, owner: str) -> None:
        if not isinstance(rule, Mapping) or not isinstance(rule.get("strategy"), str):
            raise RuleError(f"strategy {owner}: {column.name}: a nested rule needs a strategy name")
        given = dict(rule)
        name = given.pop("strategy")
        given.pop("reason", None)
        self.namespace = given.pop("namespace", None)
        if self.namespace is not None and not isinstance(self.namespace, str):
            raise RuleError(f"strategy {owner}: {column.name}: namespace must be text")
        if isinstance(given.get("params"), Mapping):
            given = {**given.pop("params"), **given}
        if name in ("json", "array", "keep"):
            raise RuleError(f"strategy {owner}: {column.name}: {name} cannot be nested")
        if name == "presidio":  # the verification gate re-scans only whole columns
            raise RuleError(
                f"strategy {owner}: {column.name}: presidio cannot be nested (free text inside "
                "a value is not re-scanned before publish): use redact, null or constant there"
            )
        self.strategy: Strategy = get_strategy(name)(given, column)

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        """The values masked as a column of this rule's strategy and namespace would be: a
        value masked as itself is masked again the same way (remask_fixed_points)."""
        if self.namespace is not None:
            ctx = ctx.derive(namespace=self.namespace)
        return remask_fixed_points(self.strategy, values, self.strategy.mask(values, ctx), ctx)
