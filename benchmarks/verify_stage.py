"""The verify stage alone: one extract and mask of the demo, then verify() in fresh processes.

    python benchmarks/verify_stage.py [--scale 1M] [--jobs 1 2] [--runs 1]
                                      [--only leaks] [--code OLD_CHECKOUT .]

Loads the demo at about --scale rows in a throwaway cluster, extracts and masks it once with
the demo rules (Presidio columns redacted, as bench.py --skip-presidio), then runs verify()
on those files in a child process per run and prints its wall and CPU seconds, peak RSS and
a digest of its check results (identical digests: identical results, `seconds` aside).
`--only leaks` runs the leak check alone. `--code` names checkouts whose `anonymiser` the
children import, interleaved in each round (a before/after comparison on the same files,
under the same load); the extract and mask are this checkout's.
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

# the child: verify() (or the leak check alone) on the pickled extract and masked files,
# with the plan made again from the rules (a plan does not survive pickling: the json
# strategy's path steps compare by identity); wall and CPU seconds, a digest of the results
VERIFY_CHILD = """
import hashlib, json, pickle, resource, sys, time
state, jobs, out, code, only = sys.argv[1:]
sys.path.insert(0, code)
from anonymiser.datasets import load_dataset
from anonymiser.rules import load_rules, plan_or_raise
from anonymiser.stages.verify import verify
from anonymiser.verify.leaks import check_leaks
from anonymiser.verify.model import VerificationReport, VerifySettings
from anonymiser.verify.output import Output
s = pickle.load(open(state, "rb"))
definition = load_dataset("fullset", s["datasets"])
plan = plan_or_raise(load_rules(s["rules"]), s["original"].catalog, definition).plan
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
wall, used = time.monotonic(), cpu()
if only == "leaks":
    report = VerificationReport(VerifySettings())
    check_leaks(Output(s["original"], s["masked"], plan), report, report.settings, int(jobs))
else:
    report = verify(s["original"], s["masked"], plan, s["dsn"], jobs=int(jobs))
result = {"wall": time.monotonic() - wall, "cpu": cpu() - used, "passed": report.passed}
checks = [(c.name, c.table, c.column, c.rule, c.checked, c.failures, c.detail)
          for c in report.checks]
result["checks"] = len(checks)
result["digest"] = hashlib.sha256(json.dumps(checks).encode()).hexdigest()[:12]
open(out, "w").write(json.dumps(result))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scale", type=parse_rows, default=1_000_000, metavar="ROWS")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", choices=["verify", "leaks"], default="verify")
    parser.add_argument("--code", type=Path, nargs="+", default=[REPO_ROOT], metavar="DIR")
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
                for code in args.code:  # interleaved: every checkout under the same load
                    out = work / "result.json"
                    command = [sys.executable, "-c", VERIFY_CHILD, str(state), str(jobs)]
                    extra = [str(out), str(code.resolve()), args.only]
                    m = run_measured(launcher, [*command, *extra], out)
                    r = m.result
                    print(f"{args.only} --jobs {jobs} ({code}): wall {r['wall']:.2f} s, CPU "
                          f"{r['cpu']:.2f} s, peak RSS {human_bytes(m.peak_rss_bytes)}, "
                          f"passed {r['passed']}, {r['checks']} checks {r['digest']}")  # fmt: skip


if __name__ == "__main__":
    main()
