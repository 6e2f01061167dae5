"""date_generalise: keep only the year or the month of a date/timestamp (time set to midnight)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pyarrow as pa

from anonymiser.maskers._pgdate import date_problem, from_julian, rewrite_dates, to_julian
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
class DateGeneralise(Strategy):
    """Truncates dates and timestamps to the first day of their year (`to: year`) or
    month (`to: month`), at midnight. Infinities are kept.

    Example: {strategy: date_generalise, to: year, reason: "year of birth is enough"}
    """

    name = "date_generalise"
    leak_checked = False  # a generalised value legitimately equals other rows' originals
    summary = "Truncate dates to the first day of their year or month; infinities are kept."
    params: ClassVar[Mapping[str, Param]] = {"to": Param(str, "year or month", default="year")}

    def check_column(self, column: ColumnSpec) -> str | None:
        if self.options["to"] not in ("year", "month"):
            raise RuleError(
                f"strategy date_generalise: to={self.options['to']!r} must be year or month"
            )
        return date_problem(self.name, column)

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        return map_unique(values, self._truncate)

    def _truncate(self, unique: pa.Array) -> pa.Array:
        return rewrite_dates(unique, self._first_day, midnight=True)

    def _first_day(self, day: np.ndarray, rows: np.ndarray) -> np.ndarray:
        year, month, _ = from_julian(day)
        if self.options["to"] == "year":
            month = np.ones_like(month)
        return to_julian(year, month, np.ones_like(month))
