"""Throughput of every masking strategy: values/s on 1M values with ~50% duplicates.

Run from the repository root:
`python benchmarks/strategies.py [--values N] [--cells N] [--repeat N] [--only TEXT]
[--corpus bench|demo]`.
Each case runs --repeat times; the medians of wall-clock and CPU (process) time are shown, the
second being the steadier figure on a shared machine. Presidio is measured separately in
cells/s on free text: `bench` cells each hold a new name, phone, email and NI number; `demo`
cells are the demo's own trainees.notes and audit_log.comment texts (anonymiser/demo/schema.sql),
whose names, emails and phones are also masked in structured columns. With `--corpus demo` the
verify stage's Presidio re-scan of the masked cells is measured too.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from anonymiser.maskers import ColumnSpec, MaskContext, get_strategy
from anonymiser.maskers.presidio import DEFAULT_ENTITIES
from anonymiser.verify.rescan import residual_findings

ARROW = {"int4": pa.int32()}
CATEGORY = {"int4": "N", "date": "D", "timestamp": "D", "timestamptz": "D", "jsonb": "U",
            "uuid": "U"}  # fmt: skip


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
        "timestamp": "",
        "timestamptz": "",
        "jsonb": '{{"email": "p{}@x.org", "items": [{{"name": "n"}}]}}',
        "_text": '{{a{},"b c",NULL}}',
        "uuid": "a0eebc99-9c0b-4ef8-bb6d-{:0>12}",
    }[kind]
    distinct = pa.array([template.format(i) for i in range(n // 2)])
    if kind in ("date", "timestamp", "timestamptz"):  # plenty of distinct dates/times
        first = np.datetime64("0800-01-01")
        days = (first + np.arange(n // 2)).astype(str).tolist()
        suffix = {"date": "", "timestamp": " 03:04:05.123", "timestamptz": " 03:04:05.123+00"}
        distinct = pa.array([f"{d}{suffix[kind]}" for d in days])
    return distinct.take(pa.array(ids))


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("keep", {}, "text", "text"),
    ("null", {}, "text", "text"),
    ("constant", {"value": "x"}, "text", "text"),
    ("redact", {}, "text", "text"),
    ("redact", {"token": "[removed]"}, "text", "text"),
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
    ("date_shift", {}, "timestamp", "timestamp"),
    ("date_shift", {}, "timestamptz", "timestamptz"),
    ("date_generalise", {}, "date", "date"),
    ("date_generalise", {}, "timestamptz", "timestamptz"),
    ("json", {"paths": {"$.email": {"strategy": "fake", "provider": "email"}}}, "jsonb", "jsonb"),
    ("array", {"rule": {"strategy": "redact"}}, "_text", "_text"),
    ("array", {"rule": {"strategy": "hash", "length": 12}}, "_text", "_text"),
]

TEXT = (
    "Spoke to {name} ({email}, 07700 9{i:05d}) about the placement in M{d} 1AE; "
    "NI number AB{i:06d}C on file. Follow up next week."
)


KEY = b"benchmark-key-not-secret".ljust(32, b".")


def strategy_rates(
    n_values: int, repeat: int = 1, only: str = ""
) -> list[tuple[str, float, float]]:
    """(label, values/s wall, values/s CPU) of every case whose label contains `only`, each
    on n_values values; medians of `repeat` runs."""
    ctx = MaskContext(KEY, "bench.t.c")
    rows = []
    for name, params, base, kind in CASES:
        label = f"{name} {json.dumps(params)} [{base}]" if params else f"{name} [{base}]"
        if only not in label:
            continue
        data = values(kind, n_values)
        masker = get_strategy(name)(params, column(base))
        masker.mask(data.slice(0, 1000), ctx)  # warm caches (Faker pools)
        walls, cpus = [], []
        for _ in range(repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            masker.mask(data, ctx)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - start_cpu)
        rows.append(
            (label, n_values / statistics.median(walls), n_values / statistics.median(cpus))
        )
    return rows


def bench_corpus(n_cells: int) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Cells that each hold a new name, email, phone and NI number; the names are known."""
    names = [f"Person{i} Surname{i}" for i in range(n_cells)]
    texts = [
        TEXT.format(name=names[i], email=f"p{i}@school.org.uk", i=i, d=i % 90)
        for i in range(n_cells)
    ]
    return texts, {"PERSON": {n: f"Fake {i}" for i, n in enumerate(names)}}


