"""Throughput benchmark: anonymiser snapshot create/restore against pg_dump -Fc / pg_restore.

One command builds the demo database in a throwaway PostgreSQL cluster at about --scale rows
in all, then times, in rounds (every operation once per round, so drift in a shared machine
spreads over all of them), on exactly that data:

    pg_dump -Fc                                    -> a dump file
    pg_restore, --single-transaction, -j N, +ANALYZE -> fresh empty databases
    anonymiser create, the demo rules (mask+verify) -> a fresh local store
    anonymiser create, keep-only rules, jobs 1 and N -> fresh local stores
    anonymiser restore of the masked snapshot, jobs 1 and N -> fresh empty databases

then values/s of every masking strategy and Presidio cells/s (benchmarks/strategies.py).
Every operation is a child process timed by wall clock from outside; its peak RSS is the
larger of its largest single process's and of the sum over its process tree sampled every
0.2 s (worker processes count; the PostgreSQL server's memory counts for no one), and its
peak PSS the tree's sum of proportional set sizes (shared pages once), which the
peak-memory target is judged on where Linux gives it.
The anonymiser runs call the library as a user would, in a `python -c` child that hands
back the manifest's per-stage timings. Prints Markdown: medians of --runs rounds, ratios to
pg_dump / pg_restore of the same run, the stages, the strategies and the issue's targets.

    python benchmarks/bench.py [--scale 1M] [--runs 3] [--jobs 2] [--skip-presidio]
                               [--only dump,create,restore,strategies] [--output FILE]

--only runs some groups of operations: `dump` (pg_dump -Fc), `create` (the three creates;
pg_dump -Fc comes along as their baseline), `restore` (the pg_restore and anonymiser restore
runs; the one dump and the one masked snapshot they load are then made once, untimed, when
their own group is not selected), `strategies` (values/s and Presidio cells/s).

Presidio scrubs ~100-300 distinct cells/s, so with the full demo rules it dominates a masked
create at scale (the demo has ~0.5 free-text cells per row); --skip-presidio redacts those
columns instead and reports what Presidio would add at the measured rate.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import yaml
from measure import (
    REPO_ROOT,
    Measured,
    Operation,
    code_version,
    cpu_model,
    data_row_count,
    human_bytes,
    memory_total,
    module_version,
    rss_launcher,
    run_measured,
    tree_bytes,
)
from psycopg import sql
from strategies import presidio_cells_per_second, strategy_rates

from anonymiser import __version__
from anonymiser.config import ENV_KEY, throwaway_key
from anonymiser.demo import load_demo
from anonymiser.pg.ephemeral import EphemeralCluster
from anonymiser.pg.tools import find_pg_tool
from anonymiser.signals import terminate_by_exception
from anonymiser.signing import ENV_SIGNING_KEY

CALIBRATION_SCALE = 10
DATASET = "fullset"
GIB = 1024**3

# The anonymiser side of each run, executed in a child so its peak RSS is its own. The
# masking and signing keys come from the environment, as for a user.
CREATE_CHILD = """
import json, sys, time
from pathlib import Path
from anonymiser.snapshot import create_snapshot
source, store, version, jobs, rules, datasets, out = sys.argv[1:]
started = time.monotonic()
manifest = create_snapshot(source, store, "fullset", version, jobs=int(jobs),
                           rules_dir=Path(rules), datasets_dir=Path(datasets))
result = {"library_seconds": time.monotonic() - started, "stages": manifest.timings,
          "rows": sum(t.rows for t in manifest.tables), "masking": manifest.masking}
open(out, "w").write(json.dumps(result))
"""
RESTORE_CHILD = """
import json, sys, time
from anonymiser.snapshot import restore_snapshot
target, store, version, jobs, analyze, out = sys.argv[1:]
started = time.monotonic()
report = restore_snapshot(target, store, "fullset", version, jobs=int(jobs),
                          analyze=analyze == "analyze")
result = {"library_seconds": time.monotonic() - started, "stages": report.seconds,
          "rows": report.rows}
