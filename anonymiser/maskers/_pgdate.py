"""PostgreSQL ISO date/timestamp text <-> day numbers, vectorised (BC years and infinities too)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers._vector import string_array
from anonymiser.maskers.base import ColumnSpec, byte_view

__all__ = [
    "DATE_TYPES",
    "DayChange",
    "ParsedDates",
    "date_problem",
    "format_dates",
    "from_julian",
    "parse_dates",
    "rewrite_dates",
    "to_julian",
]

DATE_TYPES = frozenset({"date", "timestamp", "timestamptz"})

# DateStyle=ISO: '2024-01-02', '2024-01-02 03:04:05.123+00', '0044-03-15 BC', 'infinity'
_ISO = r"^(?P<y>\d{4,})-(?P<m>\d\d)-(?P<d>\d\d)(?P<rest>.*?)(?P<bc> BC)?$"
_MIDNIGHT = r"^ \d\d:\d\d:\d\d(\.\d+)?"

# New Julian days for (Julian days, row numbers into the values being rewritten).
DayChange = Callable[[np.ndarray, np.ndarray], np.ndarray]


def date_problem(strategy: str, column: ColumnSpec) -> str | None:
    if column.base_type in DATE_TYPES and not column.is_array:
        return None
    return (
        f"strategy {strategy} cannot mask {column.table}.{column.name}: it needs a date, "
        f"timestamp or timestamptz column and the column is {column.pg_type}"
    )


@dataclass
class ParsedDates:
    matched: np.ndarray  # bool: a finite date (infinity and NULL are not)
    day: np.ndarray  # Julian day number (int64; 0 where not matched)
    rest: pa.Array  # time and zone text after the date ('' for dates)


def parse_dates(values: pa.Array) -> ParsedDates:
    parts = pc.extract_regex(values, _ISO)
    matched = np.asarray(pc.is_valid(parts).to_numpy(zero_copy_only=False))
    filled = pc.fill_null(parts, {"y": "0", "m": "1", "d": "1", "rest": "", "bc": ""})

    def number(name: str) -> np.ndarray:
        return np.asarray(pc.cast(pc.struct_field(filled, name), pa.int64()).to_numpy())

    bc = np.asarray(pc.equal(pc.struct_field(filled, "bc"), " BC").to_numpy(zero_copy_only=False))
    year = number("y")
    year = np.where(bc, 1 - year, year)  # 1 BC is astronomical year 0
    day = to_julian(year, number("m"), number("d"))
    return ParsedDates(matched, np.where(matched, day, 0), pc.struct_field(filled, "rest"))


def format_dates(
    values: pa.Array, parsed: ParsedDates, day: np.ndarray, rest: pa.Array
) -> pa.Array:
    """PostgreSQL text of the Julian days `day` + `rest`; unmatched values are kept as they were."""
    year, month, dom = from_julian(np.where(parsed.matched, day, 2451545))
    bc = year <= 0
    shown_year = np.where(bc, 1 - year, year)

    def padded(numbers: np.ndarray, width: int) -> pa.Array:
        return pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width, "0")

    text = pc.binary_join_element_wise(
        padded(shown_year, 4),
        "-",
        padded(month, 2),
        "-",
        padded(dom, 2),
        rest,
        pc.if_else(pa.array(bc), " BC", ""),
        "",
    )
    return pc.if_else(pa.array(parsed.matched), text, values).cast(values.type)


def to_julian(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    a = (14 - month) // 12
    y = year + 4800 - a
    m = month + 12 * a - 3
    result: np.ndarray = day + (153 * m + 2) // 5 + 365 * y + y // 4 - y // 100 + y // 400 - 32045
    return result


def from_julian(jdn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = jdn + 32044
    b = (4 * a + 3) // 146097
    c = a - 146097 * b // 4
    d = (4 * c + 3) // 1461
    e = c - 1461 * d // 4
    m = (5 * e + 2) // 153
    day = e - (153 * m + 2) // 5 + 1
    month = m + 3 - 12 * (m // 10)
    year = 100 * b + d - 4800 + m // 10
    return year, month, day


def rewrite_dates(values: pa.Array, change: DayChange, midnight: bool = False) -> pa.Array:
    """Every finite date moved to the Julian day `change` gives it (with its time set to
    00:00:00 when `midnight`); infinities and NULLs are kept.

    The common shape, a 4-digit AD year whose new year has 4 digits too, is rewritten in place
    on the UTF-8 bytes; the rest (BC, 5-digit years, odd text) goes through the regex parser,
    which gives the same text for the common shape.
    """
    offsets, data, valid = byte_view(values)
    out = data[int(offsets[0]) : int(offsets[-1])].copy()
    offsets = offsets - offsets[0]
    starts, ends = offsets[:-1], offsets[1:]
    fast = valid & (ends - starts >= 10) & ~_ends_with(out, ends, starts + 13, b" BC")
    digits = {}
    for at in (0, 1, 2, 3, 5, 6, 8, 9):
        digits[at] = _byte(out, starts + at, ends).astype(np.int64) - 48
        fast &= (digits[at] >= 0) & (digits[at] <= 9)
    for at in (4, 7):
        fast &= _byte(out, starts + at, ends) == 45
    rows = np.flatnonzero(fast)
    d = {at: digit[rows] for at, digit in digits.items()}
    year = d[0] * 1000 + d[1] * 100 + d[2] * 10 + d[3]
    day = change(to_julian(year, d[5] * 10 + d[6], d[8] * 10 + d[9]), rows)
    new_year, new_month, new_dom = from_julian(day)
    fits = (year >= 1) & (new_year >= 1) & (new_year <= 9999)
    fast[rows[~fits]] = False
    rows, at = rows[fits], starts[rows[fits]]
    for place, (numbers, scale) in enumerate(
        [(new_year, 1000), (new_year, 100), (new_year, 10), (new_year, 1), (None, 0),
         (new_month, 10), (new_month, 1), (None, 0), (new_dom, 10), (new_dom, 1)]
    ):  # fmt: skip
        if numbers is not None:
            out[at + place] = (numbers[fits] // scale) % 10 + 48
    if midnight:
        out, offsets, fast = _midnight(out, offsets, fast)
    result = string_array(offsets, out, valid, values.type)
    slow = valid & ~fast
    if not slow.any():
        return result
    slow_rows = np.flatnonzero(slow)
    subset = values.take(pa.array(slow_rows))
    parsed = parse_dates(subset)
    rest = (
        pc.replace_substring_regex(parsed.rest, _MIDNIGHT, " 00:00:00") if midnight else parsed.rest
    )
    redone = format_dates(subset, parsed, change(parsed.day, slow_rows), rest)
    return pc.replace_with_mask(result, pa.array(slow), redone)


def _byte(data: np.ndarray, positions: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The byte at each position, 0 where the position is at or past its row's end."""
    inside = positions < ends
    if not len(data):
        return np.zeros(len(positions), dtype=np.uint8)
    picked: np.ndarray = data[np.minimum(positions, len(data) - 1)]
    picked[~inside] = 0
    return picked


