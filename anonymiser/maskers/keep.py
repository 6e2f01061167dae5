"""keep: the value is copied as is; must be written explicitly, with a reason."""

from __future__ import annotations

import pyarrow as pa

from anonymiser.maskers.base import MaskContext, Strategy, register


@register
class Keep(Strategy):
    """Copies the value unchanged. Every kept column is written down explicitly, with a reason
    the reviewer can check (a surrogate key, a status code, a non-personal amount).

    Example: {strategy: keep, reason: "surrogate key, not personal"}
    """

    name = "keep"
    summary = "Copy the value unchanged (not personal data; the reason says why)."
    keeps_value = True

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        return values
