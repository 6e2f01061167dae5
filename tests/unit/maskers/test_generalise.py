from __future__ import annotations

import pytest

from anonymiser.maskers import RuleError
from tests.unit.maskers.conftest import column, run


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("SW1A 1AA", "SW1A"),
        ("m1 1ae", "M1"),
        (" EH99 1SP ", "EH99"),
        ("not one", ""),
        ("", ""),
        (None, None),
    ],
)
def test_postcodes_become_outward_codes(value: str | None, expected: str | None) -> None:
    assert run("generalise", {}, [value]) == [expected]


def test_numbers_fall_to_their_bucket() -> None:
    assert run("generalise", {"kind": "number", "step": 10}, [1, 15, -3, None], column("int4")) == [
        0,
        10,
        -10,
        None,
    ]
    assert run("generalise", {"kind": "number", "step": 5}, ["12.5", None], column("numeric")) == [
        "10",
        None,
    ]


@pytest.mark.parametrize(
    ("params", "base"),
    [
        ({"kind": "age"}, "text"),
        ({"kind": "number", "step": 0}, "int4"),
        ({}, "int4"),
        ({"kind": "number"}, "text"),
    ],
)
def test_generalise_refuses_bad_rules(params: dict[str, object], base: str) -> None:
    with pytest.raises(RuleError):
        run("generalise", params, [], column(base))
