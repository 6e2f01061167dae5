"""PostgreSQL array text ('{a,"b c",NULL,{1,2}}'): elements masked in place, vectorised."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers._splice import join_replaced, real_quotes, split_at
from anonymiser.maskers.base import byte_view

__all__ = ["format_array", "format_elements", "map_elements", "parse_array"]

# what Python's \s (str.isspace) matches, for the regex engine whose \s is ASCII only
_SPACE = (
    r"\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}"
    r"\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
)
_QUOTE_IF = f'[{{}}",\\\\{_SPACE}]'
# bytes that may start a character Python strips (ASCII spaces; U+0085, U+00A0, U+1680,
# U+2000.., U+3000): an unquoted element with one at an end is left to the Python parser
_MAY_STRIP = np.zeros(256, dtype=bool)
_MAY_STRIP[[0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0xC2, 0xE1, 0xE2, 0xE3]] = (
    True
)
_OPEN, _CLOSE, _QUOTE, _BACKSLASH = b'{}"\\'
_STRUCTURAL = np.zeros(256, dtype=bool)
_STRUCTURAL[list(b"{},")] = True

_NEEDS_QUOTES = re.compile(r'[{}",\\\s]')


def parse_array(text: str) -> tuple[str, list[Any]]:
    """(dimension decoration such as '[0:1]=', nested lists of str | None)."""
    prefix = ""
    if text.startswith("["):
        cut = text.index("=") + 1
        prefix, text = text[:cut], text[cut:]
    value, end = _parse(text, 0)
    if end != len(text):
        raise ValueError(f"unexpected text after array: {text[end:]!r}")
    return prefix, value


def _parse(text: str, pos: int) -> tuple[list[Any], int]:
    if text[pos] != "{":
        raise ValueError(f"array text must start with {{: {text!r}")
    pos += 1
    items: list[Any] = []
    if text[pos] == "}":
        return items, pos + 1
    while True:
        char = text[pos]
        if char == "{":
            item, pos = _parse(text, pos)
            items.append(item)
        elif char == '"':
            pos += 1
            chunk: list[str] = []
            while text[pos] != '"':
                if text[pos] == "\\":
                    pos += 1
                chunk.append(text[pos])
                pos += 1
            items.append("".join(chunk))
            pos += 1
        else:
            end = pos
            while text[end] not in ",}":
                end += 1
            raw = text[pos:end].strip()
            items.append(None if raw.upper() == "NULL" else raw)
            pos = end
        if text[pos] == "}":
            return items, pos + 1
        pos += 1  # the comma


def format_array(prefix: str, items: list[Any]) -> str:
    return prefix + _format(items)


def _format(items: list[Any]) -> str:
    parts = []
    for item in items:
        if isinstance(item, list):
            parts.append(_format(item))
        elif item is None:
            parts.append("NULL")
        elif item == "" or item.upper() == "NULL" or _NEEDS_QUOTES.search(item):
            parts.append('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"')
        else:
            parts.append(item)
    return "{" + ",".join(parts) + "}"


def map_elements(values: pa.Array, mask: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """Every non-NULL element of every array text replaced by `mask` of it (one call, string
    array in, string array out); the text around the elements is kept byte for byte.

    Arrays as PostgreSQL writes them are split with NumPy on the positions of their braces,
    commas and quotes; anything else (a '[1:2]=' dimension decoration, spaces around an
    element, unbalanced quotes) goes through parse_array.
    """
    offsets, data, valid = byte_view(values)
    base = int(offsets[0])
    data = data[base : int(offsets[-1])]
    offsets = offsets - base
    starts, ends = offsets[:-1], offsets[1:]
    if not len(data):
        return _map_slowly(values, valid, mask, pa.array([""] * len(values)))
    fast = valid & (ends - starts >= 2)
    fast &= (data[np.minimum(starts, len(data) - 1)] == _OPEN) & (data[ends - 1] == _CLOSE)
    quotes = real_quotes(data)
    if ((np.searchsorted(quotes, ends) - np.searchsorted(quotes, starts)) % 2).any():
        # an unbalanced quote would flip what is quoted in every later row
        return _map_slowly(values, valid, mask, pa.array([""] * len(values)))
    cuts = np.flatnonzero(_STRUCTURAL[data])
    cuts = cuts[np.searchsorted(quotes, cuts) % 2 == 0]  # not between quotes
    row = np.searchsorted(ends, cuts, side="right")
    pair = (row[:-1] == row[1:]) & (cuts[1:] - cuts[:-1] > 1)  # a non-empty token
    first, end, token_row = cuts[:-1][pair] + 1, cuts[1:][pair], row[:-1][pair]
    quoted = data[first] == _QUOTE
    opening = np.searchsorted(quotes, first)
    inner = np.searchsorted(quotes, end) - opening
    closing = quotes[np.minimum(opening + 1, len(quotes) - 1)] if len(quotes) else first
    well_quoted = (inner == 2) & (closing == end - 1)
    ragged = _MAY_STRIP[data[first]] | _MAY_STRIP[data[end - 1]]
    ragged |= (
        _MAY_STRIP[data[np.maximum(end - 2, first)]] | _MAY_STRIP[data[np.maximum(end - 3, first)]]
    )
    plain = (inner == 0) & ~ragged
    fast[token_row[~np.where(quoted, well_quoted, plain)]] = False
    null = ~quoted & (end - first == 4)
    null[null] = _is_null(data, first[null], 0xDF)
    # the parser writes a lower-case null back as NULL: leave such rows to it
    fast[token_row[null][~_is_null(data, first[null], 0xFF)]] = False
    chosen = fast[token_row] & ~null
    first, end, token_row, quoted = first[chosen], end[chosen], token_row[chosen], quoted[chosen]
    pieces, slot, rows = split_at(starts, ends, data, first, end, token_row)
    elements = pieces.take(pa.array(slot))
    if quoted.any():
        where = pa.array(quoted)
        inside = pc.utf8_slice_codeunits(elements.filter(where), 1, -1)
        if (data == _BACKSLASH).any():
            inside = pc.replace_substring_regex(inside, r"(?s)\\(.)", r"\1")
        elements = pc.replace_with_mask(elements, where, inside)
    text = format_elements(mask(elements)) if len(elements) else elements
    result = join_replaced(pieces, slot, rows, text)
    return _map_slowly(values, valid & ~fast, mask, result)


def _map_slowly(
    values: pa.Array, slow: np.ndarray, mask: Callable[[pa.Array], pa.Array], done: pa.Array
) -> pa.Array:
    """`done` with the `slow` rows redone by the Python parser (and NULL rows NULL)."""
    if values.null_count:
        done = pc.if_else(values.is_valid(), done, pa.nulls(len(values), pa.string()))
    if slow.any():
        redone = [_map_elements_slowly(t, mask) for t in values.filter(pa.array(slow)).to_pylist()]
        done = pc.replace_with_mask(done, pa.array(slow), pa.array(redone, pa.string()))
    return done.cast(values.type)


def _is_null(data: np.ndarray, starts: np.ndarray, case: int) -> np.ndarray:
    """Whether the 4 bytes at each start spell NULL (case 0xDF: in any case)."""
    found = np.ones(len(starts), dtype=bool)
    for at, char in enumerate(b"NULL"):
        found &= (data[starts + at] & case) == char
    return found


def format_elements(elements: pa.Array) -> pa.Array:
    """Each element as format_array writes it (quoted where needed; NULL): text elements
    of a PostgreSQL array literal, vectorised."""
    quote = pc.or_(
        pc.or_(pc.equal(elements, ""), pc.equal(pc.ascii_upper(elements), "NULL")),
        pc.match_substring_regex(elements, _QUOTE_IF),
    )
    quote = pc.fill_null(quote, False)
    if pc.any(quote).as_py():
        chosen = elements.filter(quote)
        escaped = pc.replace_substring(pc.replace_substring(chosen, "\\", "\\\\"), '"', '\\"')
        elements = pc.replace_with_mask(
            elements, quote, pc.binary_join_element_wise('"', escaped, '"', "")
        )
    return pc.fill_null(elements, "NULL") if elements.null_count else elements


def _map_elements_slowly(text: str, mask: Callable[[pa.Array], pa.Array]) -> str:
    prefix, items = parse_array(text)
    slots: list[tuple[list[Any], int]] = []
    _collect(items, slots)
    if slots:
        masked = mask(pa.array([holder[i] for holder, i in slots], pa.string())).to_pylist()
        for (holder, i), new in zip(slots, masked, strict=True):
            holder[i] = new
    return format_array(prefix, items)


def _collect(items: list[Any], slots: list[tuple[list[Any], int]]) -> None:
    for i, item in enumerate(items):
        if isinstance(item, list):
            _collect(item, slots)
        elif item is not None:
            slots.append((items, i))
