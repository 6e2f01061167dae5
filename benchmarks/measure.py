"""Measuring one benchmark operation: a child process's wall time, peak RSS and PSS, result file.

Also the facts about the machine and the code that a benchmark report names.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

__all__ = [
    "Measured",
    "Operation",
    "code_version",
    "cpu_model",
    "data_row_count",
    "human_bytes",
    "memory_total",
    "module_version",
    "rss_launcher",
    "run_measured",
    "tree_bytes",
]

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Measured:
    seconds: float
    peak_rss_bytes: int  # the larger of its largest process's and its tree's sampled sum
    result: dict[str, Any] = field(default_factory=dict)
    # its tree's sampled sum of proportional set sizes (None where /proc/PID/smaps_rollup
    # cannot be read): what the tree holds in RAM, each page counted once
    peak_pss_bytes: int | None = None


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

    def peak_pss(self) -> int | None:
        """The highest tree PSS of its runs; None unless every run measured one."""
        peaks = [m.peak_pss_bytes for m in self.runs]
        return None if not peaks or None in peaks else max(p for p in peaks if p is not None)

    def peak_memory(self) -> int:
        """What the peak-memory target is judged on: the tree's PSS where measured, else RSS."""
        pss = self.peak_pss()
        return self.peak_rss() if pss is None else pss

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
        child = subprocess.Popen(
            [*launcher, rss.name, *args], stdout=subprocess.DEVNULL, stderr=errors, env=env
        )
        tree_peak, pss_peak = _sample_tree(child)
        returncode = child.returncode
        seconds = time.monotonic() - started
        if returncode != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace").strip().splitlines()[-5:]
            raise SystemExit(f"{Path(args[0]).name} failed ({returncode}): {' | '.join(tail)}")
        peak = max(_rss_bytes(int(rss.read().split()[-1])), tree_peak)
    result = json.loads(result_file.read_text()) if result_file else {}
    return Measured(seconds, peak, result, pss_peak)


# Worker processes (Presidio's scanners with --jobs) run beside the main one, so the largest
# process alone understates what a run needs: the resident memory of the whole process tree
# is summed every 0.2 s (Linux /proc). Pages shared after a fork (the workers', with the fork
# server they come from) count once per process in that sum of RSS, so it errs high; the sum
# of PSS (proportional set size: a page shared by n processes counts 1/n in each) counts
# them once, which is what the tree takes from the machine's RAM. PSS also splits library
# pages shared with processes outside the tree, so on a busy machine it errs a little low.
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _sample_tree(child: subprocess.Popen[bytes]) -> tuple[int, int | None]:
    """Wait for `child`; the highest sums of its process tree's RSS and PSS seen (PSS: None
    where smaps_rollup is not readable)."""
    rss_peak, pss_peak = 0, None
    while child.poll() is None:
        if Path("/proc/self/statm").exists():
            rss, pss = _tree_memory(child.pid)
            rss_peak = max(rss_peak, rss)
            if pss is not None:
                pss_peak = max(pss_peak or 0, pss)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=0.2)
    return rss_peak, pss_peak


def _tree_memory(root: int) -> tuple[int, int | None]:
    """Resident and proportional bytes of process `root` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:  # gone meanwhile
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    rss, pss, todo = 0, 0, [root]
    proportional = True
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError):
            process_rss, process_pss = _process_memory(pid)
            rss += process_rss
            if process_pss is None:
                proportional = False
            else:
                pss += process_pss
        todo += children.get(pid, [])
    return rss, pss if proportional else None


def _process_memory(pid: int) -> tuple[int, int | None]:
    """One process's RSS and PSS in bytes (PSS None without a readable smaps_rollup)."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:  # before Linux 4.14, not ours to read, or gone (then statm fails too)
        rollup = ""
    sizes = {}
    for line in rollup.splitlines()[1:]:
        key, _, value = line.partition(":")
        if key in ("Rss", "Pss"):
            sizes[key] = int(value.split()[0]) * 1024  # kB
    if len(sizes) == 2:
        return sizes["Rss"], sizes["Pss"]
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE, None


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


def module_version(module: str) -> str:
    try:
        return str(__import__(module).__version__)
    except (ImportError, AttributeError):
        return "unknown"
