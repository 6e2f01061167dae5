from __future__ import annotations

import pytest

from anonymiser.maskers import RuleError
from tests.unit.maskers.conftest import column, run


@pytest.mark.parametrize(
    ("base", "value", "values"),
    [
        ("text", "REDACTED", ["a", "", "zoë", None]),
        ("int4", 7, [1, 2, None]),
        ("bool", True, [False, None]),
    ],
)
def test_constant_fills_non_null_values(base: str, value: object, values: list[object]) -> None:
    out = run("constant", {"value": value}, values, column(base))
    assert out == [None if v is None else value for v in values]


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        (column("int2"), 70000),
        (column("int4"), "seven"),
        (column("uuid"), "not-a-uuid"),
        (column("text", max_length=3), "toolong"),
        (column("text", unique=True), "x"),
        (column("bool"), 1),
    ],
)
def test_constant_refuses_a_value_that_does_not_fit(spec: object, value: object) -> None:
    with pytest.raises(RuleError):
        run("constant", {"value": value}, [], spec)  # type: ignore[arg-type]


def test_constant_requires_a_value() -> None:
    with pytest.raises(RuleError, match="required"):
        run("constant", {}, [])
