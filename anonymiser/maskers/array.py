"""array: a nested rule applied to every element of a PostgreSQL array (NULL elements kept)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa

from anonymiser.maskers._nested import NestedRule, element_column
from anonymiser.maskers._pgarray import format_array, parse_array
from anonymiser.maskers.base import ColumnSpec, MaskContext, Param, Strategy, map_unique, register

_LENGTH = re.compile(r"\((\d+)\)\[\]")


@register
class Array(Strategy):
    """Applies a nested rule (`{strategy: ..., <params>}`) to every element of a PostgreSQL
    array column, keeping NULL elements, dimensions and order.

    Example: {strategy: array, rule: {strategy: fake, provider: email}, reason: "emails"}
    """

    name = "array"
    summary = "Mask every element of an array with a nested rule {strategy: ..., <params>}."
    may_collide = True
    params: ClassVar[Mapping[str, Param]] = {
        "rule": Param(dict, "the nested rule for each element", True)
    }

    def check_column(self, column: ColumnSpec) -> str | None:
        if not column.is_array:
            return (
                f"strategy array cannot mask {column.table}.{column.name}: the column is "
                f"{column.pg_type}, not an array"
            )
        length = _LENGTH.search(column.pg_type)
        element = element_column(
            column, column.base_type.removeprefix("_"), "[]", int(length[1]) if length else None
        )
        self.rule = NestedRule(self.options["rule"], element, "array")
        return None

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        return map_unique(values, lambda unique: self._arrays(unique, ctx))

    def _arrays(self, unique: pa.Array, ctx: MaskContext) -> pa.Array:
        parsed = [parse_array(text) for text in unique.to_pylist()]
        slots: list[tuple[list[Any], int]] = []
        for _, items in parsed:
            _collect(items, slots)
        if slots:
            elements = pa.array([holder[i] for holder, i in slots], pa.string())
            element_type = self.rule.strategy.column.arrow_type
            masked = self.rule.mask(elements.cast(element_type), ctx).cast(pa.string())
            for (holder, i), new in zip(slots, masked.to_pylist(), strict=True):
                holder[i] = new
        return pa.array([format_array(p, items) for p, items in parsed], unique.type)


def _collect(items: list[Any], slots: list[tuple[list[Any], int]]) -> None:
    for i, item in enumerate(items):
        if isinstance(item, list):
            _collect(item, slots)
        elif item is not None:
            slots.append((items, i))
