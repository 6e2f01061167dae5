"""constant: every non-NULL value becomes one fixed value, checked against the column type."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers._vector import is_text_column
from anonymiser.maskers.base import ColumnSpec, MaskContext, Param, Strategy, register

_INT_RANGES = {"int2": 2**15, "int4": 2**31, "int8": 2**63}


@register
class Constant(Strategy):
    """Every non-NULL value becomes `value`; NULLs stay NULL. The value is checked against
    the column type (an integer in range, a number, a boolean, a uuid, text that fits
    varchar(n)); refused on a unique column, where one value for every row would break it.

    Example: {strategy: constant, value: "withheld", reason: "free text not needed"}
    """

    name = "constant"
    summary = "Replace every non-NULL value with one fixed value (NULLs stay NULL)."
    params: ClassVar[Mapping[str, Param]] = {
        "value": Param((str, int, float, bool), "the replacement, in the column's type", True),
    }

    def check_column(self, column: ColumnSpec) -> str | None:
        where = f"strategy constant on {column.table}.{column.name}"
        if column.unique:
            return f"{where}: the column is unique, and one value for every row breaks it"
        problem = _type_problem(self.options["value"], column)
        return f"{where}: value {self.options['value']!r} {problem}" if problem else None

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        value = self.options["value"]
        if pa.types.is_string(values.type) and not isinstance(value, str):
            value = str(value).lower() if isinstance(value, bool) else str(value)
        filled = pa.repeat(pa.scalar(value, type=values.type), len(values))
        if values.null_count == 0:
            return filled
        return pc.if_else(pc.is_null(values), pa.nulls(len(values), values.type), filled)


def _type_problem(value: Any, column: ColumnSpec) -> str | None:
    """Why `value` cannot be stored in `column` (None when it can)."""
    base = column.base_type
    if column.is_array:
        return "cannot fill an array column (use the array strategy)"
    if base in _INT_RANGES:
        limit = _INT_RANGES[base]
        if isinstance(value, bool) or not isinstance(value, int):
            return f"is not an integer for {column.pg_type}"
        if not -limit <= value < limit:
            return f"is out of range for {column.pg_type}"
        return None
    if base in ("float4", "float8", "numeric"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"is not a number for {column.pg_type}"
        return None
    if base == "bool":
        return None if isinstance(value, bool) else "is not a boolean"
    if base == "bytea":
        return "cannot fill a bytea column (use hash or null)"
    if not isinstance(value, str):
        return f"must be text in PostgreSQL's form for {column.pg_type}"
    if base == "uuid":
        try:
            uuid.UUID(value)
        except ValueError:
            return "is not a uuid"
    if is_text_column(column) and column.max_length is not None and len(value) > column.max_length:
        return f"is longer than {column.pg_type} allows"
    return None
