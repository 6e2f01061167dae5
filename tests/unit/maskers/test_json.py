from __future__ import annotations

import json
import pickle
import random
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from anonymiser.maskers import RuleError, _jsontext, get_strategy
from anonymiser.maskers import json as json_strategy
from anonymiser.maskers._jsontext import mask_at_key
from tests.unit.maskers.conftest import column, column_pseudonyms, ctx, run

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


RANDOM_PATHS: dict[str, Any] = {
    "$.email[*]": {"strategy": "fake", "provider": "email"},
    "$.phone": {"strategy": "hash", "length": 8},
    "$.e": {"strategy": "constant", "value": 'say "hi"\n'},  # needs escaping when written
    "$.n": {"strategy": "null"},
}
KEYS = ["email", "phone", "e", "n", "other", "a b", "é"]
STRINGS = ["a@b.c", "", "Zoë", "07700 900123", "[{", "}]", ": ", ", ", 'q"q', "b\\s", "t\nn"]


def _random_document(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 2 or roll < 0.45:
        return rng.choice([*STRINGS, 0, -3, 12, 10**20, 1.5, -0.0, 1e5, None, True, False])
    if roll < 0.8:
        return {
            rng.choice(KEYS): _random_document(rng, depth + 1) for _ in range(rng.randint(0, 4))
        }
    return [_random_document(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def _random_corpus(seed: int, size: int) -> list[str | None]:
    """JSON text as json.dumps writes it, which is what the parser path writes back."""
    rng = random.Random(seed)
    texts: list[str | None] = []
    for _ in range(size):
        doc = _random_document(rng) if rng.random() < 0.3 else {}
        if isinstance(doc, dict) and rng.random() < 0.8:
            doc["email"] = [rng.choice([*STRINGS, None, 7]) for _ in range(rng.randint(0, 3))]
            doc[rng.choice(["phone", "e", "n"])] = _random_document(rng, 2)
        texts.append(None if rng.random() < 0.02 else json.dumps(doc, ensure_ascii=False))
    return texts


# each path alone too: a later path's reading falls back to the parser on text an earlier
# path broke, which would hide the mistake
@pytest.mark.parametrize("paths", [*([p] for p in RANDOM_PATHS), list(RANDOM_PATHS)])
@pytest.mark.parametrize("seed", range(4))
def test_in_place_masking_gives_what_parsing_gives_on_random_documents(
    seed: int, paths: list[str]
) -> None:
    texts = pa.array(_random_corpus(seed, 400)).slice(seed)  # a slice: offsets not from 0
    rules = {path: RANDOM_PATHS[path] for path in paths}
    masker = get_strategy("json")({"paths": rules}, column("jsonb"))
    _, slow = mask_at_key(texts, "email", True, lambda values: values)
    assert slow.mean() < 0.5  # most documents take the in-place path
    unique = pc.unique(texts).drop_null()
    parsed = masker._parsed(unique, ctx())  # type: ignore[attr-defined]
    in_place = masker._documents(unique, ctx())  # type: ignore[attr-defined]
    assert in_place.to_pylist() == parsed.to_pylist()


def test_documents_without_strings_or_containers_are_kept() -> None:
    docs = ["1", "-2.50", None, "true", "null"]
    assert (
        run("json", {"paths": {"$.email": {"strategy": "redact"}}}, docs, column("jsonb")) == docs
    )


@pytest.mark.parametrize("seed", range(4))
def test_originals_read_in_place_are_what_parsing_finds(seed: int) -> None:
    texts = pa.array(_random_corpus(seed, 400))
    masker = get_strategy("json")({"paths": RANDOM_PATHS}, column("jsonb"))
    found = masker.originals(texts).to_pylist()
    parsed = masker._parsed_originals(pc.unique(texts).drop_null())  # type: ignore[attr-defined]
    assert sorted(found) == sorted(parsed.to_pylist()) and found


def test_a_pickled_json_rule_keeps_its_wildcard_steps() -> None:
    # a plan handed to another process must mask and report the same leaves
    masker = get_strategy("json")({"paths": RULES}, column("jsonb"))
    copy = pickle.loads(pickle.dumps(masker))
    values = pa.array([json.dumps(DOC)], pa.string())
    assert copy.mask(values, ctx()).to_pylist() == masker.mask(values, ctx()).to_pylist()
    assert json.loads(copy.mask(values, ctx())[0].as_py())["items"][1]["name"] != "Bob"


@pytest.mark.parametrize("chunk", [1, 97, 4096])
def test_documents_read_a_slice_at_a_time_give_what_parsing_gives(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = pa.array(_random_corpus(7, 400)).slice(3)
    masker = get_strategy("json")({"paths": RANDOM_PATHS}, column("jsonb"))
    unique = pc.unique(texts).drop_null()
    whole = masker._documents(unique, ctx()).to_pylist()  # type: ignore[attr-defined]
    monkeypatch.setattr(_jsontext, "_CHUNK_BYTES", chunk)
    sliced = masker._documents(unique, ctx()).to_pylist()  # type: ignore[attr-defined]
    assert sliced == whole == masker._parsed(unique, ctx()).to_pylist()  # type: ignore[attr-defined]
    found = masker.originals(texts).to_pylist()
    assert sorted(found) == sorted(masker._parsed_originals(unique).to_pylist())  # type: ignore[attr-defined]


@pytest.mark.parametrize("grouped_from", [0, 1 << 30])  # Arrow's grouper, dictionary_encode
def test_repeated_documents_and_nulls_mask_as_each_does_alone(
    grouped_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(json_strategy, "_GROUPED_FROM", grouped_from)
    texts = [t for t in _random_corpus(11, 200) for _ in range(2)][::-1]
    values = pa.chunked_array([texts[:150], texts[150:]], pa.string())
    masker = get_strategy("json")({"paths": RANDOM_PATHS}, column("jsonb"))
    together = masker.mask(values, ctx()).to_pylist()
    alone = [masker.mask(pa.array([t], pa.string()), ctx())[0].as_py() for t in texts]
    assert together == alone and None in together


DIGITS = [str(d) for d in range(10)]


@pytest.mark.parametrize(
    ("path", "doc"),
    [
        ("$.code", lambda d: {"code": d}),  # in place, a string
        ("$.code", lambda d: {"code": int(d)}),  # in place, a number
        ("$.codes[*]", lambda d: {"codes": [d, d]}),  # in place, array elements
        ("$.a.code", lambda d: {"a": {"code": d}}),  # parsed
    ],
)
def test_a_leaf_masked_as_itself_is_masked_again_like_its_column(path: str, doc: Any) -> None:
    # pattern keeps a digit a digit: one digit in ten is its own pseudonym at round 0
    rule = {"strategy": "pattern", "namespace": "codes"}
    masker = get_strategy("json")({"paths": {path: rule}}, column("jsonb"))
    docs = [json.dumps(doc(d)) for d in DIGITS]
    steps = json_strategy.parse_path(path)
    fixed_at_round_0 = 0
    for n in range(8):
        context = ctx(key=bytes([n + 1]) * 32)
        first, published = column_pseudonyms(
            {"strategy": "pattern"}, DIGITS, context.derive(namespace="codes")
        )
        fixed_at_round_0 += sum(d == m for d, m in zip(DIGITS, first, strict=True))
        out = masker.mask(pa.array(docs[::-1] + docs), context).to_pylist()
        leaves = [[str(c[k]) for c, k in json_strategy._slots(json.loads(t), steps)] for t in out]
        assert leaves[10:] == leaves[9::-1]  # the same document, the same pseudonyms
        for digit, mine, column_value, plain in zip(
            DIGITS, leaves[10:], published, first, strict=True
        ):
            assert all(leaf != digit for leaf in mine)
            assert all(leaf == column_value for leaf in mine)  # as its column publishes it
            assert plain == digit or column_value == plain  # untouched where not a fixed point
        alone = masker.mask(pa.array(docs[:1]), context).to_pylist()
        assert alone == out[10:11]  # whatever else is in the batch
    assert fixed_at_round_0 >= 3  # the case did arise
