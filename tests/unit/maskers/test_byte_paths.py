"""The byte-level fast paths give exactly what the regex paths they replace gave."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from anonymiser.maskers._pgarray import _map_elements_slowly, map_elements
from anonymiser.maskers._pgdate import DayChange, format_dates, parse_dates, rewrite_dates
from anonymiser.maskers.redact import _redact_bytes
from tests.unit.maskers.conftest import column, ctx, run

TEXTS = [
    "John Smith", "", None, "zoë-ann@x.io", "  lead\tand\ntrail \v\f\r", "日本語 テキスト",
    "emoji 😀 e\u0301", "nbsp\u00a0here", "q" * 5000, "ü" * 300, "a/b(c)+d:e_f,g'h",
]  # fmt: skip


@pytest.mark.parametrize("keep", [" -@.,'/()+:_", "", "ab\\"])
def test_redact_bytes_match_the_regex(keep: str) -> None:
    values = pa.array(TEXTS)
    kept = "".join("\\" + c if not c.isalnum() else c for c in keep)
    expected = pc.replace_substring_regex(values, f"[^\\s{kept}]", "#")
    assert _redact_bytes(values, ord("#"), "\t\n\f\r " + keep).to_pylist() == expected.to_pylist()


@pytest.mark.parametrize(
    "values",
    [pa.array(TEXTS).slice(3, 4), pa.array([], pa.string()), pa.array(["", None]),
     pa.array(TEXTS, pa.large_string())],
)  # fmt: skip
def test_redact_bytes_of_slices_empties_and_large_strings(values: pa.Array) -> None:
    expected = pc.replace_substring_regex(values, "[^\\s ]", "x")
    out = _redact_bytes(values, ord("x"), "\t\n\f\r ")
    assert out.type == values.type
    assert out.to_pylist() == expected.to_pylist()


DATES = [
    "2024-01-02", "2024-01-02 03:04:05", "2024-01-02 03:04:05.123456", "2024-01-02 03:04:05+00",
    "2024-01-02 03:04:05.5-08", "1850-01-01 00:00:00-00:01:15", "2024-12-31 23:59:59.999999+14",
    "infinity", "-infinity", None, "", "0044-03-15 BC", "0044-03-15 10:00:00+00 BC",
    "12345-06-07", "12345-06-07 01:02:03.25+00", "0001-01-01", "9999-12-31", "0001-01-01 BC",
    "2000-02-29 23:59:59.9", "2024-01-02 03:04:05." , "2024-01-02 3:04:05", "2024-01-02T03:04:05",
    "2024-01-02 03:04:05.1234567890123456789+00",
]  # fmt: skip


def _reference(values: pa.Array, change: DayChange, midnight: bool) -> list[object]:
    parsed = parse_dates(values)
    rows = np.arange(len(values))
    rest = parsed.rest
    if midnight:
        rest = pc.replace_substring_regex(rest, r"^ \d\d:\d\d:\d\d(\.\d+)?", " 00:00:00")
    out: list[object] = format_dates(values, parsed, change(parsed.day, rows), rest).to_pylist()
    return out


@pytest.mark.parametrize("midnight", [False, True])
@pytest.mark.parametrize("shift", [-400, -1, 3, 2_000_000])
def test_rewritten_dates_match_the_regex_parser(midnight: bool, shift: int) -> None:
    values = pa.array(DATES * 3).slice(2)  # a slice: offsets that do not start at 0
    moves = np.arange(len(values)) % 7 + shift

    def change(day: np.ndarray, rows: np.ndarray) -> np.ndarray:
        moved: np.ndarray = day + moves[rows]
        return moved

    assert rewrite_dates(values, change, midnight).to_pylist() == _reference(
        values, change, midnight
    )


def test_shape_patterns_do_not_depend_on_the_batch() -> None:
    values = [f"AB{i:06d}c-é{'x' * (i % 50)}" for i in range(20_000)] + ["", None]
    together = run("pattern", {}, values)
    assert together[-2:] == ["", None]
    assert [run("pattern", {}, [v])[0] for v in values[::997]] == together[::997]


def test_shape_patterns_of_very_long_values_keep_their_shape() -> None:
    (out,) = run("pattern", {}, ["Ab9-" * 2000], column(), ctx())
    assert len(out) == 8000 and out[3::4] == "-" * 2000 and out != "Ab9-" * 2000


ARRAYS = [
    '{ab,"c d",NULL}', "{}", None, "[0:1]={{a,b},{c,d}}", '{"x y","q\\"uote","NULL",""}',
    '{"back\\\\slash",ü}', "{NULL}", "{NULL,null,NuLl}", '{{a,NULL},{NULL,"b c"}}',
    "{ zoë , 日本 }",
    "{" + ",".join(["elem"] * 300) + "}", '{"' + "w" * 4000 + '"}', '{"{}"}', '{","}',
    '{"a\\\\\\"b",c\\d}', "{nbsp\u00a0,x\u2003}", "{€uro,x}", '{"tab\there","new\nline"}',
]  # fmt: skip


@pytest.mark.parametrize(
    "rule",
    [
        lambda e: pc.utf8_upper(e),
        lambda e: pc.binary_join_element_wise(e, ' "x\\', ""),
        lambda e: pa.nulls(len(e), pa.string()),
        lambda e: pc.if_else(pc.equal(e, "ab"), "NULL", ""),
    ],
)
def test_array_elements_split_on_bytes_match_the_parser(rule: object) -> None:
    values = pa.array(ARRAYS * 2).slice(1)
    expected = [None if v is None else _map_elements_slowly(v, rule) for v in values.to_pylist()]  # type: ignore[arg-type]
    assert map_elements(values, rule).to_pylist() == expected  # type: ignore[arg-type]


def test_an_unbalanced_quote_does_not_spill_into_later_arrays() -> None:
    values = pa.array(['{"a}', '{b,"c d"}'])
    with pytest.raises(IndexError):  # the parser's own error for a broken array
        map_elements(values, pc.utf8_upper)
    assert map_elements(pa.array(['{b,"c d"}']), pc.utf8_upper).to_pylist() == ['{B,"C D"}']
