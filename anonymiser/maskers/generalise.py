"""generalise: coarser values: a UK postcode to its outward code, a number to its bucket."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers._vector import is_text_column
from anonymiser.maskers.base import (
    ColumnSpec,
    MaskContext,
    Param,
    RuleError,
    Strategy,
    map_unique,
    register,
)

_POSTCODE = r"^\s*(?P<outward>[A-Za-z]{1,2}[0-9][A-Za-z0-9]?)\s*[0-9][A-Za-z]{2}\s*$"
_NUMERIC = frozenset({"int2", "int4", "int8", "float4", "float8", "numeric"})


@register
class Generalise(Strategy):
    """Makes values coarser: a UK postcode becomes its outward code ('SW1A 1AA' -> 'SW1A';
    anything that is not a postcode becomes `other`), or, with `kind: number`, a number goes
    down to a multiple of `step` (numeric columns).

    Example: {strategy: generalise, kind: postcode, reason: "district is enough"}
    """

    name = "generalise"
    leak_checked = False  # a generalised value legitimately equals other rows' originals
    summary = (
        "Postcode to outward code ('SW1A 1AA' -> 'SW1A'), or a number down to a multiple of step."
    )
    params: ClassVar[Mapping[str, Param]] = {
        "kind": Param(str, "postcode or number", default="postcode"),
        "step": Param((int, float), "number: bucket width", default=10),
        "other": Param(str, "postcode: what a value that is not a postcode becomes", default=""),
    }

    def check_column(self, column: ColumnSpec) -> str | None:
        kind = self.options["kind"]
        where = f"strategy generalise on {column.table}.{column.name}"
        if kind == "postcode":
            if not is_text_column(column):
                return f"{where}: postcodes need a text column and the column is {column.pg_type}"
            return None
        if kind == "number":
            if self.options["step"] <= 0:
                raise RuleError(f"{where}: step must be > 0")
            if column.base_type not in _NUMERIC or column.is_array:
                return f"{where}: numbers need a numeric column and the column is {column.pg_type}"
            return None
        raise RuleError(f"{where}: kind={kind!r} must be postcode or number")

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        if self.options["kind"] == "postcode":
            return map_unique(values, self._outward)
        return self._bucket(values)

    def _outward(self, unique: pa.Array) -> pa.Array:
        outward = pc.struct_field(pc.extract_regex(unique, _POSTCODE), "outward")
        return pc.fill_null(pc.utf8_upper(outward), self.options["other"]).cast(unique.type)

    def _bucket(self, values: pa.Array) -> pa.Array:
        step = self.options["step"]
        if pa.types.is_integer(values.type) and isinstance(step, int):
            return _int_bucket(values, step)
        numbers = pc.cast(values, pa.float64()) if pa.types.is_string(values.type) else values
        bucketed = pc.multiply(pc.floor(pc.divide(numbers, float(step))), float(step))
        if pa.types.is_string(values.type):
            as_int = isinstance(step, int)
            text = pc.cast(pc.cast(bucketed, pa.int64()) if as_int else bucketed, pa.string())
            return text
        return bucketed.cast(values.type)


def _int_bucket(values: pa.Array, step: int) -> pa.Array:
    raw = values.to_numpy(zero_copy_only=False)
    filled = np.nan_to_num(raw.astype(np.float64)) if values.null_count else raw
    ints = filled.astype(np.int64)
    bucketed = (ints // step) * step
    mask = None if values.null_count == 0 else pc.is_null(values).to_numpy(zero_copy_only=False)
    return pa.array(bucketed, mask=mask).cast(values.type)
