"""JSON text as PostgreSQL writes it: the scalars at `$.key` / `$.key[*]` masked in place.

The documents of a column are read together with NumPy, ~1 MiB of text at a time (string
literals by unescaped quotes, nesting by the brackets outside them); each scalar at the path
is cut out, all of them are masked in one call, and the new values are spliced back into
the original text, which is otherwise kept byte for byte. A document this reading is not
sure about (escapes in a key or value, a container or a fraction at the path, a key twice,
unusual spacing) is reported back for the Python parser.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers._splice import escaped_bytes, join_replaced, split_at
from anonymiser.maskers._vector import string_array
from anonymiser.maskers.base import byte_view

__all__ = ["mask_at_key", "mask_at_keys"]

_OPEN_OBJECT, _OPEN_ARRAY, _CLOSE_ARRAY, _QUOTE, _COLON, _SPACE = b'{[]": '
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[list(b"0123456789")] = True
# what may stand outside strings in an array of strings and literals
_IN_STRING_ARRAY = np.zeros(256, dtype=bool)
_IN_STRING_ARRAY[list(b", nulltruefalse")] = True
# a document that is left unchanged by a key path: not an object
_NOT_OBJECT = np.zeros(256, dtype=bool)
_NOT_OBJECT[list(b'["-0123456789tfn')] = True
# a value after `"key": ` that the reading leaves to the parser: other spacing, an object
_ODD_VALUE = np.zeros(256, dtype=bool)
_ODD_VALUE[list(b" \t\r\n{")] = True
_END_OF_NUMBER = np.zeros(256, dtype=bool)
_END_OF_NUMBER[list(b",}] \t\r\n")] = True


Mask = Callable[[pa.Array], pa.Array]
Spans = list[tuple[np.ndarray, np.ndarray]]  # per path: the [first, end) bytes of its scalars
_NONE = np.zeros(0, dtype=np.int64)
_CHUNK_BYTES = 1 << 20  # text read at a time (see mask_at_keys)


def mask_at_key(docs: pa.Array, key: str, each: bool, mask: Mask) -> tuple[pa.Array, np.ndarray]:
    """`docs` with the scalars at `$.key` (or each element of `$.key[*]`) masked, and which
    documents the Python parser must redo instead."""
    return mask_at_keys(docs, [(key, each, mask)])


def mask_at_keys(
    docs: pa.Array, paths: Sequence[tuple[str, bool, Mask]], *, write: bool = True
) -> tuple[pa.Array, np.ndarray]:
    """mask_at_key for several distinct keys, the documents read once for all of them.

    `write=False` only reads: each mask sees its scalars, the documents come back as they were
    (the leak check's originals, without the cost of splicing).
    """
    offsets, data, valid = byte_view(docs)
    base = int(offsets[0])
    data = data[base : int(offsets[-1])]
    offsets = offsets - base
    n = len(offsets) - 1
    wanted = [(key.encode(), each) for key, each, _ in paths]
    if not len(data) or any(b'"' in key or b"\\" in key for key, _ in wanted):
        return docs, np.ones(n, dtype=bool)
    if len({key for key, _ in wanted}) < len(wanted):
        raise ValueError("mask_at_keys needs distinct keys")
    slow = np.zeros(n, dtype=bool)
    found: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in paths]
    # rows read a slice at a time: the reading's temporaries (a few per byte and per quote)
    # stay in the CPU cache and in the allocator's heap, where whole-batch arrays cost page
    # faults (a third of the CPU time) and memory bandwidth
    cuts = np.unique(np.searchsorted(offsets, np.arange(0, len(data), _CHUNK_BYTES)))
    for first, last in zip(cuts, [*cuts[1:], n], strict=True):
        lo = int(offsets[first])
        chunk = data[lo : int(offsets[last])]
        read = _read_rows(chunk, offsets[first : last + 1] - lo, valid[first:last], wanted)
        if read is None:
            slow[first:last] = True
            continue
        slow[first:last] = read[0]
        for path, (begin, stop) in zip(found, read[1], strict=True):
            path.append((begin + lo, stop + lo))
    joined = [
        (
            np.concatenate([_NONE, *(b for b, _ in path)]),
            np.concatenate([_NONE, *(e for _, e in path)]),
        )
        for path in found
    ]
    masks = [m for _, _, m in paths]
    return _splice_masked(docs, offsets[:-1], offsets[1:], data, slow, joined, masks, write)


def _read_rows(
    data: np.ndarray, offsets: np.ndarray, valid: np.ndarray, wanted: list[tuple[bytes, bool]]
) -> tuple[np.ndarray, Spans] | None:
    """Which rows (back to back in `data`, from 0) are slow, and each key's value spans
    [first, end) in them; None when every row is."""
    starts, ends = offsets[:-1], offsets[1:]
    n = len(starts)
    backslashes = np.flatnonzero(data == ord("\\"))
    # quotes and brackets in text order, read together: the quotes before a bracket say
    # whether it is quoted, a running sum of the others the depth (no search per bracket)
    marks = _bracket_bytes(data)
    marks |= data == _QUOTE
    if len(backslashes):
        marks[escaped_bytes(backslashes, len(data))] = False  # only quotes are escaped in JSON
    events = np.flatnonzero(marks)
    if not len(events):
        return None  # no strings, objects or arrays at all: nothing to read
    kinds = data[events]
    is_quote = kinds == _QUOTE
    quotes = events[is_quote]
    quotes_so_far = np.cumsum(is_quote, dtype=np.int32)  # int32: a batch is < 2 GiB
    structural = ~is_quote & (quotes_so_far & 1 == 0)
    # +1 for { and [, -1 for } and ] (bit 2 tells them apart), 0 for quoted ones and quotes
    change = (kinds & np.uint8(2)).view(np.int8)
    change -= np.int8(1)
    change *= structural
    depth_after = np.cumsum(change, dtype=np.int32)
    # the last event before each row boundary: quotes per row, depth where each row starts
    before = np.searchsorted(events, offsets) - 1
    per_row = np.diff(np.where(before >= 0, quotes_so_far[before], 0))
    if (per_row % 2).any():
        return None  # an unbalanced quote would flip what is quoted in later rows
    if np.where(before >= 0, depth_after[before], 0).any():
        return None  # unbalanced brackets
    quote_depth = depth_after[is_quote]  # a quote adds nothing: the depth it stands at
    filled = valid & (ends > starts)
    head = data[np.minimum(starts, len(data) - 1)]
    slow = filled & (head != _OPEN_OBJECT) & ~_NOT_OBJECT[head]
    objects = filled & (head == _OPEN_OBJECT)
    opening, closing = quotes[0::2], quotes[1::2]
    row = np.repeat(np.arange(n), per_row // 2)  # the row of each string

    def escapes(first: np.ndarray, end: np.ndarray) -> np.ndarray:
        if not len(backslashes):
            return np.zeros(len(first), dtype=bool)
        return np.searchsorted(backslashes, end) > np.searchsorted(backslashes, first)

    escaped = escapes(opening, closing)
    after = data[np.minimum(closing + 1, len(data) - 1)]
    # only a string followed by a colon (a key) or by something odd depends on its depth
    odd = (after != ord(",")) & (after != ord("}"))
    candidates = np.flatnonzero(objects[row] & odd)
    top = np.zeros(len(opening), dtype=bool)
    top[candidates[quote_depth[0::2][candidates] == 1]] = True
    is_key = top & (after == _COLON)
    slow[row[top & ~is_key]] = True
    slow[row[is_key & escaped]] = True
    spans: Spans = []
    brackets = None  # the unquoted brackets' positions, for [*] paths
    for key, each in wanted:
        found = np.flatnonzero(is_key & (closing - opening - 1 == len(key)))
        for at, byte in enumerate(key):
            found = found[data[opening[found] + 1 + at] == byte]
        slow |= np.bincount(row[found], minlength=n) > 1
        value = closing[found] + 2
        value += data[np.minimum(value, len(data) - 1)] == _SPACE
        first = data[value]
        slow[row[found][_ODD_VALUE[first]]] = True
        if each:
            if brackets is None:
                brackets = events[structural]
            arrays = value[first == _OPEN_ARRAY]
            j = np.searchsorted(brackets, arrays) + 1
            close = brackets[np.minimum(j, len(brackets) - 1)]
            flat = data[close] == _CLOSE_ARRAY  # no container inside
            slow[np.searchsorted(ends, arrays[~flat], side="right")] = True
            arrays, close = arrays[flat], close[flat]
            # strings inside each array (quote pairs between its brackets); anything but
            # literals and commas between them is slow
            first_quote = np.searchsorted(quotes, arrays)
            last_quote = np.searchsorted(quotes, close)
            inner = _ranges(first_quote, last_quote)
            element = inner[0::2] // 2  # string numbers (a string is a pair of quotes)
            # the gaps around them: array k's j-th string ends gap k + j and starts the next
            counts = (last_quote - first_quote) // 2
            slot = np.arange(len(element)) + np.repeat(np.arange(len(arrays)), counts)
            gap_first = np.empty(len(element) + len(arrays), dtype=np.int64)
            gap_end = np.empty_like(gap_first)
            gap_first[slot + 1], gap_end[slot] = closing[element] + 1, opening[element]
            block = np.arange(len(arrays)) + np.cumsum(counts) - counts
            gap_first[block], gap_end[block + counts] = arrays + 1, close
            bare = _ranges(gap_first, gap_end)
            bare = bare[~_IN_STRING_ARRAY[data[bare]]]
            slow[np.searchsorted(ends, bare, side="right")] = True
            slow[row[element[escaped[element]]]] = True
            spans.append((opening[element], closing[element] + 1))
        else:
            strings = first == _QUOTE
            close = closing[found[strings] + 1]  # the value is the string after the key
            string_rows = row[found][strings]
            slow[string_rows[escapes(value[strings], close)]] = True
            numbers = value[(first == ord("-")) | _DIGIT[first]]
            stop = _number_ends(data, numbers)
            plain = _plain_integers(data, numbers, stop)
            slow[np.searchsorted(ends, numbers[~plain], side="right")] = True
            slow[row[found][first == _OPEN_ARRAY]] = True
            spans.append(
                (np.concatenate((value[strings], numbers)), np.concatenate((close + 1, stop)))
            )
    return slow, spans


def _splice_masked(
    docs: pa.Array,
    starts: np.ndarray,
    ends: np.ndarray,
    data: np.ndarray,
    slow: np.ndarray,
    spans: list[tuple[np.ndarray, np.ndarray]],
    masks: list[Mask],
    write: bool = True,
) -> tuple[pa.Array, np.ndarray]:
    """The documents with each path's spans (outside slow rows) replaced by its mask's JSON."""
    first_byte = np.concatenate([s for s, _ in spans])
    end_byte = np.concatenate([e for _, e in spans])
    path = np.repeat(np.arange(len(spans)), [len(s) for s, _ in spans])
    span_row = np.searchsorted(ends, first_byte, side="right")
    keep = ~slow[span_row]
    if not keep.any():
        return docs, slow
    # in text order, as one path's spans already are: then without a sort, nor copies (new
    # memory costs a page fault per 4 KiB)
    order = None if keep.all() else np.flatnonzero(keep)
    if (np.diff(first_byte if order is None else first_byte[order]) < 0).any():
        order = np.arange(len(keep)) if order is None else order
        order = order[np.argsort(first_byte[order], kind="stable")]
    if order is not None:
        first_byte, end_byte, span_row, path = (
            first_byte[order], end_byte[order], span_row[order], path[order]
        )  # fmt: skip
    quoted = data[first_byte] == _QUOTE
    bounds = np.empty(2 * len(first_byte), dtype=np.int64)
    bounds[0::2], bounds[1::2] = first_byte + quoted, end_byte - quoted
    # the scalars (string contents without quotes) at even places, what lies between at odd
    scalars = string_array(bounds, data, None, pa.string())
    # each path's scalars through its own rule, put back in text order
    mine = [np.flatnonzero(path == number) for number in range(len(masks))]
    masked = [
        mask(scalars.take(pa.array(2 * at))).cast(pa.string())
        if len(at)
        else pa.array([], pa.string())
        for mask, at in zip(masks, mine, strict=True)
    ]
    if not write:
        return docs, slow
    pieces, slot, rows = split_at(starts, ends, data, first_byte, end_byte, span_row)
    replacements, source = masked[0], None
    if len(masked) > 1:  # the k-th span in text order is source[k] in the paths' results
        replacements, source = pa.concat_arrays(masked), np.empty(len(path), dtype=np.int64)
        source[np.concatenate(mine)] = np.arange(len(path))
    out = join_replaced(pieces, slot, rows, _json_strings(replacements), source)
    if docs.null_count:
        out = pc.if_else(docs.is_valid(), out, pa.nulls(len(starts), pa.string()))
    return out.cast(docs.type), slow


def _bracket_bytes(data: np.ndarray) -> np.ndarray:
    """Which bytes are {, }, [ or ] (a table lookup of every byte costs 3x these comparisons)."""
    folded = data | np.uint8(0x20)  # [ ] fold onto { }, and nothing else does
    found: np.ndarray = (folded == _OPEN_OBJECT) | (folded == ord("}"))
    return found


def _number_ends(data: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The first end-of-number byte at or after each start (a short walk, not a full scan)."""
    stop = starts.copy()
    going = np.arange(len(stop))
    while len(going):
        at = stop[going]
        going = going[~_END_OF_NUMBER[data[np.minimum(at, len(data) - 1)]] & (at < len(data))]
        stop[going] += 1
    return stop


def _ranges(first: np.ndarray, end: np.ndarray) -> np.ndarray:
    """All positions of the ranges [first, end), concatenated."""
    lengths = np.maximum(end - first, 0)
    total = int(lengths.sum())
    before = np.cumsum(lengths) - lengths
    return np.repeat(first - before, lengths) + np.arange(total, dtype=np.int64)


def _plain_integers(data: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Whether each number is written as Python writes it back: digits, no leading zero, no -0."""
    digits_from = starts + (data[starts] == ord("-"))
    ok: np.ndarray = stops > digits_from
    lead = data[np.minimum(digits_from, len(data) - 1)]
    ok &= (lead != ord("0")) | (stops - digits_from == 1) & (digits_from == starts)
    inside = _ranges(digits_from, stops)
    owner = np.repeat(np.arange(len(starts)), np.maximum(stops - digits_from, 0))
    ok[owner[~_DIGIT[data[inside]]]] = False
    return ok


def _needs_escape(data: np.ndarray) -> np.ndarray:
    """Positions of the bytes JSON writes escaped (controls, quote, backslash), found a slice
    at a time in place (whole-buffer temporaries cost more in page faults than the test)."""
    found = [_NONE]
    for lo in range(0, len(data), _CHUNK_BYTES):
        part = data[lo : lo + _CHUNK_BYTES]
        special = part < 0x20
        special |= part == _QUOTE
        special |= part == ord("\\")
        if special.any():
            found.append(np.flatnonzero(special) + lo)
    return np.concatenate(found)


def _json_strings(values: pa.Array) -> pa.Array:
    """Each value as a JSON string literal (as json.dumps(..., ensure_ascii=False)); null."""
    filled = pc.fill_null(values, "")
    out = pc.binary_join_element_wise('"', filled, '"', "")
    offsets, data, _ = byte_view(filled)
    data = data[int(offsets[0]) : int(offsets[-1])]
    special = _needs_escape(data)
    if len(special):  # rare: a byte check of the whole buffer is cheaper than a regex per value
        owner = np.searchsorted(offsets - offsets[0], special, side="right") - 1
        escape = pa.array(np.bincount(owner, minlength=len(filled)) > 0)
        chosen = filled.filter(escape).to_pylist()
        dumped = pa.array([json.dumps(v, ensure_ascii=False) for v in chosen], pa.string())
        out = pc.replace_with_mask(out, escape, dumped)
    if values.null_count:
        out = pc.if_else(values.is_valid(), out, pa.scalar("null"))
    return out
