from __future__ import annotations

import pytest

from anonymiser.maskers import RuleError
from tests.unit.maskers.conftest import column, run


@pytest.mark.parametrize(
    ("value", "expected"),
    [("John Smith", "xxxx xxxxx"), ("", ""), ("zoë-ann@x.io", "xxx-xxx@x.xx"), (None, None)],
)
def test_redact_keeps_length_and_separators(value: str | None, expected: str | None) -> None:
    assert run("redact", {}, [value]) == [expected]


def test_redact_with_a_token_replaces_the_whole_value() -> None:
    assert run("redact", {"token": "[removed]"}, ["a", None, ""]) == [
        "[removed]",
        None,
        "[removed]",
    ]


@pytest.mark.parametrize(
    ("params", "spec"),
    [
        ({"char": "ab"}, column()),
        ({"token": "long token"}, column(max_length=4)),
        ({}, column("int4")),
        ({"nope": 1}, column()),
    ],
)
def test_redact_refuses_bad_rules(params: dict[str, object], spec: object) -> None:
    with pytest.raises(RuleError):
        run("redact", params, [], spec)  # type: ignore[arg-type]
