"""Throughput benchmark: anonymiser snapshot create/restore against pg_dump -Fc / pg_restore.

One run builds the demo database in a throwaway PostgreSQL cluster at a scale giving about
--rows rows, then times, in rounds (every operation once per round, so drift in the machine
spreads over all of them), on exactly that data:

    pg_dump -Fc                      -> a dump file
    pg_restore, pg_restore -j N      -> fresh empty databases
    anonymiser create, jobs=1 and N  -> fresh local store directories
    anonymiser restore, jobs=1 and N -> fresh empty databases

Every operation runs as its own child process and is timed by wall clock from outside; its
peak RSS is that of the largest single process of its tree, read by GNU time or a small
wait4 launcher (the PostgreSQL server's memory is not counted for anyone). The anonymiser
runs call the library in a `python -c` child, which also hands back the per-stage timings.
Medians of --runs rounds are reported.

    python benchmarks/bench.py [--rows 1000000] [--runs 3] [--jobs 2] [--output FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from anonymiser import __version__
from anonymiser.demo import load_demo
from anonymiser.pg.ephemeral import EphemeralCluster
from anonymiser.pg.tools import find_pg_tool

REPO_ROOT = Path(__file__).resolve().parent.parent
CALIBRATION_SCALE = 10
DATASET = "fullset"

# The anonymiser side of each run, executed in a child so its peak RSS is its own.
CREATE_CHILD = """
import json, sys, time
from anonymiser.snapshot import create_snapshot
source, store, version, jobs, out = sys.argv[1:]
started = time.monotonic()
manifest = create_snapshot(source, store, "fullset", version, jobs=int(jobs), unmasked=True)
result = {"library_seconds": time.monotonic() - started, "stages": manifest.timings,
          "rows": sum(t.rows for t in manifest.tables), "masking": manifest.masking}
open(out, "w").write(json.dumps(result))
"""
RESTORE_CHILD = """
import json, sys, time
from anonymiser.snapshot import restore_snapshot
target, store, version, jobs, out = sys.argv[1:]
started = time.monotonic()
report = restore_snapshot(target, store, "fullset", version, jobs=int(jobs))
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


@dataclass
class Measured:
    seconds: float
    peak_rss_bytes: int
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class Operation:
    name: str
    baseline: str  # the operation its ratio is taken against
    runs: list[Measured] = field(default_factory=list)
    size_bytes: int | None = None

    def median(self) -> float:
        return statistics.median(m.seconds for m in self.runs)

    def spread(self) -> str:
        times = [m.seconds for m in self.runs]
        return f"{min(times):.2f}-{max(times):.2f}"

    def peak_rss(self) -> int:
        return max(m.peak_rss_bytes for m in self.runs)

    def stage_medians(self) -> dict[str, float]:
        stages: dict[str, list[float]] = {}
        for m in self.runs:
            for stage, seconds in m.result.get("stages", {}).items():
                stages.setdefault(stage, []).append(float(seconds))
        return {stage: statistics.median(values) for stage, values in stages.items()}


