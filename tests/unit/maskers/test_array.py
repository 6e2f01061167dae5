from __future__ import annotations

import pytest

from anonymiser.maskers import RuleError
from anonymiser.maskers._pgarray import format_array, parse_array
from tests.unit.maskers.conftest import column, column_pseudonyms, ctx, run


@pytest.mark.parametrize(
    "text",
    [
        "{a,b,NULL}",
        '{"x y","q\\"uote","NULL",""}',
        "{}",
        "[0:1]={{a,b},{c,d}}",
        '{"back\\\\slash",ü}',
    ],
)
def test_pg_array_text_round_trips(text: str) -> None:
    assert format_array(*parse_array(text)) == text


def test_each_element_is_masked_and_nulls_stay() -> None:
    out = run(
        "array", {"rule": {"strategy": "redact"}}, ['{ab,"c d",NULL}', "{}", None], column("_text")
    )
    assert out == ['{xx,"x x",NULL}', "{}", None]


def test_elements_map_like_the_column_would() -> None:
    (out,) = run(
        "array", {"rule": {"strategy": "fake", "provider": "email"}}, ["{a,b,a}"], column("_text")
    )
    items = parse_array(out)[1]
    direct = run("fake", {"provider": "email"}, ["a", "b"])
    assert items == [direct[0], direct[1], direct[0]]


def test_integer_elements_stay_integers() -> None:
    (out,) = run(
        "array", {"rule": {"strategy": "hash", "max": 99}}, ["{1,2,NULL}"], column("_int4")
    )
    assert all(x is None or 1 <= int(x) <= 99 for x in parse_array(out)[1])


@pytest.mark.parametrize(
    ("params", "base"),
    [
        ({"rule": {"strategy": "hash"}}, "text"),
        ({"rule": {}}, "_text"),
        ({"rule": {"strategy": "array", "rule": {}}}, "_text"),
    ],
)
def test_array_refuses_bad_rules(params: dict[str, object], base: str) -> None:
    with pytest.raises(RuleError):
        run("array", params, [], column(base))


def test_array_changes_with_the_round() -> None:
    rule = {"rule": {"strategy": "fake", "provider": "name"}}
    assert run("array", rule, ["{a}"], column("_text")) != run(
        "array", rule, ["{a}"], column("_text"), ctx(round=1)
    )


@pytest.mark.parametrize("text", ["{1,2,NULL,2}", "[0:3]={1,2,NULL,2}"])  # in place, parsed
def test_an_element_masked_as_itself_is_masked_again_like_its_column(text: str) -> None:
    # a hash in [1, 2]: each element is its own pseudonym at round 0 one time in two
    rule = {"rule": {"strategy": "hash", "min": 1, "max": 2}}
    fixed_at_round_0 = 0
    for n in range(8):
        context = ctx(key=bytes([n + 1]) * 32)
        first, published = column_pseudonyms(rule["rule"], [1, 2], context, "int4")
        fixed_at_round_0 += (first[0] == 1) + (first[1] == 2)
        out = run("array", rule, [text, text, "{2}"], column("_int4"), context)
        items = parse_array(out[0])[1]
        assert items[0] != "1" and items[1] != "2" and items[3] != "2" and items[2] is None
        assert [items[0], items[1]] == [str(v) for v in published]  # as its column publishes
        assert out[1] == out[0] and parse_array(out[2])[1] == [items[1]]
        assert run("array", rule, [text], column("_int4"), context) == out[:1]
    assert fixed_at_round_0 >= 3  # the case did arise
