"""A KeyIndex answers exactly what Arrow's is_in / index_in answer, on every kind of key."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from anonymiser.keyindex import Canonical, KeyIndex, row_hashes


def _ints(rng: random.Random) -> Any:
    return rng.randint(-50, 50) if rng.random() < 0.5 else rng.randint(-(2**62), 2**62)


def _text(rng: random.Random) -> Any:
    return "".join(
        rng.choice(["a", "b", "é", "漢", "😀", " ", "\x00"]) for _ in range(rng.randint(0, 4))
    )


def _bytes(rng: random.Random) -> Any:
    return bytes(rng.choice([0, 1, 0xFF, 0xC3, 0x80]) for _ in range(rng.randint(0, 4)))


def _floats(rng: random.Random) -> Any:
    return rng.choice([0.0, -0.0, float("nan"), 1.5, -2.25, 1e300, rng.random()])


KINDS: list[tuple[pa.DataType, Callable[[random.Random], Any]]] = [
    (pa.int64(), _ints),
    (pa.int16(), lambda rng: rng.randint(-300, 300)),
    (pa.uint64(), lambda rng: rng.choice([0, 1, 2**64 - 1, 2**63, rng.randint(0, 2**64 - 1)])),
    (pa.string(), _text),
    (pa.large_string(), _text),
    (pa.binary(), _bytes),
    (pa.float64(), _floats),
    (pa.bool_(), lambda rng: rng.random() < 0.5),
]


def _values(rng: random.Random, make: Callable[[random.Random], Any], n: int) -> list[Any]:
    return [None if rng.random() < 0.1 else make(rng) for _ in range(n)]


def _tiny_hash(columns: list[Canonical]) -> np.ndarray:
    """Four hash values for all keys: nearly every key shares its hash with others."""
    return row_hashes(columns) & np.uint64(3)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("arrow_type", "make"), KINDS, ids=lambda k: str(k)[:12])
@pytest.mark.parametrize("hasher", [row_hashes, _tiny_hash], ids=["hash64", "collisions"])
def test_one_column_lookups_equal_arrows(
    arrow_type: pa.DataType,
    make: Callable[[random.Random], Any],
    seed: int,
    hasher: Callable[[list[Canonical]], np.ndarray],
) -> None:
    rng = random.Random(seed)
    keys = pa.array(_values(rng, make, rng.randint(0, 300)), arrow_type)  # repeats, NULLs
    probes = pa.array(_values(rng, make, 400), arrow_type).slice(7)  # an offset too
    index = KeyIndex(keys, hasher=hasher)
    expected = pc.index_in(probes, value_set=keys, skip_nulls=True)
    assert index.index_in(probes).equals(expected)
    assert index.is_in(probes).equals(pc.is_in(probes, value_set=keys, skip_nulls=True))


def _reference(keys: list[tuple[Any, ...]], probes: list[tuple[Any, ...]]) -> list[int | None]:
    first: dict[tuple[Any, ...], int] = {}
    for at, key in enumerate(keys):
        if None not in key:
            first.setdefault(key, at)
    return [None if None in p else first.get(p) for p in probes]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("hasher", [row_hashes, _tiny_hash], ids=["hash64", "collisions"])
def test_composite_lookups_equal_a_dictionary_of_tuples(
    seed: int, hasher: Callable[[list[Canonical]], np.ndarray]
) -> None:
    rng = random.Random(seed)
    small = lambda r: r.choice(["x", "y", "", "é"])  # noqa: E731 - few values: many matches
    kinds = [(pa.int32(), lambda r: r.randint(-3, 3)), (pa.string(), small), (pa.binary(), _bytes)]
    chosen = [rng.choice(kinds) for _ in range(rng.randint(2, 3))]
    rows = lambda n: [  # noqa: E731
        tuple(None if rng.random() < 0.05 else make(rng) for _, make in chosen) for _ in range(n)
    ]
    keys, probes = rows(200), rows(500)
    table = lambda rs: [  # noqa: E731
        pa.array([r[i] for r in rs], t) for i, (t, _) in enumerate(chosen)
    ]
    found = KeyIndex(table(keys), hasher=hasher).index_in(table(probes))
    assert found.to_pylist() == _reference(keys, probes)


def test_swapped_columns_are_different_keys() -> None:
    index = KeyIndex([pa.array(["a", "b"]), pa.array(["b", "c"])])
    assert index.is_in([pa.array(["b", "a", "a"]), pa.array(["a", "b", "c"])]).to_pylist() == [
        False,
        True,
        False,
    ]


def test_values_are_cast_to_the_keys_type() -> None:
    index = KeyIndex(pa.array([10, 20, 30], pa.int64()))
    assert index.index_in(pa.array([30, None, 11], pa.int32())).to_pylist() == [2, None, None]


def test_an_empty_key_set_holds_nothing() -> None:
    index = KeyIndex(pa.array([], pa.string()))
    assert len(index) == 0
    assert index.is_in(pa.array(["a", None])).to_pylist() == [False, False]


def test_a_key_set_of_millions_answers_in_batches() -> None:
    keys = pa.array(np.random.default_rng(1).permutation(2_000_000).astype(np.int64) * 3)
    index = KeyIndex(keys)
    probes = pa.array(np.arange(-5, 70_000, dtype=np.int64))
    assert index.index_in(probes).equals(pc.index_in(probes, value_set=keys))
