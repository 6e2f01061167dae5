"""Pinned outputs of the keyed strategies: a faster implementation must give the same text."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from tests.unit.maskers.conftest import column, ctx, run

TEXT = ["John Smith", "", None, "zoë-ann@x.io", "AB 12 34 56 C", "q" * 300, "日本 9"]
TIMES = [
    "2024-01-02 03:04:05.123+00", "0044-03-15 10:00:00+00 BC", "infinity", None,
    "2024-02-29 00:00:00-08",
]  # fmt: skip
ARRAYS = ['{ab,"c d",NULL}', "{}", None, '{"q\\"uote",ü}', "[0:1]={{a,b},{c,d}}"]
UUIDS = ["a0eebc99-9c0b-4ef8-bb6d-000000000001", None]


@pytest.mark.parametrize(
    ("strategy", "params", "base", "values", "first", "digest"),
    [
        ("hash", {}, "text", TEXT, "dd18e4a6483923b2127b2dc16b86b0b5", "4d2627f38ee95aff"),
        ("hash", {"encoding": "base32", "length": 20}, "text", TEXT, "yfdelh4udw5m4lbtznnw",
         "d85e0bba11720830"),
        ("hash", {}, "uuid", UUIDS, "0de32588-efb1-4db1-be94-7aafef95733d", "daa5d73daf8c95cf"),
        ("pattern", {}, "text", TEXT, "Wogz Kyrjb", "8d88067a2eda1b22"),
        ("pattern", {"format": "ni_number"}, "text", TEXT, "JR975629A", "0ac21e1c40c9e68b"),
        ("redact", {}, "text", TEXT, "xxxx xxxxx", "ef2c48711f383e4e"),
        ("date_shift", {}, "timestamptz", TIMES, "2024-01-23 03:04:05.123+00", "3e0741ef4dc22b1a"),
        ("date_generalise", {"to": "month"}, "timestamptz", TIMES, "2024-01-01 00:00:00+00",
         "60fe25b4437ff929"),
        ("array", {"rule": {"strategy": "hash", "length": 6}}, "_text", ARRAYS,
         "{35e94a,828d0f,NULL}", "772eefda262ef709"),
    ],
)  # fmt: skip
def test_keyed_outputs_stay_what_they_were(
    strategy: str, params: dict[str, Any], base: str, values: list[Any], first: str, digest: str
) -> None:
    out = run(strategy, params, values, column(base))
    assert out[0] == first
    assert hashlib.sha256(json.dumps(out).encode()).hexdigest()[:16] == digest


FREE_TEXT = [
    "Call Jane Smith on 07700 900123 or jane@corp.co.uk. NI: AB123456C, lives SW1A 1AA.",
    "mail bob@school.org.uk or see www.school.org.uk", "", None, "card 4111 1111 1111 1111",
    "server 192.168.0.1, phone number (212) 555-0100",
]  # fmt: skip
KNOWN = {
    "PERSON": {"Jane Smith": "Alice Jones"},
    "EMAIL_ADDRESS": {"jane@corp.co.uk": "alice.j@example.com"},
}
DOCS = [
    '{"email": "jane@corp.co.uk", "items": [{"name": "Zoë", "n": 1.50}], "keep": "me"}',
    '{"other": 1}', "[]", None, '{"email": 12345678}',
]  # fmt: skip
JSON_PATHS = {
    "$.email": {"strategy": "hash", "length": 8},
    "$.items[*].name": {"strategy": "redact"},
}


def test_presidio_outputs_stay_what_they_were() -> None:
    out = run("presidio", {}, FREE_TEXT, column("text"), ctx(known=KNOWN))
    assert out[0] == (
        "Call Alice Jones on +44(0)113 4960572 or alice.j@example.com. NI: HM634365C, "
        "lives NE4A 9PT."
    )
    assert hashlib.sha256(json.dumps(out).encode()).hexdigest()[:16] == "6e847b9156dc4868"


def test_json_outputs_stay_what_they_were() -> None:
    out = run("json", {"paths": JSON_PATHS}, DOCS, column("jsonb"))
    assert out[0] == '{"email": "be098962", "items": [{"name": "xxx", "n": 1.5}], "keep": "me"}'
    assert hashlib.sha256(json.dumps(out).encode()).hexdigest()[:16] == "f41fbe9e32235988"