open(out, "w").write(json.dumps(result))
"""

# The same relations anonymiser restore analyzes: tables, leaf partitions, materialized views.
ANALYZE_USER_TABLES = (
    "SELECT 'ANALYZE ' || string_agg(c.oid::regclass::text, ', ') FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm')"
    " AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'"
    " \\gexec"
)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_rows(text: str) -> int:
    """'1M', '200k', '2.5M' or a plain number of rows."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a row count like 1M, 200k or 50000: {text!r}")
    factor = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    return max(1, int(float(match.group(1)) * factor))


KEEP = {"strategy": "keep", "reason": "benchmark: keep-only"}
REDACT = {"strategy": "redact", "reason": "benchmark: Presidio left out (measured apart)"}


def write_rules(
    demo_rules: Path, folder: Path, rewrite: Callable[[dict[str, Any]], dict[str, Any]]
) -> Path:
    """The demo rules with every column's rule passed through `rewrite`: same tables."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(demo_rules.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text()) or {}
        for table in (doc.get("tables") or {}).values():
            columns = table.get("columns") or {}
            table["columns"] = {name: rewrite(rule) for name, rule in columns.items()}
        (folder / path.name).write_text(yaml.safe_dump(doc))
    return folder


def presidio_cells(demo_rules: Path, dsn: str) -> int:
    """Distinct non-null values of the columns the demo rules scrub with Presidio."""
    total = 0
    with psycopg.connect(dsn) as conn:
        for path in sorted(demo_rules.glob("*.yaml")):
            for name, table in (
                (yaml.safe_load(path.read_text()) or {}).get("tables") or {}
            ).items():
                for column, rule in (table.get("columns") or {}).items():
                    if rule.get("strategy") == "presidio":
                        query = sql.SQL("SELECT count(DISTINCT {}) FROM {}").format(
                            sql.Identifier(column), sql.Identifier(*name.split(".", 1))
                        )
                        total += int(conn.execute(query).fetchone()[0])  # type: ignore[index]
    return total


def without_presidio(rule: dict[str, Any]) -> dict[str, Any]:
    return REDACT if rule.get("strategy") == "presidio" else rule


class Bench:
    def __init__(
        self, cluster: EphemeralCluster, work: Path, jobs: int, skip_presidio: bool
    ) -> None:
        self.cluster = cluster
        self.work = work
        self.jobs = jobs
        # the same lookup the extract stage uses for its pg_dump
        self.pg_dump = str(find_pg_tool("pg_dump", cluster.version))
        self.pg_restore = str(find_pg_tool("pg_restore", cluster.version))
        self.psql = str(find_pg_tool("psql", cluster.version))
        self.counter = 0
        self.launcher, self.rss_method = rss_launcher()
        self.source = ""
        self.demo_rules = REPO_ROOT / "rules"
        self.keep_rules = write_rules(self.demo_rules, work / "keep-only", lambda _: KEEP)
        self.masked_label = "create, demo rules"
        if skip_presidio:
            self.masked_label = "create, demo rules, Presidio columns redacted"
            self.demo_rules = write_rules(self.demo_rules, work / "no-presidio", without_presidio)
        # throwaway keys: the snapshots live only as long as this run
        os.environ[ENV_KEY] = throwaway_key().decode()
        os.environ[ENV_SIGNING_KEY] = throwaway_key().decode()
        self.dump_file: Path | None = None  # the dump the pg_restore runs load
        self.store_version: tuple[Path, str] | None = None  # the masked snapshot restores load

    def _fresh_db(self) -> tuple[str, str]:
        self.counter += 1
        name = f"bench_target_{self.counter}"
        return name, self.cluster.create_database(name)

    def _result_file(self) -> Path:
        self.counter += 1
        return self.work / f"result-{self.counter}.json"

    def pg_dump_fc(self, op: Operation) -> Measured:
        self.counter += 1
        dump = self.work / f"dump-{self.counter}.dump"
        m = run_measured(self.launcher, [self.pg_dump, "-Fc", "-f", str(dump), "-d", self.source])
        op.size_bytes = dump.stat().st_size
        if self.dump_file is None:
            self.dump_file = dump
        else:
            dump.unlink()
        return m

    def pg_restore_into(
        self, op: Operation, jobs: int, single: bool = False, analyze: bool = False
    ) -> Measured:
        assert self.dump_file is not None
        name, dsn = self._fresh_db()
        args = [self.pg_restore, "--exit-on-error", "-d", dsn]
        args += ["-j", str(jobs)] if jobs > 1 else []
        args += ["--single-transaction"] if single else []
        args.append(str(self.dump_file))
        if analyze:  # anonymiser restore ends with ANALYZE of its tables; pg_restore does not
            psql = [self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", "-"]
            script = f"{shlex.quote(ANALYZE_USER_TABLES)} | {shlex.join(psql)}"
            args = ["sh", "-c", f"{shlex.join(args)} && printf '%s\\n' {script}"]
        m = run_measured(self.launcher, args)
        self.cluster.drop_database(name)
        return m

    def anonymiser_create(self, op: Operation, jobs: int, masked: bool) -> Measured:
        self.counter += 1
        store, version = self.work / f"store-{self.counter}", f"bench{self.counter}"
        out = self._result_file()
        rules = self.demo_rules if masked else self.keep_rules
        args = [sys.executable, "-c", CREATE_CHILD, self.source, str(store), version, str(jobs)]
        args += [str(rules), str(REPO_ROOT / "snapshots")]
        m = run_measured(self.launcher, [*args, str(out)], out)
        op.size_bytes = tree_bytes(store / DATASET / version)
        if masked and self.store_version is None:
            self.store_version = (store, version)
        else:
            shutil.rmtree(store)
        return m

    def anonymiser_restore(self, op: Operation, jobs: int, analyze: bool = True) -> Measured:
        assert self.store_version is not None
        store, version = self.store_version
        name, dsn = self._fresh_db()
        out = self._result_file()
        args = [sys.executable, "-c", RESTORE_CHILD, dsn, str(store), version, str(jobs)]
        args.append("analyze" if analyze else "no-analyze")
        m = run_measured(self.launcher, [*args, str(out)], out)
        self.cluster.drop_database(name)
        return m


Action = Callable[[Operation], Measured]
DUMP, RESTORE = "pg_dump -Fc", "pg_restore"
NO_ANALYZE = "restore --jobs 1 --no-analyze"
GROUPS = ("dump", "create", "restore", "strategies")


def parse_only(text: str) -> frozenset[str]:
    """'restore' or 'dump,restore': the groups of operations to run (see --only)."""
    groups = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(groups - set(GROUPS))
    if unknown or not groups:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(GROUPS)}: {text!r}"
        )
    if "create" in groups:
        groups |= {"dump"}  # the baseline of every create's ratio
    return groups


def build_plan(
    bench: Bench, jobs: int, only: frozenset[str] = frozenset(GROUPS)
) -> list[tuple[Operation, Action]]:
    """The operations of a round, in order: creates first (restores read their output)."""
    masked, keep = bench.masked_label, "create, keep-only rules"
    restore_j = f"{RESTORE} -j {jobs}"
    steps: list[tuple[str, str, str, Action]] = [
        ("dump", DUMP, DUMP, bench.pg_dump_fc),
        ("create", f"{masked} --jobs {jobs}", DUMP,
         lambda op: bench.anonymiser_create(op, jobs, True)),
        ("create", f"{keep} --jobs 1", DUMP, lambda op: bench.anonymiser_create(op, 1, False)),
        ("create", f"{keep} --jobs {jobs}", DUMP,
         lambda op: bench.anonymiser_create(op, jobs, False)),
        ("restore", RESTORE, RESTORE, lambda op: bench.pg_restore_into(op, 1)),
        ("restore", f"{RESTORE} --single-transaction", RESTORE,
         lambda op: bench.pg_restore_into(op, 1, single=True)),
        ("restore", restore_j, RESTORE, lambda op: bench.pg_restore_into(op, jobs)),
        ("restore", f"{RESTORE} + ANALYZE", RESTORE,
         lambda op: bench.pg_restore_into(op, 1, analyze=True)),
        ("restore", "restore --jobs 1", RESTORE, lambda op: bench.anonymiser_restore(op, 1)),
        ("restore", NO_ANALYZE, RESTORE,
         lambda op: bench.anonymiser_restore(op, 1, analyze=False)),
        ("restore", f"restore --jobs {jobs}", restore_j,
         lambda op: bench.anonymiser_restore(op, jobs)),
    ]  # fmt: skip
    return [
        (Operation(name, baseline), action)
        for group, name, baseline, action in steps
        if group in only
    ]


def prepare_restore_inputs(bench: Bench, jobs: int, only: frozenset[str]) -> None:
    """The dump and the masked snapshot the restores load, made once and untimed when the
    groups that would make them in the first round are not selected."""
    if "restore" not in only:
        return
    if "dump" not in only:
        log("making the dump the pg_restore runs load (untimed)")
        bench.pg_dump_fc(Operation(DUMP, DUMP))
    if "create" not in only:
        log("making the masked snapshot the restores load (untimed)")
        bench.anonymiser_create(Operation("create", DUMP), jobs, masked=True)


def build_source(cluster: EphemeralCluster, rows: int) -> tuple[str, int, int, float]:
    """Load the demo at the scale nearest `rows`; return its dsn, scale, rows, load seconds."""
    probe = cluster.create_database("bench_calibrate")
    load_demo(probe, CALIBRATION_SCALE)
    per_scale = data_row_count(probe) / CALIBRATION_SCALE
    cluster.drop_database("bench_calibrate")
    scale = max(1, round(rows / per_scale))
    source = cluster.create_database("bench_source")
    log(f"loading the demo at scale {scale} (about {per_scale:.0f} rows per scale unit)")
    started = time.monotonic()
    load_demo(source, scale)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")  # settle: no autovacuum of the source mid-benchmark
    seconds = time.monotonic() - started
    return source, scale, data_row_count(source), seconds


def _ratio(ops: dict[str, Operation], name: str) -> float:
    op = ops[name]
    return op.median() / ops[op.baseline].median()


def render_operations(ops: list[Operation], rows: int, runs: int, rss_by: str) -> list[str]:
    by_name = {op.name: op for op in ops}
    lines = [
        f"Wall-clock medians of {runs} run(s); ratio = median / median of the baseline in the "
        "same run (below 1.00 = faster than it).",
        "",
        "| operation | median s | min-max s | rows/s | ratio | baseline | peak RSS | peak PSS "
        "| size |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for op in ops:
        median = op.median()
        size = human_bytes(op.size_bytes) if op.size_bytes is not None else "-"
        pss = op.peak_pss()
        lines.append(
            f"| {op.name} | {median:.2f} | {op.spread()} | {rows / median:,.0f} | "
            f"{_ratio(by_name, op.name):.2f}x | {op.baseline} | {human_bytes(op.peak_rss())} | "
            f"{'-' if pss is None else human_bytes(pss)} | {size} |"
        )
    lines += ["", "Per-stage medians (seconds), from the manifest's timings (create) and the"]
    lines += ["restore report; wall time beyond the library call is Python starting up:", ""]
    for title, names in (("create", "create"), ("restore", "restore --")):
        staged = [op for op in ops if op.name.startswith(names) and op.stage_medians()]
        stages = list(dict.fromkeys(s for op in staged for s in op.stage_medians()))
        if not staged:
            continue
        lines.append(f"| {title} | {' | '.join(stages)} | library call | wall |")
        lines.append("|---" + "|---:" * (len(stages) + 2) + "|")
        for op in staged:
            medians = op.stage_medians()
            library = statistics.median(m.result["library_seconds"] for m in op.runs)
            cells = [f"{medians[s]:.2f}" if s in medians else "-" for s in stages]
            lines.append(f"| {op.name} | {' | '.join(cells)} | {library:.2f} | {op.median():.2f} |")
        lines.append("")
    lines.append(
        f"Peak RSS: the larger of the largest single process of each operation's tree "
        f"({rss_by}) and the sum over the tree sampled every 0.2 s (worker processes count); "
        "pages the processes share (Presidio's workers with their fork server) count once per "
        "process, so a tree's sum errs high. Peak PSS: the tree's sum of proportional set "
        "sizes sampled at the same moments (each shared page counted once, split between its "
        "sharers: what the tree takes from RAM; '-' where /proc/PID/smaps_rollup is not "
        "readable); the peak-memory target is judged on it where measured. pg_restore -j "
        "forks one process per job. Sizes: the dump file vs every file of the published "
        "snapshot version."
    )
    return lines


def render_strategies(rates: list[tuple[str, float, float]], presidio: float) -> list[str]:
    """values/s of wall-clock and of CPU time (the steadier on a shared machine; the verdict)."""
    lines = [
        "| strategy [column type] | values/s (wall) | values/s (CPU) | >= 1M/s (CPU) |",
        "|---|---:|---:|:---:|",
    ]
    lines += [
        f"| {label} | {wall:,.0f} | {cpu:,.0f} | {'yes' if cpu >= 1e6 else 'no'} |"
        for label, wall, cpu in rates
    ]
    lines += [f"| presidio [free text, distinct cells] | {presidio:,.1f} cells/s | | n/a |"]
    return lines


def render_targets(
    ops: list[Operation], rates: list[tuple[str, float, float]] | None, jobs: int, masked: str
) -> list[str]:
    """One verdict per target; a target whose operations were not run (--only) says so."""
    by_name = {op.name: op for op in ops}
    masked = f"{masked} --jobs {jobs}"
    anonymiser = [op for op in ops if op.name.startswith(("create", "restore"))]
    restore_n = f"restore --jobs {jobs}"
    checks: list[tuple[str, bool | None, str]] = []
    if masked in by_name:
        verify = "" if "verify" in by_name[masked].stage_medians() else " (no verify stage yet)"
        ratio = _ratio(by_name, masked)
        what = f"create with masking and verification <= 1.0x pg_dump -Fc{verify}"
        checks.append((what, ratio <= 1.0, f"{ratio:.2f}x"))
    else:
        checks.append(("create with masking and verification <= 1.0x pg_dump -Fc", None, "-"))
    if "restore --jobs 1" in by_name:
        restore_1, parallel = _ratio(by_name, "restore --jobs 1"), _ratio(by_name, restore_n)
        no_analyze = _ratio(by_name, NO_ANALYZE)
        checks += [
            ("restore <= 1.0x pg_restore", restore_1 <= 1.0,
             f"{restore_1:.2f}x (--jobs {jobs} vs -j {jobs}: {parallel:.2f}x)"),
            ("restore --no-analyze <= 1.0x pg_restore (neither analyzes)", no_analyze <= 1.0,
             f"{no_analyze:.2f}x"),
        ]  # fmt: skip
    else:
        checks += [
            ("restore <= 1.0x pg_restore", None, "-"),
            ("restore --no-analyze <= 1.0x pg_restore (neither analyzes)", None, "-"),
        ]
    if anonymiser:
        # the tree's PSS where measured: the RSS sum counts the pages Presidio's workers share
        # with their fork server once per process, memory the run does not take twice
        peak = max(op.peak_memory() for op in anonymiser)
        rss = human_bytes(max(op.peak_rss() for op in anonymiser))
        if any(op.peak_pss() is None for op in anonymiser):
            value = f"{rss} (RSS)"
        else:
            value = f"{human_bytes(peak)} (tree PSS; RSS {rss})"
        checks.append(("peak RSS <= 1 GiB", peak <= GIB, value))
    else:
        checks.append(("peak RSS <= 1 GiB", None, "-"))
    strategies = "every non-Presidio strategy >= 1M values/s (CPU time)"
    if rates is not None:
        slow = [label for label, _, cpu in rates if cpu < 1e6]
        below = f"; below: {', '.join(slow)}" if slow else ""
        checks.append((strategies, not slow, f"{len(rates) - len(slow)} of {len(rates)}{below}"))
    else:
        checks.append((strategies, None, "-"))

    def verdict(ok: bool | None) -> str:
        return "not measured (--only)" if ok is None else "met" if ok else "**not met**"

    lines = ["| target | result | verdict |", "|---|---|---|"]
    lines += [f"| {what} | {value} | {verdict(ok)} |" for what, ok, value in checks]
    lines += [
        "",
        "Peak RSS flat from 1M to 10M rows: compare the peak RSS of two runs at "
        "`--scale 1M` and `--scale 10M`.",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scale", type=parse_rows, default=1_000_000, metavar="ROWS",
                        help="rows in all, about (1M, 200k, 10M; default 1M)")  # fmt: skip
    parser.add_argument("--runs", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--jobs", type=int, default=2, help="N (>= 2) for pg_restore -j, --jobs")
    parser.add_argument("--values", type=int, default=1_000_000, help="values per strategy")
    parser.add_argument("--cells", type=int, default=2_000, help="free-text cells for Presidio")
    parser.add_argument(
        "--skip-presidio",
        action="store_true",
        help="redact the demo's Presidio columns instead (Presidio is measured apart in cells/s)",
    )
    parser.add_argument(
        "--only",
        type=parse_only,
        default=frozenset(GROUPS),
        metavar="GROUPS",
        help=f"run only these groups, comma-separated: {', '.join(GROUPS)} (default: all)",
    )
    parser.add_argument("--output", type=Path, help="also write the Markdown report here")
    parser.add_argument("--workdir", type=Path, help="where dumps and stores go (default: temp)")
    args = parser.parse_args(argv)
    if args.jobs < 2:
        parser.error("--jobs must be 2 or more (jobs=1 is always measured)")
    runs, jobs = max(1, args.runs), args.jobs
    terminate_by_exception()  # a killed run stops its cluster and removes its files too

    work = Path(tempfile.mkdtemp(prefix="anonymiser-bench-", dir=args.workdir))
    try:
        with EphemeralCluster() as cluster:
            bench = Bench(cluster, work, jobs, args.skip_presidio)
            source, scale, rows, load_seconds = build_source(cluster, args.scale)
            bench.source = source
            with psycopg.connect(source) as conn:
                server = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
                db_bytes = int(
                    conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
                )
            log(f"{rows:,} rows loaded in {load_seconds:.1f}s; database {human_bytes(db_bytes)}")
            plan = build_plan(bench, jobs, args.only)
            prepare_restore_inputs(bench, jobs, args.only)
            for round_number in range(1, runs + 1):
                for op, action in plan:
                    measured = action(op)
                    op.runs.append(measured)
                    pss = measured.peak_pss_bytes
                    log(f"round {round_number}/{runs}: {op.name}: {measured.seconds:.2f}s, "
                        f"peak RSS {human_bytes(measured.peak_rss_bytes)}"
                        + ("" if pss is None else f", PSS {human_bytes(pss)}"))  # fmt: skip
            ops = [op for op, _ in plan]
            rss_by, masked = bench.rss_method, bench.masked_label
            free_text = presidio_cells(REPO_ROOT / "rules", source)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rates: list[tuple[str, float, float]] | None = None
    presidio_fact, strategy_lines = "not measured (--only)", []
    if "strategies" in args.only:
        log(f"masking strategies on {args.values:,} values each, Presidio on {args.cells:,} cells")
        rates = strategy_rates(args.values, repeat=3)
        presidio, _ = presidio_cells_per_second(args.cells)
        presidio_fact = (
            f"{free_text:,} distinct free-text cells, ~{free_text / presidio:,.0f} s at "
            f"the measured {presidio:,.0f} cells/s"
            + (" (left out of the create above: --skip-presidio)" if args.skip_presidio else "")
        )
        strategy_lines = ["### Masking strategies", "", *render_strategies(rates, presidio), ""]
    facts = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "rows": f"{rows:,} (demo scale {scale}; generated in {load_seconds:.1f}s; "
        f"database {human_bytes(db_bytes)})",
        "machine": f"{os.cpu_count()} CPUs ({cpu_model()}), {memory_total()} RAM, "
        f"{platform.system()} {platform.release()}, load average "
        f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())} at the end",
        "PostgreSQL": f"{server} (server, pg_dump and pg_restore)",
        "Python": f"{platform.python_version()}; anonymiser {__version__}; "
        f"pyarrow {module_version('pyarrow')}; psycopg {module_version('psycopg')}",
        "Presidio": presidio_fact,
        "code": code_version(),
        "jobs": str(jobs),
        "operations": "all" if args.only == set(GROUPS) else ", ".join(sorted(args.only)),
    }
    report = "\n".join(
        [
            "## anonymiser benchmark",
            "",
            *[f"- {key}: {value}" for key, value in facts.items()],
            "",
            *render_operations(ops, rows, runs, rss_by),
            "",
            *strategy_lines,
            "### Targets (issue 8)",
            "",
            *render_targets(ops, rates, jobs, masked),
        ]
    )
    print(report)
    if args.output:
        args.output.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
