from __future__ import annotations

import datetime as dt

import pytest

from anonymiser.maskers import RuleError
from tests.unit.maskers.conftest import column, ctx, run
from tests.unit.maskers.keyed_cases import assert_keyed


@pytest.mark.parametrize("base", ["date", "timestamp", "timestamptz"])
def test_dates_move_within_the_window_and_keep_the_time(base: str) -> None:
    values = [f"2024-{m:02d}-{d:02d} 03:04:05.123+00" for m in range(1, 13) for d in (1, 15, 28)]
    out = run("date_shift", {"days": 10}, values, column(base))
    for before, after in zip(values, out, strict=True):
        shift = dt.date.fromisoformat(after[:10]) - dt.date.fromisoformat(before[:10])
        assert 1 <= abs(shift.days) <= 10
        assert after[10:] == before[10:]


def test_infinities_nulls_and_bc_dates() -> None:
    out = run(
        "date_shift",
        {"days": 3},
        ["infinity", "-infinity", None, "0001-01-01 BC", "2000-02-29"],
        column("date"),
    )
    assert out[:3] == ["infinity", "-infinity", None]
    assert out[3].endswith(" BC") or out[3].startswith("0001-01-0")
    assert out[4] != "2000-02-29"


def test_a_seed_moves_every_value_by_the_same_offset() -> None:
    out = run(
        "date_shift", {"seed": "cohort", "days": 30}, ["2024-01-10", "2024-03-10"], column("date")
    )
    shifts = {
        (dt.date.fromisoformat(a) - dt.date.fromisoformat(b)).days
        for a, b in zip(out, ["2024-01-10", "2024-03-10"], strict=True)
    }
    assert len(shifts) == 1


@pytest.mark.parametrize(
    ("params", "base"), [({"days": 0}, "date"), ({}, "text"), ({"days": "5"}, "date")]
)
def test_date_shift_refuses_bad_rules(params: dict[str, object], base: str) -> None:
    with pytest.raises(RuleError):
        run("date_shift", params, [], column(base))


def test_date_shift_is_keyed_and_deterministic() -> None:
    values = [f"2024-01-{d:02d}" for d in range(1, 29)]
    first = run("date_shift", {}, values, column("date"))
    assert run("date_shift", {}, values, column("date")) == first
    for other in (ctx(key=b"other" * 8), ctx(namespace="x"), ctx(round=1)):
        assert run("date_shift", {}, values, column("date"), other) != first
    assert_keyed  # noqa: B018  (text-only helper; dates checked above)
