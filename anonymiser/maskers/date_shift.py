"""date_shift: move each date/timestamp by a keyed offset of 1..N days either way (time kept)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pyarrow as pa

from anonymiser.maskers._pgdate import date_problem, rewrite_dates
from anonymiser.maskers._vector import mix
from anonymiser.maskers.base import (
    ColumnSpec,
    MaskContext,
    Param,
    RuleError,
    Strategy,
    map_unique,
    register,
)


@register
class DateShift(Strategy):
    """Moves each date or timestamp by a keyed offset of 1 to `days` days, earlier or
    later (never 0), keeping the time of day; with `seed`, every value of the column moves by the
    same offset, so intervals between them are kept. Infinities are kept.

    Example: {strategy: date_shift, days: 30, reason: "date of birth"}
    """

    name = "date_shift"
    leak_checked = False  # a shifted date legitimately equals other rows' originals
    summary = "Shift dates by a keyed offset within +/-days (never 0); infinities are kept."
    may_collide = True
    params: ClassVar[Mapping[str, Param]] = {
        "days": Param(int, "largest shift in days, either way", default=30),
        "seed": Param(str, "one offset for every value, derived from this seed (keeps intervals)"),
    }

    def check_column(self, column: ColumnSpec) -> str | None:
        if self.options["days"] < 1:
            raise RuleError(f"strategy date_shift: days={self.options['days']} must be >= 1")
        return date_problem(self.name, column)

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        return map_unique(values, lambda unique: self._shift(unique, ctx))

    def _shift(self, unique: pa.Array, ctx: MaskContext) -> pa.Array:
        days = self.options["days"]
        seed = self.options["seed"]
        if seed is None:
            digests = ctx.digests(unique)
        else:
            digests = np.full(len(unique), ctx.digests(pa.array([seed]))[0], dtype=np.uint64)
        # 1..days, then a sign: a shift of 0 would leave the value as it was
        size = (mix(digests, 11) % np.uint64(days)).astype(np.int64) + 1
        sign = np.where(mix(digests, 12) & np.uint64(1), 1, -1)
        shift = size * sign
        return rewrite_dates(unique, lambda day, rows: day + shift[rows])
