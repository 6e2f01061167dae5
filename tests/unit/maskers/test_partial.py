from __future__ import annotations

import pytest

from anonymiser.maskers import RuleError
from tests.unit.maskers.conftest import run


@pytest.mark.parametrize(
    ("params", "value", "expected"),
    [
        ({}, "4111111111111111", "************1111"),
        ({"first": 2, "last": 2}, "AB123456C", "AB*****6C"),
        ({"first": 1, "last": 0, "char": "#"}, "zoë", "z##"),
        ({"last": 4}, "1234", "****"),  # too short: masked whole
        ({}, "", ""),
        ({}, None, None),
    ],
)
def test_partial_keeps_the_ends(
    params: dict[str, object], value: str | None, expected: str | None
) -> None:
    assert run("partial", params, [value]) == [expected]


@pytest.mark.parametrize("params", [{"first": -1}, {"char": ""}, {"last": "4"}])
def test_partial_refuses_bad_params(params: dict[str, object]) -> None:
    with pytest.raises(RuleError):
        run("partial", params, [])
