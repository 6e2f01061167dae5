"""`anonymiser demo`: throwaway PostgreSQL + demo data -> snapshot -> restore -> report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import psycopg
from psycopg import sql

from anonymiser.config import throwaway_key
from anonymiser.manifest import Manifest
from anonymiser.pg.ephemeral import EphemeralCluster
from anonymiser.snapshot import create_snapshot, restore_snapshot
from anonymiser.stages.restore import RestoreReport

__all__ = ["DemoReport", "demo_rules_dir", "demo_sql", "load_demo", "run_demo"]


def demo_sql(scale: int) -> str:
    """The demo schema and data script at `scale` (1 is a few thousand rows)."""
    text = files("anonymiser.demo").joinpath("schema.sql").read_text()
    return text.replace(":scale", str(int(scale)))


def demo_rules_dir() -> Path:
    """The masking rules for the demo schema (the repository's rules/, shipped in the package)."""
    return Path(str(files("anonymiser.demo").joinpath("rules")))


def load_demo(dsn: str, scale: int = 1) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(demo_sql(scale).encode())


@dataclass
class DemoReport:
    manifest: Manifest
    restore: RestoreReport
    store: str
    rules_dir: Path
    seconds: dict[str, float] = field(default_factory=dict)
    row_counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # source, restored


def _counts(dsn: str, tables: list[tuple[str, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    with psycopg.connect(dsn) as conn:
        for schema, name in tables:
            query = sql.SQL("SELECT count(*) FROM ONLY {}").format(sql.Identifier(schema, name))
            row = conn.execute(query).fetchone()
            counts[f"{schema}.{name}"] = int(row[0]) if row else 0
    return counts


def run_demo(
    store: Path, scale: int = 1, jobs: int = 2, rules_dir: Path | None = None
) -> DemoReport:
    """Masked with `rules_dir` (default: the demo rules) under a throwaway key, never kept."""
    seconds: dict[str, float] = {}
    rules_dir = rules_dir or demo_rules_dir()
    with EphemeralCluster() as cluster:
        started = time.monotonic()
        source = cluster.create_database("demo_source")
        load_demo(source, scale)
        seconds["generate"] = time.monotonic() - started
        started = time.monotonic()
        manifest = create_snapshot(
            source, store, "fullset", jobs=jobs, rules_dir=rules_dir, key=throwaway_key()
        )
        seconds["snapshot"] = time.monotonic() - started
        target = cluster.create_database("demo_restored")
        started = time.monotonic()
        restored = restore_snapshot(target, store, "fullset", manifest.version, jobs=jobs)
        seconds["restore"] = time.monotonic() - started
        names = [(t.schema, t.name) for t in manifest.tables]
        before, after = _counts(source, names), _counts(target, names)
    return DemoReport(
        manifest=manifest,
        restore=restored,
        store=str(store),
        rules_dir=rules_dir,
        seconds=seconds,
        row_counts={k: (before[k], after.get(k, -1)) for k in before},
    )
