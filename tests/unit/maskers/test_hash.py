from __future__ import annotations

import re
import uuid

import pytest

from anonymiser.maskers import RuleError
from tests.unit.maskers.conftest import column, run
from tests.unit.maskers.keyed_cases import assert_keyed


def test_hash_text_is_hex_of_the_requested_length() -> None:
    out = run("hash", {"length": 40}, ["a", "", "zoë", None, "a"])
    assert all(re.fullmatch("[0-9a-f]{40}", v) for v in out if v is not None)
    assert out[0] == out[4] and out[0] != out[1] and out[3] is None


def test_hash_fits_varchar_with_prefix_and_base32() -> None:
    out = run("hash", {"prefix": "u_", "encoding": "base32"}, ["a", "b"], column(max_length=10))
    assert all(re.fullmatch("u_[a-z2-7]{8}", v) for v in out)


@pytest.mark.parametrize(
    ("base", "top"), [("int2", 2**15 - 1), ("int4", 2**31 - 1), ("int8", 2**63 - 1)]
)
def test_hash_integers_stay_in_range(base: str, top: int) -> None:
    out = run("hash", {}, [*list(range(200)), None], column(base))
    assert all(1 <= v <= top for v in out[:-1]) and out[-1] is None
    bounded = run("hash", {"min": 10, "max": 20}, list(range(200)), column(base))
    assert set(bounded) <= set(range(10, 21))


def test_hash_uuid_and_bytea_keep_their_form() -> None:
    out = run("hash", {}, [str(uuid.uuid4()), None], column("uuid"))
    assert uuid.UUID(out[0]).version == 4 and out[1] is None
    raw = run("hash", {"bytes": 20}, [b"\x00\x01", b"", None], column("bytea"))
    assert len(raw[0]) == 20 and len(raw[1]) == 20 and raw[2] is None


@pytest.mark.parametrize(
    ("params", "spec"),
    [
        ({"encoding": "base64"}, column()),
        ({"max": 2**40}, column("int4")),
        ({}, column("date")),
        ({"prefix": "abcd"}, column(max_length=4)),
        ({"bytes": 0}, column("bytea")),
    ],
)
def test_hash_refuses_bad_rules(params: dict[str, object], spec: object) -> None:
    with pytest.raises(RuleError):
        run("hash", params, [], spec)  # type: ignore[arg-type]


@pytest.mark.parametrize("base", ["text", "int4"])
def test_hash_is_keyed_and_deterministic(base: str) -> None:
    values: list[object] = ["alice", "bob", "zoë"] if base == "text" else [1, 2, 3]
    assert_keyed("hash", {}, values, base)
