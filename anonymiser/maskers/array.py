"""array: a nested rule applied to every element of a PostgreSQL array (NULL elements kept)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers._nested import NestedRule, element_column
from anonymiser.maskers._pgarray import map_elements
from anonymiser.maskers.base import ColumnSpec, MaskContext, Param, Strategy, map_unique, register

_LENGTH = re.compile(r"\((\d+)\)\[\]")


@register
class Array(Strategy):
    """Applies a nested rule (`{strategy: ..., <params>}`) to every element of a PostgreSQL
    array column, keeping NULL elements, dimensions and order. The nested rule cannot be
    json, array, keep or presidio.

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
        return map_unique(
            values, lambda unique: map_elements(unique, lambda e: self._elements(e, ctx))
        )

    def originals(self, values: pa.Array) -> pa.Array | None:
        """Every element, when the nested rule replaces them (for the leak check)."""
        if not self.rule.strategy.leak_checked:
            return None
        seen: list[pa.Array] = []

        def record(elements: pa.Array) -> pa.Array:
            seen.append(elements)
            return elements

        map_elements(pc.unique(values).drop_null(), record)
        return pa.concat_arrays([pa.array([], pa.string()), *(e.cast(pa.string()) for e in seen)])

    def _elements(self, elements: pa.Array, ctx: MaskContext) -> pa.Array:
        element_type = self.rule.strategy.column.arrow_type
        return self.rule.mask(elements.cast(element_type), ctx).cast(pa.string())
