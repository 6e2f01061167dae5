"""Batches looked up in a large key set: Arrow per batch against a KeyIndex built once.

    python benchmarks/key_lookups.py [--keys 200k 1M 4M] [--sample 3]

The foreign key check and apply_mapping look every 64Ki-row batch of a column up in all the
keys of another (parent keys, a mapping's originals). For each key-set size and kind (int64
keys, as most foreign keys; email-like text, as a mapping; an (int64, text) composite key),
the CPU seconds of: Arrow's call on one batch (is_in / index_in / a left anti join, which
hash the whole key set each call), a KeyIndex's build, and its lookup of one batch; then the
totals for a child of as many rows as there are keys (ceil(keys / 64Ki) batches). Arrow's
per-batch cost is the median of --sample batches (its total is that times the batches: a
full run at 4M keys would take minutes); the KeyIndex total is measured over every batch.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.keyindex import KeyIndex

BATCH = 64 * 1024
T = TypeVar("T")


def cpu(work: Callable[..., T], *args: object) -> tuple[float, T]:
    """(CPU seconds, result) of work(*args)."""
    started = time.process_time()
    out = work(*args)
    return time.process_time() - started, out


def emails(numbers: np.ndarray) -> pa.Array:
    text = pc.cast(pa.array(numbers), pa.string())
    return pc.binary_join_element_wise("user.", text, "@example.org", "")


def key_set(kind: str, size: int, rng: np.random.Generator) -> list[pa.Array]:
    numbers = rng.permutation(size).astype(np.int64) * 7 - size  # negatives too
    if kind == "int64":
        return [pa.array(numbers)]
    if kind == "text":
        return [emails(numbers)]
    return [pa.array(numbers % 1000), emails(numbers)]


def arrow_lookup(kind: str, keys: list[pa.Array]) -> Callable[[list[pa.Array]], object]:
    """What the code did per batch before: is_in (FK), index_in (mapping), an anti join."""
    if kind == "int64":
        return lambda batch: pc.is_in(batch[0], value_set=keys[0])
    if kind == "text":
        return lambda batch: pc.index_in(batch[0], value_set=keys[0])
    parent = pa.table({"a": keys[0], "b": keys[1]})
    return lambda batch: pa.table({"a": batch[0], "b": batch[1]}).join(
        parent, ["a", "b"], join_type="left anti"
    )


def batches(keys: list[pa.Array], rng: np.random.Generator) -> list[list[pa.Array]]:
    """A child of as many rows as keys: the keys shuffled, a tenth replaced by absent ones."""
    rows = rng.permutation(len(keys[0]))
    child = [k.take(pa.array(rows)) for k in keys]
    absent = rng.random(len(rows)) < 0.1
    child = [
        pc.if_else(pa.array(absent), pc.cast(pc.add(c, 1), c.type), c)
        if pa.types.is_integer(c.type)
        else pc.if_else(pa.array(absent), pc.binary_join_element_wise(c, "x", ""), c)
        for c in child
    ]
    return [[c.slice(at, BATCH) for c in child] for at in range(0, len(rows), BATCH)]


def parse_size(text: str) -> int:
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1].lower(), 1)
    return int(float(text.rstrip("kKmM")) * scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", nargs="+", default=["200k", "1M", "4M"])
    parser.add_argument("--sample", type=int, default=3)
    parser.add_argument("--kinds", nargs="+", default=["int64", "text", "composite"])
    args = parser.parse_args()
    print(
        f"{'kind':<10}{'keys':>9}{'batches':>8}{'arrow/batch':>12}{'build':>8}"
        f"{'index/batch':>12}{'arrow total':>12}{'index total':>12}  (CPU s)"
    )
    for kind in args.kinds:
        for size in map(parse_size, args.keys):
            rng = np.random.default_rng(size)
            keys = key_set(kind, size, rng)
            child = batches(keys, rng)
            old = arrow_lookup(kind, keys)
            per_batch = statistics.median(cpu(old, b)[0] for b in child[: args.sample])
            build, index = cpu(KeyIndex, keys)
            lookups = [cpu(index.is_in, b)[0] for b in child]
            print(
                f"{kind:<10}{size:>9}{len(child):>8}{per_batch:>12.3f}{build:>8.2f}"
                f"{statistics.median(lookups):>12.4f}{per_batch * len(child):>12.1f}"
                f"{build + sum(lookups):>12.2f}"
            )


if __name__ == "__main__":
    main()
