"""The mask stage alone at scale: wall and CPU seconds, peak RSS and PSS of mask() on one extract.

    python benchmarks/mask_stage.py --scale 452 --jobs 1 2 --repeat 3 --work DIR

Loads the demo once in a throwaway cluster and extracts `fullset` into --work (kept, so later
runs skip this), then calls mask() with the benchmark's --skip-presidio rules (the Presidio
columns redacted) in a fresh child process per run, `--jobs` at a time, and prints the
medians. Scale 452 is about 1M rows.
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import without_presidio, write_rules
from measure import REPO_ROOT, Operation, human_bytes, rss_launcher, run_measured

from anonymiser.datasets import load_dataset
from anonymiser.demo import load_demo
from anonymiser.pg.ephemeral import EphemeralCluster
from anonymiser.rules import load_rules, plan_or_raise
from anonymiser.stages.extract import ExtractOptions, extract
from anonymiser.stages.mask import mask

KEY = b"benchmark-key-not-secret".ljust(32, b".")


def prepare(work: Path, scale: int, jobs: int) -> None:
    """The demo at `scale`, extracted into work/extract, and the rules, unless already there."""
    if (work / "extracted.pickle").exists():
        return
    write_rules(REPO_ROOT / "rules", work / "rules", without_presidio)
    with EphemeralCluster() as cluster:
        source = cluster.create_database("mask_stage")
        started = time.monotonic()
        load_demo(source, scale)
        print(f"demo scale {scale} generated in {time.monotonic() - started:.1f}s")
        dataset = load_dataset("fullset", REPO_ROOT / "snapshots")
        extracted = extract(source, dataset, work / "extract", ExtractOptions(jobs=jobs))
    (work / "extracted.pickle").write_bytes(pickle.dumps((extracted, dataset)))


def child(work: Path, jobs: int, result: Path) -> None:
    """One mask() run in this process; its wall and CPU seconds into `result`."""
    extracted, dataset = pickle.loads((work / "extracted.pickle").read_bytes())
    plan = plan_or_raise(load_rules(work / "rules"), extracted.catalog, dataset).plan
    with tempfile.TemporaryDirectory(dir=work) as scratch:
        wall, cpu = time.monotonic(), time.process_time()
        _, stats = mask(extracted, plan, KEY, Path(scratch), jobs=jobs)
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    result.write_text(json.dumps({"wall": wall, "cpu": cpu, "rows": stats.rows}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=452)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, required=True, help="extract kept here")
    parser.add_argument("--child", nargs=2, metavar=("JOBS", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.work, int(args.child[0]), Path(args.child[1]))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    prepare(args.work, args.scale, max(args.jobs))
    launcher, _ = rss_launcher()
    print("| jobs | rows | mask wall s | mask CPU s | peak RSS | peak PSS |")
    print("|---:|---:|---:|---:|---:|---:|")
    for jobs in args.jobs:
        runs = []
        for _ in range(args.repeat):
            result = args.work / "result.json"
            command = [sys.executable, __file__, "--work", str(args.work)]
            runs.append(
                run_measured(launcher, [*command, "--child", str(jobs), str(result)], result)
            )
        wall = statistics.median(m.result["wall"] for m in runs)
        cpu = statistics.median(m.result["cpu"] for m in runs)
        op = Operation(f"mask --jobs {jobs}", "", runs)
        pss = op.peak_pss()
        peaks = f"{human_bytes(op.peak_rss())} | {'-' if pss is None else human_bytes(pss)}"
        print(f"| {jobs} | {runs[0].result['rows']:,} | {wall:.2f} | {cpu:.2f} | {peaks} |")


if __name__ == "__main__":
    main()
