"""partial: keep the first and/or last N characters, mask the rest (all of a too-short value)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers._vector import text_problem
from anonymiser.maskers.base import ColumnSpec, MaskContext, Param, RuleError, Strategy, register


@register
class Partial(Strategy):
    """Keeps the `first` and `last` characters and replaces the rest by `char`
    ('07700 900123' -> '********0123'). A value no longer than what would be kept is masked
    whole, since showing all of it would leak it.

    Example: {strategy: partial, last: 4, reason: "last digits help support staff"}
    """

    name = "partial"
    summary = "Keep the first/last N characters and mask the rest; short values are fully masked."
    params: ClassVar[Mapping[str, Param]] = {
        "first": Param(int, "characters kept at the start", default=0),
        "last": Param(int, "characters kept at the end", default=4),
        "char": Param(str, "the mask character", default="*"),
    }

    def check_column(self, column: ColumnSpec) -> str | None:
        first, last, char = self.options["first"], self.options["last"], self.options["char"]
        if first < 0 or last < 0:
            raise RuleError(f"strategy partial: first={first} and last={last} must be >= 0")
        if len(char) != 1:
            raise RuleError(f"strategy partial: char={char!r} must be one character")
        return text_problem(self.name, column)

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        first, last = self.options["first"], self.options["last"]
        length = pc.utf8_length(values)
        # a value no longer than what would be kept is masked whole: showing it all leaks it
        shown = pc.greater(length, first + last)
        empty = pa.scalar("", type=values.type)
        prefix = pc.if_else(shown, pc.utf8_slice_codeunits(values, 0, first), empty)
        suffix = (
            pc.if_else(shown, pc.utf8_slice_codeunits(values, -last), empty)
            if last
            else pa.repeat(empty, len(values))
        )
        hidden = pc.if_else(shown, pc.subtract(length, first + last), length)
        middle = pc.binary_repeat(pa.scalar(self.options["char"], type=values.type), hidden)
        return pc.binary_join_element_wise(prefix, middle, suffix, empty)
