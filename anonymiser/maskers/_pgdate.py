"""PostgreSQL ISO date/timestamp text <-> day numbers, vectorised (BC years and infinities too)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers.base import ColumnSpec

__all__ = [
    "DATE_TYPES",
    "ParsedDates",
    "date_problem",
    "format_dates",
    "from_julian",
    "parse_dates",
    "to_julian",
]

DATE_TYPES = frozenset({"date", "timestamp", "timestamptz"})

# DateStyle=ISO: '2024-01-02', '2024-01-02 03:04:05.123+00', '0044-03-15 BC', 'infinity'
_ISO = r"^(?P<y>\d{4,})-(?P<m>\d\d)-(?P<d>\d\d)(?P<rest>.*?)(?P<bc> BC)?$"


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