# A forked child starts with its parent's peak RSS already on the books (Linux keeps the
# high-water mark across fork and exec), so wait4 on a child of this ~100 MiB process would
# report at least 100 MiB for anything. Peak RSS is therefore read through a small launcher:
# GNU time where it exists, else a bare `python -S` that posix_spawns and wait4s the command.
LAUNCHER = """
import os, sys
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _gnu_time() -> str | None:
    gnu_time = shutil.which("time", path="/usr/bin:/bin")
    if gnu_time is None or sys.platform == "darwin":
        return None
    with tempfile.NamedTemporaryFile() as out:
        probe = [gnu_time, "-f", "%M", "-o", out.name, "true"]
        if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
            return None
        return gnu_time if out.read().strip().isdigit() else None


def rss_launcher() -> tuple[list[str], str]:
    """A command prefix taking (rss file, command...) and its name for the report."""
    gnu_time = _gnu_time()
    if gnu_time:
        return [gnu_time, "-f", "%M", "-o"], "GNU time (%M)"
    return [sys.executable, "-S", "-c", LAUNCHER], "a python -S launcher (includes its own ~10 MiB)"


def _rss_bytes(ru_maxrss: int) -> int:
    return ru_maxrss if sys.platform == "darwin" else ru_maxrss * 1024  # macOS: bytes; Linux: KiB


def run_measured(launcher: list[str], args: list[str], result_file: Path | None = None) -> Measured:
    """Run `args` as a child; wall time, peak RSS and the JSON it left in result_file."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryFile() as errors, tempfile.NamedTemporaryFile() as rss:
        started = time.monotonic()
        returncode = subprocess.run(
            [*launcher, rss.name, *args], stdout=subprocess.DEVNULL, stderr=errors, env=env,
            check=False,
        ).returncode  # fmt: skip
        seconds = time.monotonic() - started
        if returncode != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace").strip().splitlines()[-5:]
            raise SystemExit(f"{Path(args[0]).name} failed ({returncode}): {' | '.join(tail)}")
        peak = _rss_bytes(int(rss.read().split()[-1]))
    result = json.loads(result_file.read_text()) if result_file else {}
    return Measured(seconds, peak, result)


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def data_row_count(dsn: str) -> int:
    """Rows in every ordinary table and leaf partition (what a snapshot copies)."""
    with psycopg.connect(dsn) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND n.nspname !~ '^pg_toast'"
        ).fetchall()
        total = 0
        for schema, name in tables:
            query = sql.SQL("SELECT count(*) FROM ONLY {}").format(sql.Identifier(schema, name))
            total += int(conn.execute(query).fetchone()[0])  # type: ignore[index]
        return total


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def code_version() -> str:
    """The checkout's commit, marked when the working tree differs from it."""
    git = ["git", "-C", str(REPO_ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return "unknown (not a git checkout)"
    dirty = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True)
    return head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


def memory_total() -> str:
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return human_bytes(pages * page_size)
    except (ValueError, OSError):
        return "unknown"


class Bench:
    def __init__(self, cluster: EphemeralCluster, work: Path, jobs: int) -> None:
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
        self.dump_file: Path | None = None  # the dump the pg_restore runs load
        self.store_version: tuple[Path, str] | None = None  # the snapshot the restores load

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

    def anonymiser_create(self, op: Operation, jobs: int) -> Measured:
        self.counter += 1
        store, version = self.work / f"store-{self.counter}", f"bench{self.counter}"
        out = self._result_file()
        args = [sys.executable, "-c", CREATE_CHILD, self.source, str(store), version, str(jobs)]
        m = run_measured(self.launcher, [*args, str(out)], out)
        op.size_bytes = tree_bytes(store / DATASET / version)
        if self.store_version is None:
            self.store_version = (store, version)
        else:
            shutil.rmtree(store)
        return m

    def anonymiser_restore(self, op: Operation, jobs: int) -> Measured:
        assert self.store_version is not None
        store, version = self.store_version
        name, dsn = self._fresh_db()
        out = self._result_file()
        args = [sys.executable, "-c", RESTORE_CHILD, dsn, str(store), version, str(jobs)]
        m = run_measured(self.launcher, [*args, str(out)], out)
        self.cluster.drop_database(name)
        return m


Action = Callable[[Operation], Measured]


def build_plan(bench: Bench, jobs: int) -> list[tuple[Operation, Action]]:
    """Every operation of a round, in order: creates first (restores read their output)."""
    dump, restore = "pg_dump -Fc", "pg_restore"
    create, a_restore = "anonymiser create", "anonymiser restore"
    restore_j = f"{restore} -j {jobs}"
    steps: list[tuple[str, str, Action]] = [
        (dump, dump, bench.pg_dump_fc),
        (f"{create} --jobs 1", dump, lambda op: bench.anonymiser_create(op, 1)),
        (f"{create} --jobs {jobs}", dump, lambda op: bench.anonymiser_create(op, jobs)),
        (restore, restore, lambda op: bench.pg_restore_into(op, 1)),
        (
            f"{restore} --single-transaction",
            restore,
            lambda op: bench.pg_restore_into(op, 1, single=True),
        ),
        (restore_j, restore, lambda op: bench.pg_restore_into(op, jobs)),
        (f"{restore} + ANALYZE", restore, lambda op: bench.pg_restore_into(op, 1, analyze=True)),
        (f"{a_restore} --jobs 1", restore, lambda op: bench.anonymiser_restore(op, 1)),
        (f"{a_restore} --jobs {jobs}", restore_j, lambda op: bench.anonymiser_restore(op, jobs)),
    ]
    return [(Operation(name, baseline), action) for name, baseline, action in steps]


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
    seconds = time.monotonic() - started
    return source, scale, data_row_count(source), seconds


def render(ops: list[Operation], facts: dict[str, str], rows: int, runs: int) -> str:
    by_name = {op.name: op for op in ops}
    lines = [
        "## anonymiser benchmark",
        "",
        "> **Masking and verification do not exist yet.** `anonymiser create` here is",
        "> keep-only: extract + publish, the mask stage a pass-through (`masking.applied =",
        "> false`), no verify stage. The issue-8 targets for a masked, verified create cannot",
        "> be measured yet.",
        "",
        *[f"- {key}: {value}" for key, value in facts.items()],
        "",
        f"Wall-clock medians of {runs} run(s); ratio = median / median of the baseline "
        "(below 1.00 = faster than it).",
        "",
        "| operation | median s | min-max s | rows/s | ratio | baseline | peak RSS | size |",
        "|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for op in ops:
        median = op.median()
        ratio = median / by_name[op.baseline].median()
        size = human_bytes(op.size_bytes) if op.size_bytes is not None else "-"
        lines.append(
            f"| {op.name} | {median:.2f} | {op.spread()} | {rows / median:,.0f} | {ratio:.2f}x | "
            f"{op.baseline} | {human_bytes(op.peak_rss())} | {size} |"
        )
    lines += [
        "",
        "Per-stage medians (seconds), from the library's own timings; the wall time beyond "
        "the library call is Python starting and importing:",
        "",
    ]
    lines += ["| operation | stages |", "|---|---|"]
    for op in ops:
        stages = op.stage_medians()
        if stages:
            library = statistics.median(m.result["library_seconds"] for m in op.runs)
            parts = [f"{k} {v:.2f}" for k, v in stages.items()]
            parts.append(f"library call {library:.2f}, wall {op.median():.2f}")
            lines.append(f"| {op.name} | {', '.join(parts)} |")
    lines += [
        "",
        "Notes: peak RSS is the largest single process of each operation's process tree "
        f"(measured with {facts['peak RSS by']}), not the PostgreSQL server; pg_restore -j "
        "forks one process per job. anonymiser restore ends with ANALYZE and pg_restore does "
        "not, hence the `pg_restore + ANALYZE` row (psql ANALYZE of the same tables, same "
        "run). anonymiser wall times include the Python interpreter and imports starting "
        "(0.3-0.5 s). "
        "Sizes: the dump file vs every file of the published snapshot version. The cluster "
        "runs with fsync=off, synchronous_commit=off and full_page_writes=off for everyone.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in all (about)")
    parser.add_argument("--runs", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--jobs", type=int, default=2, help="N (>= 2) for pg_restore -j, --jobs")
    parser.add_argument("--output", type=Path, help="also write the Markdown report here")
    parser.add_argument("--workdir", type=Path, help="where dumps and stores go (default: temp)")
    args = parser.parse_args(argv)
    if args.jobs < 2:
        parser.error("--jobs must be 2 or more (jobs=1 is always measured)")
    runs, jobs = max(1, args.runs), args.jobs

    work = Path(tempfile.mkdtemp(prefix="anonymiser-bench-", dir=args.workdir))
    try:
        with EphemeralCluster() as cluster:
            bench = Bench(cluster, work, jobs)
            source, scale, rows, load_seconds = build_source(cluster, args.rows)
            bench.source = source
            with psycopg.connect(source) as conn:
                server = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
                db_bytes = int(
                    conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
                )
            log(f"{rows:,} rows loaded in {load_seconds:.1f}s; database {human_bytes(db_bytes)}")
            plan = build_plan(bench, jobs)
            for round_number in range(1, runs + 1):
                for op, action in plan:
                    measured = action(op)
                    op.runs.append(measured)
                    log(f"round {round_number}/{runs}: {op.name}: {measured.seconds:.2f}s, "
                        f"peak RSS {human_bytes(measured.peak_rss_bytes)}")  # fmt: skip
            ops = [op for op, _ in plan]
            facts = {
                "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "rows": f"{rows:,} (demo scale {scale}; generated in {load_seconds:.1f}s; "
                f"database {human_bytes(db_bytes)})",
                "machine": f"{os.cpu_count()} CPUs ({cpu_model()}), {memory_total()} RAM, "
                f"{platform.system()} {platform.release()}",
                "PostgreSQL": f"{server} (server, pg_dump and pg_restore)",
                "Python": f"{platform.python_version()}; anonymiser {__version__}; "
                f"pyarrow {_version('pyarrow')}; psycopg {_version('psycopg')}",
                "code": code_version(),
                "jobs": str(jobs),
                "peak RSS by": bench.rss_method,
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = render(ops, facts, rows, runs)
    print(report)
    if args.output:
        args.output.write_text(report)
    return 0


def _version(module: str) -> str:
    try:
        return str(__import__(module).__version__)
    except (ImportError, AttributeError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
