"""`rules check` as a library call: read the source catalog briefly, then lint the rules."""

from __future__ import annotations

from pathlib import Path

import psycopg

from anonymiser.catalog import Catalog, read_catalog
from anonymiser.config import DEFAULT_RULES_DIR
from anonymiser.datasets import Dataset
from anonymiser.errors import SnapshotError
from anonymiser.pg.connect import connect, first_line
from anonymiser.rules.lint import LintResult, lint
from anonymiser.rules.loader import load_rules

__all__ = ["check_rules", "read_source_catalog"]


def read_source_catalog(source: str) -> Catalog:
    """The source schema, read in its own short read-only transaction (no table is locked)."""
    conn = connect(source, role="source")
    try:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        catalog = read_catalog(conn)
        conn.execute("ROLLBACK")
        return catalog
    except psycopg.Error as exc:
        raise SnapshotError(f"reading the source catalog failed: {first_line(exc)}") from None
    finally:
        conn.close()


def check_rules(
    source: str, rules_dir: Path | None = None, dataset: Dataset | None = None
) -> LintResult:
    """Every problem of the rule set against the live source schema (nothing is extracted)."""
    rules = load_rules(rules_dir or DEFAULT_RULES_DIR)
    return lint(rules, read_source_catalog(source), dataset)
