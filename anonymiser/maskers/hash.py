"""hash: keyed digest of the value, shaped to fit the column (text, integer, uuid, bytea)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers._vector import fixed_width_strings, hex_strings, is_text_column, mix
from anonymiser.maskers.base import (
    ColumnSpec,
    MaskContext,
    Param,
    RuleError,
    Strategy,
    map_unique,
    register,
)

_INT_MAX = {"int2": 2**15 - 1, "int4": 2**31 - 1, "int8": 2**63 - 1}
_BASE32 = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", dtype=np.uint8)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@register
class Hash(Strategy):
    """A keyed digest of the value, shaped by the column type: hex or base32 text (with
    `prefix`, cut to `length` and to varchar(n)), an integer between `min` and `max`, a uuid, or
    `bytes` bytes for bytea. Equal inputs give equal outputs in the same namespace, so joins
    hold; unique columns are checked for collisions and re-masked.

    Example: {strategy: hash, length: 16, reason: "external reference, opaque is fine"}
    """

    name = "hash"
    summary = "Keyed digest: hex/base32 text, an integer in range, a uuid or bytes, by column type."
    may_collide = True
    params: ClassVar[Mapping[str, Param]] = {
        "length": Param(int, "text: characters of digest (default 32, cut to the column length)"),
        "encoding": Param(str, "text: hex or base32", default="hex"),
        "prefix": Param(str, "text: put before the digest", default=""),
        "min": Param(int, "integers: smallest output", default=1),
        "max": Param(int, "integers: largest output (default: the type's maximum)"),
        "bytes": Param(int, "bytea: digest length in bytes", default=16),
    }

    def check_column(self, column: ColumnSpec) -> str | None:
        where = f"strategy hash on {column.table}.{column.name}"
        if self.options["encoding"] not in ("hex", "base32"):
            raise RuleError(f"{where}: encoding must be hex or base32")
        if column.base_type in _INT_MAX:
            top = _INT_MAX[column.base_type]
            low, high = self.options["min"], self.options["max"]
            high = top if high is None else high
            if not -top - 1 <= low <= high <= top:
                return f"{where}: min {low} .. max {high} does not fit {column.pg_type}"
            self.options["max"] = high
            return None
        if column.base_type == "bytea":
            if not 1 <= self.options["bytes"] <= 64:
                raise RuleError(f"{where}: bytes must be 1..64")
            return None
        if column.base_type == "uuid":
            return None
        if not is_text_column(column):
            return f"{where}: cannot hash into {column.pg_type} (text, integers, uuid, bytea)"
        room = (
            None if column.max_length is None else column.max_length - len(self.options["prefix"])
        )
        if room is not None and room < 1:
            return f"{where}: prefix leaves no room in {column.pg_type}"
        length = self.options["length"] or 32
        if length < 1:
            raise RuleError(f"{where}: length must be >= 1")
        self.options["length"] = length if room is None else min(length, room)
        return None

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        return map_unique(values, lambda unique: self._digest(unique, ctx))

    def _digest(self, unique: pa.Array, ctx: MaskContext) -> pa.Array:
        base = self.column.base_type
        if base in _INT_MAX:
            low, high = self.options["min"], self.options["max"]
            span = np.uint64(high - low + 1) if high - low + 1 < 2**64 else None
            digests = ctx.digests(unique)
            offset = digests if span is None else digests % span
            ints = (offset.astype(np.int64) + np.int64(low)).astype(np.int64)
            return pa.array(ints).cast(unique.type)
        if base == "bytea":
            size = self.options["bytes"]
            words = ctx.wide_digests(unique, (size + 7) // 8)
            raw = words.astype("<u8").view(np.uint8).reshape(len(unique), -1)[:, :size]
            offsets = np.arange(len(unique) + 1, dtype=np.int32) * np.int32(size)
            return pa.BinaryArray.from_buffers(
                pa.binary(), len(unique), [None, pa.py_buffer(offsets), pa.py_buffer(raw.copy())]
            ).cast(unique.type)
        if base == "uuid":
            return _uuids(ctx.wide_digests(unique, 2))
        length = self.options["length"]
        if self.options["encoding"] == "hex":
            text = hex_strings(ctx.wide_digests(unique, (length + 15) // 16), length)
        else:
            text = _base32(ctx.wide_digests(unique, (length + 11) // 12), length)
        if self.options["prefix"]:
            text = pc.binary_join_element_wise(self.options["prefix"], text, "")
        return text.cast(unique.type)


def _base32(words: np.ndarray, length: int) -> pa.Array:
    matrix = np.empty((words.shape[0], length), dtype=np.uint8)
    for i in range(length):
        matrix[:, i] = _BASE32[(mix(words[:, i // 12], i) >> np.uint64(59)).astype(np.intp)]
    return fixed_width_strings(matrix)


def _uuids(words: np.ndarray) -> pa.Array:
    """8-4-4-4-12 with the version nibble 4 and the RFC 4122 variant, like uuid4()."""
    raw = words.astype(">u8").view(np.uint8).reshape(len(words), 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.empty((len(words), 32), dtype=np.uint8)
    hexed[:, 0::2] = _HEX[raw >> 4]
    hexed[:, 1::2] = _HEX[raw & 0x0F]
    matrix = np.full((len(words), 36), ord("-"), dtype=np.uint8)
    for source, target in ((0, 0), (8, 9), (12, 14), (16, 19), (20, 24)):
        width = {0: 8, 20: 12}.get(source, 4)
        matrix[:, target : target + width] = hexed[:, source : source + width]
    return fixed_width_strings(matrix)
