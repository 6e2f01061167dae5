"""keep: the value is copied as is; must be written explicitly, with a reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import pyarrow as pa

from anonymiser.maskers.base import MaskContext, Param, Strategy, register


@register
class Keep(Strategy):
    """Copies the value unchanged. Every kept column is written down explicitly, with a reason
    the reviewer can check (a surrogate key, a status code, a non-personal amount).

    Example: {strategy: keep, reason: "surrogate key, not personal"}
    """

    name = "keep"
    summary = "Copy the value unchanged (not personal data; the reason says why)."
    keeps_value = True
    leak_checked = False
    params: ClassVar[Mapping[str, Param]] = {
        "public": Param(
            bool,
            "the values are public (a register): the verify stage's leak check does not "
            "count an original of a masked column that happens to equal one here",
            default=False,
        ),
    }

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        return values
