from __future__ import annotations

import pytest

from anonymiser.maskers import RuleError
from tests.unit.maskers.conftest import column, run

VALUES = [
    "1985-06-14",
    "1985-06-14 10:11:12.5+00",
    "0044-03-15 BC",
    "infinity",
    None,
    "12345-07-08",
]


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        (
            "year",
            [
                "1985-01-01",
                "1985-01-01 00:00:00+00",
                "0044-01-01 BC",
                "infinity",
                None,
                "12345-01-01",
            ],
        ),
        (
            "month",
            [
                "1985-06-01",
                "1985-06-01 00:00:00+00",
                "0044-03-01 BC",
                "infinity",
                None,
                "12345-07-01",
            ],
        ),
    ],
)
def test_dates_are_truncated(to: str, expected: list[str | None]) -> None:
    assert run("date_generalise", {"to": to}, VALUES, column("timestamptz")) == expected


@pytest.mark.parametrize(("params", "base"), [({"to": "day"}, "date"), ({}, "int4")])
def test_date_generalise_refuses_bad_rules(params: dict[str, object], base: str) -> None:
    with pytest.raises(RuleError):
        run("date_generalise", params, [], column(base))