def _ends_with(
    data: np.ndarray, ends: np.ndarray, shortest: np.ndarray, suffix: bytes
) -> np.ndarray:
    """Rows at least `shortest` long (as an end position) whose bytes end with `suffix`."""
    found = ends >= shortest
    for back, char in enumerate(reversed(suffix), start=1):
        found &= _byte(data, np.maximum(ends - back, 0), ends) == char
    return found


def _midnight(
    out: np.ndarray, offsets: np.ndarray, fast: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """' HH:MM:SS[.fraction]' after the date of the `fast` rows becomes ' 00:00:00'."""
    rows = np.flatnonzero(fast)
    starts, ends = offsets[:-1][rows], offsets[1:][rows]
    timed = _byte(out, starts + 10, ends) == 32
    for at in (13, 16):
        timed &= _byte(out, starts + at, ends) == 58
    for at in (11, 12, 14, 15, 17, 18):
        char = _byte(out, starts + at, ends)
        timed &= (char >= 48) & (char <= 57)
    rows, starts, ends = rows[timed], starts[timed], ends[timed]
    for at in (11, 12, 14, 15, 17, 18):
        out[starts + at] = 48
    # a fraction ('.' and digits) is cut out whole: count its digits, rows still reading shrink
    dotted = np.flatnonzero(_byte(out, starts + 19, ends) == 46)
    run = np.zeros(len(dotted), dtype=np.int64)
    reading = np.arange(len(dotted))
    while len(reading):
        char = _byte(out, starts[dotted[reading]] + 20 + run[reading], ends[dotted[reading]])
        going = (char >= 48) & (char <= 57)
        run[reading[going]] += 1
        reading = reading[going]
    cut = dotted[run > 0]
    if not len(cut):
        return out, offsets, fast
    size = run[run > 0] + 1
    first = starts[cut] + 19
    keep = np.ones(len(out), dtype=bool)
    drop_at = np.repeat(first - np.cumsum(size) + size, size) + np.arange(int(size.sum()))
    keep[drop_at] = False
    removed = np.zeros(len(offsets), dtype=np.int64)
    removed[rows[cut] + 1] = size
    return out[keep], offsets - np.cumsum(removed), fast
