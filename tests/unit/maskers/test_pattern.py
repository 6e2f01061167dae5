from __future__ import annotations

import re

import pytest

from anonymiser.maskers import RuleError
from tests.unit.maskers.conftest import column, run
from tests.unit.maskers.keyed_cases import assert_keyed

NINO_CHECK = re.compile(r"^[A-CEGHJ-PR-TW-Z]{2}[0-9]{6}[A-D]$")


@pytest.mark.parametrize("value", ["AB 12 34 56 C", "ab-123/X", "zoë9", "", "...."])
def test_pattern_keeps_the_shape(value: str) -> None:
    (out,) = run("pattern", {}, [value])
    assert len(out) == len(value)
    for a, b in zip(value, out, strict=True):
        assert (a.isdigit(), a.isupper(), a.islower()) == (b.isdigit(), b.isupper(), b.islower())
        if not a.isascii() or not a.isalnum():
            assert a == b


def test_ni_numbers_satisfy_the_check_constraint() -> None:
    out = run("pattern", {"format": "ni_number"}, [f"QQ{i:06d}A" for i in range(3000)] + [None])
    assert out[-1] is None
    assert all(
        NINO_CHECK.match(v)
        and v[:2] not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}
        and v[1] != "O"
        for v in out[:-1]
    )
    assert len(set(out[:-1])) == 3000


def test_trn_is_seven_digits() -> None:
    out = run("pattern", {"format": "trn"}, ["1234567", "0000001", ""])
    assert all(re.fullmatch(r"\d{7}", v) for v in out)


@pytest.mark.parametrize(
    ("params", "spec"),
    [
        ({"format": "ssn"}, column()),
        ({"format": "ni_number"}, column(max_length=8)),
        ({}, column("int4")),
    ],
)
def test_pattern_refuses_bad_rules(params: dict[str, object], spec: object) -> None:
    with pytest.raises(RuleError):
        run("pattern", params, [], spec)  # type: ignore[arg-type]


@pytest.mark.parametrize("params", [{}, {"format": "ni_number"}, {"format": "trn"}])
def test_pattern_is_keyed_and_deterministic(params: dict[str, object]) -> None:
    assert_keyed("pattern", params, ["AB123456C", "1234567", "XY-99"])
