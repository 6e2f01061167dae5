"""What a subset costs: extract time of fullset vs the demo's 2024 subset at one scale.

    python benchmarks/subset_cost.py --scale 100 --jobs 1 4

Builds the demo in a throwaway cluster, snapshots each dataset into a temporary local
store, and prints the extract seconds and rows (median of --repeat runs).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from anonymiser.demo import load_demo
from anonymiser.pg.ephemeral import EphemeralCluster
from anonymiser.snapshot import create_snapshot

DATASETS = Path(__file__).resolve().parents[1] / "snapshots"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--datasets", nargs="+", default=["fullset", "2024", "pre-2024"])
    args = parser.parse_args()
    with EphemeralCluster() as cluster, tempfile.TemporaryDirectory() as store:
        source = cluster.create_database("subset_cost")
        started = time.monotonic()
        load_demo(source, args.scale)
        print(f"demo scale {args.scale} generated in {time.monotonic() - started:.1f}s")
        print("| dataset | jobs | rows | extract s (median) |")
        print("|---|---|---|---|")
        for jobs in args.jobs:
            for name in args.datasets:
                times, rows = [], 0
                for _ in range(args.repeat):
                    manifest = create_snapshot(
                        source, store, name, jobs=jobs, datasets_dir=DATASETS
                    )
                    times.append(manifest.timings["extract"])
                    rows = manifest.total_rows
                print(f"| {name} | {jobs} | {rows:,} | {statistics.median(times):.2f} |")


if __name__ == "__main__":
    main()
