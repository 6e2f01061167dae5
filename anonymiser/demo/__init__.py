"""`anonymiser demo`: throwaway PostgreSQL + demo data -> 2024 snapshot -> restore -> report.

The demo data (schema.sql) is a UK teacher training service, generated at any scale; its
tables are described in docs/datasets.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import psycopg
from psycopg import sql

from anonymiser.catalog import qualified_name
from anonymiser.config import throwaway_key
from anonymiser.errors import ConfigError
from anonymiser.manifest import Manifest
from anonymiser.pg.ephemeral import EphemeralCluster
from anonymiser.progress import NULL_REPORTER, Reporter
from anonymiser.signing import load_signing_key
from anonymiser.snapshot import create_snapshot, restore_snapshot
from anonymiser.stages.restore import RestoreReport
from anonymiser.subset.closure import dangling_references

__all__ = [
    "DEMO_DATASET",
    "DemoReport",
    "default_datasets_dir",
    "demo_rules_dir",
    "demo_sql",
    "load_demo",
    "run_demo",
]


def demo_sql(scale: int, seed: int = 1) -> str:
    """The demo schema and data script at `scale` (1 is about 3,000 rows), deterministic by seed."""
    text = files("anonymiser.demo").joinpath("schema.sql").read_text()
    return text.replace(":scale", str(int(scale))).replace(":seed", str(int(seed)))


def demo_rules_dir() -> Path:
    """The masking rules for the demo schema (the repository's rules/, shipped in the package)."""
    return Path(str(files("anonymiser.demo").joinpath("rules")))


def load_demo(dsn: str, scale: int = 1, seed: int = 1) -> None:
    """Create the demo schema and data (docs/datasets.md) in the empty database `dsn`."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(demo_sql(scale, seed).encode())


DEMO_DATASET = "2024"


def default_datasets_dir() -> Path:
    """./snapshots when it defines the demo dataset, else the project's own snapshots/."""
    here = Path("snapshots")
    if (here / f"{DEMO_DATASET}.yaml").is_file():
        return here
    project = Path(__file__).resolve().parents[2] / "snapshots"
    if (project / f"{DEMO_DATASET}.yaml").is_file():
        return project
    raise ConfigError(
        f"cannot find the dataset definition {DEMO_DATASET}.yaml: run the demo from the "
        "project folder or pass --datasets DIR"
    )


@dataclass
class DemoReport:
    manifest: Manifest
    restore: RestoreReport
    store: str
    rules_dir: Path
    seconds: dict[str, float] = field(default_factory=dict)
    # per table: rows in the source, in the snapshot, in the restored database
    row_counts: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)  # check -> "" if passed, else why

    @property
    def masked_columns(self) -> int:
        masked = self.manifest.masking.get("masked_columns", 0)
        return len(masked) if isinstance(masked, list | dict) else int(masked or 0)

    @property
    def passed(self) -> bool:
        return not any(self.checks.values())


def _counts(dsn: str, tables: list[tuple[str, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    with psycopg.connect(dsn) as conn:
        for schema, name in tables:
            query = sql.SQL("SELECT count(*) FROM ONLY {}").format(sql.Identifier(schema, name))
            row = conn.execute(query).fetchone()
            counts[qualified_name(schema, name)] = int(row[0]) if row else 0
    return counts


def _checks(report: DemoReport, target: str) -> dict[str, str]:
    rows = report.row_counts
    unequal = [name for name, (_, snap, restored) in rows.items() if snap != restored]
    larger = [name for name, (source, snap, _) in rows.items() if snap > source]
    with psycopg.connect(target) as conn:
        dangling = dangling_references(conn, report.manifest.get_catalog())
    verification = report.manifest.verification
    failed = [c for c in verification.get("checks", []) if c["failures"]]
    return {
        # create_snapshot refuses to publish a snapshot failing these; recorded in the manifest
        f"{len(verification.get('checks', []))} verification checks before publish": "; ".join(
            f"{c['name']} {c['table']}.{c['column']}" for c in failed
        )
        if verification
        else "no verification recorded",
        "restored rows equal the snapshot's": ", ".join(unequal),
        "snapshot rows are a subset of the source": ", ".join(larger),
        "every foreign key resolves in the restored database": "; ".join(dangling),
    }


def run_demo(
    store: Path,
    scale: int = 1,
    jobs: int = 2,
    *,
    dataset: str = DEMO_DATASET,
    datasets_dir: Path | None = None,
    seed: int = 1,
    rules_dir: Path | None = None,
    reporter: Reporter = NULL_REPORTER,
) -> DemoReport:
    """Throwaway server + demo data -> `dataset` snapshot in `store` -> restore -> checks.

    Masked with `rules_dir` (default: the demo rules) under a throwaway key, never kept.
    """
    datasets_dir = datasets_dir or default_datasets_dir()
    seconds: dict[str, float] = {}
    rules_dir = rules_dir or demo_rules_dir()
    with EphemeralCluster() as cluster:
        started = time.monotonic()
        source = cluster.create_database("demo_source")
        load_demo(source, scale, seed)
        seconds["generate"] = time.monotonic() - started
        started = time.monotonic()
        # without a configured key, a one-off key signs and checks this demo's own snapshot
        key = load_signing_key() or throwaway_key()
        manifest = create_snapshot(
            source,
            store,
            dataset,
            jobs=jobs,
            datasets_dir=datasets_dir,
            rules_dir=rules_dir,
            key=throwaway_key(),
            signing_key=key,
            reporter=reporter,
        )
        seconds["snapshot"] = time.monotonic() - started
        target = cluster.create_database("demo_restored")
        started = time.monotonic()
        restored = restore_snapshot(
            target,
            store,
            dataset,
            manifest.version,
            jobs=jobs,
            signing_key=key,
            reporter=reporter,
        )
        seconds["restore"] = time.monotonic() - started
        started = time.monotonic()
        names = [(t.schema, t.name) for t in manifest.tables]
        before, after = _counts(source, names), _counts(target, names)
        report = DemoReport(
            manifest=manifest,
            restore=restored,
            store=str(store),
            rules_dir=rules_dir,
            seconds=seconds,
            row_counts={
                t.qualified: (before[t.qualified], t.rows, after.get(t.qualified, -1))
                for t in manifest.tables
            },
        )
        report.checks = _checks(report, target)
        seconds["checks"] = time.monotonic() - started
    return report
