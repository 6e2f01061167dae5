"""redact: letters and digits become a mask character (shape kept), or the whole value a token."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers._vector import string_array, text_problem
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

_WHITESPACE = "\t\n\f\r "  # what the regex engine's \s keeps (not \v, not Unicode spaces)


@register
class Redact(Strategy):
    """Replaces every letter and digit by `char`, keeping spaces and the `keep` separators, so
    the value's shape survives ('Jo Smith' -> 'xx xxxxx'); or, with `token`, the whole value
    by that text. NULLs stay NULL.

    Example: {strategy: redact, reason: "phone number, shape is enough"}
    """

    name = "redact"
    summary = "Replace every character but separators by a mask character, or the value by a token."
    params: ClassVar[Mapping[str, Param]] = {
        "char": Param(str, "the mask character", default="x"),
        "keep": Param(str, "characters left as they are (separators)", default=" -@.,'/()+:_"),
        "token": Param(str, "replace the whole value by this text instead", default=None),
    }

    def check_column(self, column: ColumnSpec) -> str | None:
        if len(self.options["char"]) != 1:
            raise RuleError(f"strategy redact: char={self.options['char']!r} must be one character")
        token = self.options["token"]
        if token is not None and column.max_length is not None and len(token) > column.max_length:
            return (
                f"strategy redact on {column.table}.{column.name}: token {token!r} is longer "
                f"than {column.pg_type} allows"
            )
        return text_problem(self.name, column)

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        token = self.options["token"]
        if token is not None:
            filled = pa.repeat(pa.scalar(token, type=values.type), len(values))
            return pc.if_else(pc.is_null(values), pa.nulls(len(values), values.type), filled)
        char, keep = self.options["char"], self.options["keep"]
        if char.isascii() and keep.isascii():
            return _redact_bytes(values, ord(char), _WHITESPACE + keep)
        kept = "".join(re.escape(c) for c in keep)
        pattern = f"[^\\s{kept}]" if kept else "[^\\s]"
        replacement = self.options["char"].replace("\\", "\\\\")
        return map_unique(
            values, lambda unique: pc.replace_substring_regex(unique, pattern, replacement)
        )


def _redact_bytes(values: pa.Array, char: int, keep: str) -> pa.Array:
    """The regex replacement above, done on the UTF-8 bytes: every character not in `keep`
    (ASCII) becomes `char`; a multi-byte character becomes one `char`."""
    offsets, data, valid = byte_view(values)
    start = int(offsets[0])
    chunk = data[start : int(offsets[-1])]
    replaced = np.ones(256, dtype=bool)
    replaced[[ord(c) for c in keep]] = False
    out = np.where(replaced[chunk], np.uint8(char), chunk)
    rebased = offsets - start
    if len(chunk) and int(chunk.max()) >= 0x80:
        # drop UTF-8 continuation bytes: their lead byte already stands for the character
        lead = (chunk & 0xC0) != 0x80
        out = out[lead]
        rebased = np.concatenate(([0], np.cumsum(lead, dtype=np.int64)))[rebased]
    return string_array(rebased, out, valid, values.type)
