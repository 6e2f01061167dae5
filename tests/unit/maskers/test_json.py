from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from anonymiser.maskers import RuleError, get_strategy
from tests.unit.maskers.conftest import column, ctx, run

RULES: dict[str, Any] = {
    "$.email": {"strategy": "fake", "provider": "email"},
    "$.items[*].name": {"strategy": "fake", "params": {"provider": "name"}},
    "$.address": {"strategy": "redact"},
}
DOC = {
    "email": "jane@corp.co.uk",
    "items": [{"name": "Zoë", "n": 1}, {"name": "Bob"}],
    "address": {"line": "1 High St", "no": 5},
    "keep": "me",
}


@pytest.mark.parametrize("base", ["json", "jsonb"])
def test_json_paths_are_masked_and_the_rest_kept(base: str) -> None:
    text = json.dumps(DOC)
    out = run("json", {"paths": RULES}, [text, '{"other": 1}', "[]", None, text], column(base))
    masked = json.loads(out[0])
    assert masked["email"].endswith(("@example.com", "@example.org", "@example.net"))
    assert [i["name"] for i in masked["items"]] != ["Zoë", "Bob"] and masked["items"][0]["n"] == 1
    assert masked["address"] == {"line": "x xxxx xx", "no": "x"} and masked["keep"] == "me"
    assert out[1:4] == ['{"other": 1}', "[]", None] and out[4] == out[0]


def test_a_namespace_shares_the_mapping_with_a_column() -> None:
    rules = {"$.email": {"strategy": "fake", "provider": "email", "namespace": "person.email"}}
    (doc,) = run("json", {"paths": rules}, [json.dumps({"email": "a@b.c"})], column("jsonb"))
    direct = run("fake", {"provider": "email"}, ["a@b.c"], context=ctx(namespace="person.email"))
    assert json.loads(doc)["email"] == direct[0]


@pytest.mark.parametrize(
    ("params", "base"),
    [
        ({"paths": {"email": {"strategy": "null"}}}, "jsonb"),
        ({"paths": {"$.a": {"strategy": "nope"}}}, "jsonb"),
        ({"paths": {"$.a": "hash"}}, "jsonb"),
        ({"paths": {}}, "jsonb"),
        ({"paths": RULES}, "text"),
        ({"paths": {"$.a": {"strategy": "hash", "bogus": 1}}}, "json"),
    ],
)
def test_json_refuses_bad_rules(params: dict[str, object], base: str) -> None:
    with pytest.raises(RuleError):
        run("json", params, [], column(base))


def test_json_changes_with_the_round() -> None:
    text = [json.dumps(DOC)]
    assert run("json", {"paths": RULES}, text, column("jsonb")) != run(
        "json", {"paths": RULES}, text, column("jsonb"), ctx(round=1)
    )


def test_text_around_the_masked_scalars_is_kept_byte_for_byte() -> None:
    docs = ['{"n": 1.50, "email": "a@b.c"}', '{"email":"a@b.c","z":[1e5]}']
    out = run("json", {"paths": {"$.email": {"strategy": "redact"}}}, docs, column("jsonb"))
    assert out == ['{"n": 1.50, "email": "x@x.x"}', '{"email":"x@x.x","z":[1e5]}']


KEY_PATHS: dict[str, Any] = {
    "$.email[*]": {"strategy": "hash", "length": 6},
    "$.phone": {"strategy": "fake", "provider": "phone_number"},
    "$.n": {"strategy": "null"},
}
CANONICAL = [
    {"email": ["a@b.c", None, "Zoë"], "phone": "07700 900123", "n": 12},
    {"email": "not a list", "phone": 7700900123, "n": -3},
    {"email": [], "phone": {"home": "1"}, "n": 0},  # a container at $.phone: parsed
    {"email": ['q"uote', "back\\slash"], "phone": "x\ny"},  # escapes: parsed
    {"email": [["nested"]], "phone": None, "n": 1.5},
    {"phone": True, "other": {"email": "deep@x.org"}},
    ["email", {"email": "in an array"}],
    "email",
    {},
]


def test_in_place_masking_gives_what_parsing_gives_on_canonical_json() -> None:
    texts = [json.dumps(doc, ensure_ascii=False) for doc in CANONICAL]
    masker = get_strategy("json")({"paths": KEY_PATHS}, column("jsonb"))
    parsed = masker._parsed(pa.array(texts), ctx()).to_pylist()  # type: ignore[attr-defined]
    assert run("json", {"paths": KEY_PATHS}, texts, column("jsonb")) == parsed