def demo_corpus(n_cells: int) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The demo's free text, alternately trainees.notes and audit_log.comment, written as
    anonymiser/demo/schema.sql writes them (trainee rn, its phone, NI number and email; a
    staff user's email); the structured columns' names, emails and phones are known."""
    schema = (Path(__file__).parent.parent / "anonymiser/demo/schema.sql").read_text()
    words = dict(re.findall(r"\('(\w+)', '\{([^}]*)\}'\)", schema))
    first, last = words["first"].split(","), words["last"].split(",")
    rng = np.random.default_rng(0)
    known: dict[str, dict[str, str]] = {"PERSON": {}, "EMAIL_ADDRESS": {}, "PHONE_NUMBER": {}}
    for i, name in enumerate(first + last):
        known["PERSON"][name] = f"Fake{i}"
    users = [
        f"{first[rng.integers(len(first))]}.{last[rng.integers(len(last))]}{g}".lower()
        + "@education.example.gov.uk"
        for g in range(1, max(2, n_cells // 50))
    ]
    texts = []
    for rn in range(1, n_cells + 1):
        fn, ln = first[rng.integers(len(first))], last[rng.integers(len(last))]
        email = f"{fn}.{ln}{rn}@mail.example.com".lower()
        phone = f"07700 900{rn % 1000:03d}"
        user = users[rng.integers(len(users))]
        known["EMAIL_ADDRESS"][email] = f"fake{rn}@example.org"
        known["PHONE_NUMBER"][phone] = f"01632 960{rn % 1000:03d}"
        if rn % 2:
            texts.append(
                f"Spoke to {fn} {ln} on {phone} about deferral; confirm by email to {email}. "
                f"NI QQ{rn % 1000000:06d}C"
            )
        else:
            texts.append(
                f"Updated contact details for {fn} {ln} ({email}) at the request of {user}"
            )
    known["EMAIL_ADDRESS"].update({u: f"staff{i}@example.org" for i, u in enumerate(users)})
    return texts, known


def presidio_cells_per_second(n_cells: int, corpus: str = "bench") -> tuple[float, float]:
    """Presidio scrubbing of distinct free-text cells, names known from structured columns:
    (cells/s wall, cells/s CPU)."""
    return presidio_rates(n_cells, corpus)[0]


def presidio_rates(n_cells: int, corpus: str) -> list[tuple[float, float]]:
    """(cells/s wall, cells/s CPU) of Presidio masking `n_cells` distinct cells of `corpus`,
    then of the verify stage's re-scan of the masked cells."""
    texts, known = (demo_corpus if corpus == "demo" else bench_corpus)(n_cells)
    ctx = MaskContext(KEY, "bench.t.c", known=known)
    presidio = get_strategy("presidio")({}, column("text"))
    presidio.mask(pa.array(texts[:5]), ctx)
    start, start_cpu = time.perf_counter(), time.process_time()
    masked = presidio.mask(pa.array(texts), ctx).to_pylist()
    rates = [(n_cells / (time.perf_counter() - start), n_cells / (time.process_time() - start_cpu))]
    if corpus == "demo":
        start, start_cpu = time.perf_counter(), time.process_time()
        residual_findings(list(zip(texts, masked, strict=True)), list(DEFAULT_ENTITIES), 0.35)
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        rates.append((n_cells / wall, n_cells / cpu))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--cells", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (medians shown)")
    parser.add_argument("--only", default="", help="only cases whose label contains this")
    parser.add_argument(
        "--corpus", choices=["bench", "demo"], default="bench",
        help="Presidio's free text: new PII in every cell, or the demo's",
    )  # fmt: skip
    args = parser.parse_args()
    print(f"{'case':66s} {'values/s (wall)':>16s} {'values/s (CPU)':>15s}")
    for label, wall, cpu in strategy_rates(args.values, args.repeat, args.only):
        print(f"{label:66.66s} {wall:>16,.0f} {cpu:>15,.0f}", flush=True)
    if args.only and args.only not in "presidio":
        return
    rates = presidio_rates(args.cells, args.corpus)
    labels = [
        f"presidio [{args.corpus} text, distinct cells] (cells/s)",
        "presidio re-scan (cells/s)",
    ]
    for label, (wall, cpu) in zip(labels, rates, strict=False):
        print(f"{label:66s} {wall:>16,.0f} {cpu:>15,.0f}")


if __name__ == "__main__":
    main()
