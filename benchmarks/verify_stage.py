"""The verify stage alone: one extract and mask of the demo, then verify() in fresh processes.

    python benchmarks/verify_stage.py [--scale 1M] [--jobs 1 2] [--runs 1]

Loads the demo at about --scale rows in a throwaway cluster, extracts and masks it once with
the demo rules (Presidio columns redacted, as bench.py --skip-presidio), then runs verify()
on those files in a child process per run and prints its wall and CPU seconds and peak RSS.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
from pathlib import Path

from bench import REPO_ROOT, build_source, parse_rows, without_presidio, write_rules
from measure import human_bytes, rss_launcher, run_measured

from anonymiser.datasets import load_dataset
from anonymiser.pg.ephemeral import EphemeralCluster
from anonymiser.rules import load_rules, plan_or_raise
from anonymiser.stages.extract import ExtractOptions, extract
from anonymiser.stages.mask import mask

# the child: verify() on the pickled extract and masked files, with the plan made again from
# the rules (a plan does not survive pickling: the json strategy's path steps compare by
# identity); wall and CPU seconds
VERIFY_CHILD = """
import json, pickle, resource, sys, time
from anonymiser.datasets import load_dataset
from anonymiser.rules import load_rules, plan_or_raise
from anonymiser.stages.verify import verify
state, jobs, out = sys.argv[1:]
s = pickle.load(open(state, "rb"))
definition = load_dataset("fullset", s["datasets"])
plan = plan_or_raise(load_rules(s["rules"]), s["original"].catalog, definition).plan
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
wall, used = time.monotonic(), cpu()
report = verify(s["original"], s["masked"], plan, s["dsn"], jobs=int(jobs))
result = {"wall": time.monotonic() - wall, "cpu": cpu() - used, "passed": report.passed}
open(out, "w").write(json.dumps(result))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scale", type=parse_rows, default=1_000_000, metavar="ROWS")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    launcher, _ = rss_launcher()
    with tempfile.TemporaryDirectory() as folder, EphemeralCluster() as cluster:
        work = Path(folder)
        dsn, scale, rows, _ = build_source(cluster, args.scale)
        rules_dir = write_rules(REPO_ROOT / "rules", work / "rules", without_presidio)
        rules = load_rules(rules_dir)
        definition = load_dataset("fullset", REPO_ROOT / "snapshots")
        original = extract(dsn, definition, work / "extract", ExtractOptions(jobs=2))
        plan = plan_or_raise(rules, original.catalog, definition).plan
        masked, _ = mask(original, plan, b"benchmark key, thrown away" * 2, work, jobs=2)
        state = work / "state.pkl"
        datasets = REPO_ROOT / "snapshots"
        saved = dict(original=original, masked=masked, rules=rules_dir, datasets=datasets, dsn=dsn)
        state.write_bytes(pickle.dumps(saved))
        print(f"{rows:,} rows (demo scale {scale})")
        for jobs in args.jobs:
            for _ in range(args.runs):
                out = work / "result.json"
                command = [sys.executable, "-c", VERIFY_CHILD]
                m = run_measured(launcher, [*command, str(state), str(jobs), str(out)], out)
                print(f"verify --jobs {jobs}: wall {m.result['wall']:.2f} s, CPU "
                      f"{m.result['cpu']:.2f} s, peak RSS {human_bytes(m.peak_rss_bytes)}, "
                      f"passed {m.result['passed']}")  # fmt: skip


if __name__ == "__main__":
    main()
