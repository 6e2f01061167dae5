from __future__ import annotations

import pytest

from anonymiser.maskers import RuleError, all_strategies
from tests.unit.maskers.conftest import column, run


def test_keep_copies_and_null_blanks() -> None:
    assert run("keep", {}, ["a", None, ""]) == ["a", None, ""]
    assert run("null", {}, ["a", None, ""]) == [None, None, None]
    with pytest.raises(RuleError):
        run("null", {}, [], column(not_null=True))


def test_every_strategy_is_registered_with_a_summary() -> None:
    names = set(all_strategies())
    assert names >= {
        "keep",
        "null",
        "constant",
        "redact",
        "hash",
        "fake",
        "partial",
        "date_shift",
        "date_generalise",
        "generalise",
        "pattern",
        "json",
        "array",
        "presidio",
    }
    assert all(cls.summary for cls in all_strategies().values())
