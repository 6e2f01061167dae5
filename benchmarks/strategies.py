"""Throughput of every masking strategy: values/s on 1M values with ~50% duplicates.

Run from the repository root: `python benchmarks/strategies.py [--values N] [--cells N]`.
Presidio is measured separately in cells/s on realistic free text.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import pyarrow as pa

from anonymiser.maskers import ColumnSpec, MaskContext, get_strategy

ARROW = {"int4": pa.int32()}
CATEGORY = {"int4": "N", "date": "D", "timestamptz": "D", "jsonb": "U", "uuid": "U"}


def column(base: str) -> ColumnSpec:
    array = base.startswith("_")
    return ColumnSpec("bench.t", "c", base, base, "A" if array else CATEGORY.get(base, "S"),
                      ARROW.get(base, pa.string()))  # fmt: skip


def values(kind: str, n: int) -> pa.Array:
    """n values of which about half are repeats."""
    ids = np.random.default_rng(0).integers(0, n // 2, n)
    if kind == "int4":
        return pa.array(ids.astype(np.int32))
    template = {
        "text": "person{}@corp.example",
        "postcode": "SW{} 1AA",
        "date": "19{:0>2}-06-14",
        "timestamptz": "2024-01-02 03:04:{:0>2}.123+00",
        "jsonb": '{{"email": "p{}@x.org", "items": [{{"name": "n"}}]}}',
        "_text": '{{a{},"b c",NULL}}',
        "uuid": "a0eebc99-9c0b-4ef8-bb6d-{:0>12}",
    }[kind]
    distinct = pa.array([template.format(i) for i in range(n // 2)])
    if kind in ("date", "timestamptz"):  # plenty of distinct dates/times
        first = np.datetime64("0800-01-01")
        days = (first + np.arange(n // 2)).astype(str).tolist()
        suffix = " 03:04:05.123+00" if kind == "timestamptz" else ""
        distinct = pa.array([f"{d}{suffix}" for d in days])
    return distinct.take(pa.array(ids))


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("keep", {}, "text", "text"),
    ("null", {}, "text", "text"),
    ("constant", {"value": "x"}, "text", "text"),
    ("redact", {}, "text", "text"),
    ("partial", {"last": 4}, "text", "text"),
    ("hash", {}, "text", "text"),
    ("hash", {}, "int4", "int4"),
    ("hash", {}, "uuid", "uuid"),
    ("fake", {"provider": "first_name"}, "text", "text"),
    ("fake", {"provider": "name"}, "text", "text"),
    ("fake", {"provider": "email"}, "text", "text"),
    ("fake", {"provider": "phone_number"}, "text", "text"),
    ("fake", {"provider": "address"}, "text", "text"),
    ("pattern", {}, "text", "text"),
    ("pattern", {"format": "ni_number"}, "text", "text"),
    ("pattern", {"format": "trn"}, "text", "text"),
    ("generalise", {}, "text", "postcode"),
    ("generalise", {"kind": "number"}, "int4", "int4"),
    ("date_shift", {}, "date", "date"),
    ("date_shift", {}, "timestamptz", "timestamptz"),
    ("date_generalise", {}, "timestamptz", "timestamptz"),
    ("json", {"paths": {"$.email": {"strategy": "fake", "provider": "email"}}}, "jsonb", "jsonb"),
    ("array", {"rule": {"strategy": "redact"}}, "_text", "_text"),
]

TEXT = (
    "Spoke to {name} ({email}, 07700 9{i:05d}) about the placement in M{d} 1AE; "
    "NI number AB{i:06d}C on file. Follow up next week."
)


KEY = b"benchmark-key-not-secret".ljust(32, b".")


def strategy_rates(n_values: int) -> list[tuple[str, float]]:
    """(label, values/s) of every case, each on n_values values."""
    ctx = MaskContext(KEY, "bench.t.c")
    rows = []
    for name, params, base, kind in CASES:
        data = values(kind, n_values)
        masker = get_strategy(name)(params, column(base))
        masker.mask(data.slice(0, 1000), ctx)  # warm caches (Faker pools)
        start = time.perf_counter()
        masker.mask(data, ctx)
        seconds = time.perf_counter() - start
        label = f"{name} {json.dumps(params)} [{base}]" if params else f"{name} [{base}]"
        rows.append((label, n_values / seconds))
    return rows


def presidio_cells_per_second(n_cells: int) -> float:
    """Presidio scrubbing of distinct free-text cells, names known from structured columns."""
    names = [f"Person{i} Surname{i}" for i in range(n_cells)]
    ctx = MaskContext(
        KEY, "bench.t.c", known={"PERSON": {n: f"Fake {i}" for i, n in enumerate(names)}}
    )
    texts = pa.array(
        [
            TEXT.format(name=names[i], email=f"p{i}@school.org.uk", i=i, d=i % 90)
            for i in range(n_cells)
        ]
    )
    presidio = get_strategy("presidio")({}, column("text"))
    presidio.mask(texts.slice(0, 5), ctx)
    start = time.perf_counter()
    presidio.mask(texts, ctx)
    return n_cells / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--cells", type=int, default=2_000)
    args = parser.parse_args()
    for label, rate in strategy_rates(args.values):
        print(f"{label:78.78s} {rate:>12,.0f} values/s", flush=True)
    cells = presidio_cells_per_second(args.cells)
    print(f"{'presidio [text, distinct cells]':78.78s} {cells:>12,.0f} cells/s")


if __name__ == "__main__":
    main()
