"""pattern: identifiers replaced keeping their shape (letters, digits, separators), or a format."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers._vector import digit_strings, mix, pick, string_array, text_problem
from anonymiser.maskers.base import (
    ColumnSpec,
    MaskContext,
    Param,
    RuleError,
    Strategy,
    byte_view,
    map_unique,
    register,
)

# National Insurance number prefixes: HMRC never issues D, F, I, Q, U, V as either letter nor O
# as the second, nor the prefixes below; a CHECK like ^[A-CEGHJ-PR-TW-Z]{2}[0-9]{6}[A-D]$ holds
_NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
_NINO_PREFIXES = pa.array(
    [
        a + b
        for a, b in itertools.product(_NINO_FIRST, _NINO_FIRST.replace("O", ""))
        if a + b not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}
    ]
)
_NINO_SUFFIXES = pa.array(list("ABCD"))
_FORMATS = {"ni_number": 9, "trn": 7}
_U64 = np.uint64


@register
class Pattern(Strategy):
    """Replaces letters by letters and digits by digits, keeping separators and case, so an
    identifier keeps its format ('AB-1234' -> 'QX-8812'); with `format`, generates a valid
    UK National Insurance number (`ni_number`) or teacher reference number (`trn`, 7 digits).

    Example: {strategy: pattern, format: ni_number, reason: "National Insurance number"}
    """

    name = "pattern"
    summary = (
        "Replace letters by letters and digits by digits, keeping separators and case; "
        "or generate a valid ni_number / trn (7 digits)."
    )
    may_collide = True
    params: ClassVar[Mapping[str, Param]] = {
        "format": Param(str, "ni_number or trn; without it the value's own shape is kept"),
    }

    def check_column(self, column: ColumnSpec) -> str | None:
        fmt = self.options["format"]
        if fmt is not None and fmt not in _FORMATS:
            known = ", ".join(sorted(_FORMATS))
            raise RuleError(f"strategy pattern: unknown format {fmt!r} (known: {known})")
        if fmt and column.max_length is not None and column.max_length < _FORMATS[fmt]:
            return (
                f"strategy pattern on {column.table}.{column.name}: a {fmt} needs "
                f"{_FORMATS[fmt]} characters and the column is {column.pg_type}"
            )
        return text_problem(self.name, column)

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        fmt = self.options["format"]
        if fmt == "ni_number":
            return map_unique(values, lambda unique: _ni_numbers(ctx.digests(unique)))
        if fmt == "trn":
            return map_unique(values, lambda unique: digit_strings(mix(ctx.digests(unique), 1), 7))
        return map_unique(values, lambda unique: _same_shape(unique, ctx))


def _ni_numbers(digests: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(
        pick(_NINO_PREFIXES, digests, 1),
        digit_strings(mix(digests, 2) % _U64(10**6), 6),
        pick(_NINO_SUFFIXES, digests, 3),
        "",
    )


_CLASS_LOW = np.zeros(256, dtype=np.uint32)  # first character of the byte's class
_CLASS_SIZE = np.zeros(256, dtype=np.uint32)  # 0: not a letter or digit, kept
for _low, _high in ((48, 57), (65, 90), (97, 122)):
    _CLASS_LOW[_low : _high + 1] = _low
    _CLASS_SIZE[_low : _high + 1] = _high - _low + 1
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_ROWS = 8192  # rows per pass: the per-byte temporaries stay in the CPU cache


def _same_shape(unique: pa.Array, ctx: MaskContext) -> pa.Array:
    """Every ASCII letter/digit replaced by one of its class, from the value's keyed digest."""
    offsets, data, valid = byte_view(unique)
    base = int(offsets[0])
    chars = data[base : int(offsets[-1])].copy()
    offsets = offsets - base
    # one multiply-xorshift per byte: the digest is already keyed and uniform, this only has to
    # spread it over the positions: noise = ((seed + position * golden) * m) >> 32, with
    # seed - row start * golden folded per row so that the flat byte index stands for position
    seeds = mix(ctx.digests(unique), 7)
    steps = np.arange(int(np.diff(offsets).max(initial=0)) * _ROWS, dtype=np.uint64) * _GOLDEN
    for first in range(0, len(unique), _ROWS):
        row_offsets = offsets[first : first + _ROWS + 1]
        low, high = int(row_offsets[0]), int(row_offsets[-1])
        span = chars[low:high]
        folded = seeds[first : first + _ROWS] - (row_offsets[:-1] - low).astype(np.uint64) * _GOLDEN
        noise = np.repeat(folded, np.diff(row_offsets))
        noise += steps[: high - low]
        noise *= _U64(0xBF58476D1CE4E5B9)
        noise >>= _U64(32)
        size = _CLASS_SIZE[span]
        hit = size > 0
        np.remainder(noise.astype(np.uint32), size, out=size, where=hit)
        span[hit] = (_CLASS_LOW[span[hit]] + size[hit]).astype(np.uint8)
    return string_array(offsets, chars, valid, unique.type)
