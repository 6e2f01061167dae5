"""Presidio's known-values index: build time, memory and lookup rate at snapshot scale.

Run from the repository root: `python benchmarks/known_values.py [--values N] [--texts N]`.
The values are shaped like a big snapshot's structured columns (half email addresses, a
quarter full names, a quarter phone numbers, all distinct); the texts like the demo's notes,
each naming one person, their phone and their email. Prints the index's build CPU time, the
resident memory it added (beyond the pairs themselves, as Arrow arrays), and texts/s of
KnownValues.spans_many (CPU).
"""

from __future__ import annotations

import argparse
import gc
import os
import time

import pyarrow as pa

from anonymiser.maskers._known import KnownValues
from anonymiser.maskers._knownpairs import KnownPairs


def resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=1_800_000, help="known values")
    parser.add_argument("--texts", type=int, default=100_000, help="texts looked up")
    args = parser.parse_args()
    n = args.values
    email = "first{}.last{}{}@mail.example.com"
    known = KnownPairs()
    for kind, originals, pseudonyms in [
        (
            "EMAIL_ADDRESS",
            [email.format(i % 3000, i % 5000, i) for i in range(n // 2)],
            [f"fake{i}@example.org" for i in range(n // 2)],
        ),
        ("PERSON", [f"First{i} Last{i}" for i in range(n // 4)], [f"F{i}" for i in range(n // 4)]),
        (
            "PHONE_NUMBER",
            [f"07700 9{i:05d}" for i in range(n // 4)],
            [f"01632 9{i:05d}" for i in range(n // 4)],
        ),
    ]:
        known.add(kind, pa.array(originals, pa.string()), pa.array(pseudonyms, pa.string()))
    gc.collect()
    before, started = resident_mib(), time.process_time()
    index = KnownValues(known)
    built = time.process_time() - started
    print(f"{n:,} values: built in {built:.2f} s CPU, +{resident_mib() - before:.0f} MiB resident")
    texts = [
        f"Spoke to First{i} Last{i} on 07700 9{i:05d} about deferral; confirm by email to "
        f"{email.format(i % 3000, i % 5000, i)}."
        for i in range(0, min(args.texts, n // 4))
    ]
    started = time.process_time()
    found = index.spans_many(texts)
    seconds = time.process_time() - started
    spans = sum(map(len, found))
    print(f"{len(texts):,} texts: {len(texts) / seconds:,.0f} texts/s CPU, {spans:,} values found")


if __name__ == "__main__":
    main()
