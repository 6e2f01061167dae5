from __future__ import annotations

import re

import pytest

from anonymiser.maskers import RuleError
from tests.unit.maskers.conftest import column, run
from tests.unit.maskers.keyed_cases import assert_keyed

INPUTS = ["alice", "bob", "", "zoë 😀", None, "alice"]


@pytest.mark.parametrize(
    ("provider", "shape"),
    [
        ("first_name", r"[A-Z][\w'-]+"),
        ("last_name", r"[A-Z][\w' -]+"),
        ("name", r"[A-Z][\w'-]+ [A-Z][\w' -]+"),
        ("email", r"[a-z]+\.[a-z]+\d{4}@example\.(com|org|net)"),
        ("phone_number", r"[+\d() ]+\d{4}"),
        ("postcode", r"[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}"),
        ("company", r".+"),
        ("address", r"(?s).+"),
    ],
)
def test_fake_values_look_real(provider: str, shape: str) -> None:
    out = run("fake", {"provider": provider}, INPUTS)
    assert out[4] is None and out[0] == out[5]
    assert all(re.fullmatch(shape, v) for v in out if v is not None), out


def test_fake_respects_max_length() -> None:
    out = run("fake", {"provider": "address"}, ["a", "b", "c"], column(max_length=8))
    assert all(len(v) <= 8 for v in out)


def test_fake_emails_rarely_collide() -> None:
    out = run("fake", {"provider": "email"}, [f"user{i}@corp.example" for i in range(20000)])
    assert len(set(out)) > 19990


def test_fake_uses_the_locale() -> None:
    out = run("fake", {"provider": "first_name", "locale": "ja_JP"}, ["a", "b", "c"])
    assert all(not v.isascii() for v in out)


@pytest.mark.parametrize(
    ("params", "base"),
    [
        ({"provider": "no_such"}, "text"),
        ({"provider": "name", "locale": "xx_XX"}, "text"),
        ({}, "text"),
        ({"provider": "name"}, "int4"),
        ({"provider": "pyint"}, "text"),
    ],
)
def test_fake_refuses_bad_rules(params: dict[str, object], base: str) -> None:
    with pytest.raises(RuleError):
        run("fake", params, [], column(base))


@pytest.mark.parametrize("provider", ["name", "email", "phone_number"])
def test_fake_is_keyed_and_deterministic(provider: str) -> None:
    assert_keyed("fake", {"provider": provider}, [f"person{i}" for i in range(20)])
