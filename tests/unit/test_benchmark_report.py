"""The throughput benchmark's rule variants, row-count parsing and target verdicts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from anonymiser.rules import load_rules

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench  # noqa: E402  (a script folder, not a package)
from measure import Measured, Operation  # noqa: E402

DEMO_RULES = BENCHMARKS.parent / "rules"


@pytest.mark.parametrize(
    ("text", "rows"), [("1M", 1_000_000), ("200k", 200_000), ("2.5M", 2_500_000), ("5000", 5000)]
)
def test_scale_accepts_row_counts_with_suffixes(text: str, rows: int) -> None:
    assert bench.parse_rows(text) == rows


def test_scale_refuses_anything_else() -> None:
    with pytest.raises(Exception, match="row count"):
        bench.parse_rows("lots")


def test_keep_only_rules_cover_the_demo_tables_and_mask_nothing(tmp_path: Path) -> None:
    folder = bench.write_rules(DEMO_RULES, tmp_path / "keep", lambda _: bench.KEEP)
    demo, keep = load_rules(DEMO_RULES), load_rules(folder)
    assert not keep.problems
    assert set(keep.tables) == set(demo.tables)
    for name, table in keep.tables.items():
        assert set(table.columns) == set(demo.tables[name].columns)
        assert {rule.strategy for rule in table.columns.values()} == {"keep"}


def test_skip_presidio_redacts_only_the_presidio_columns(tmp_path: Path) -> None:
    folder = bench.write_rules(DEMO_RULES, tmp_path / "np", bench.without_presidio)
    demo, variant = load_rules(DEMO_RULES), load_rules(folder)
    assert not variant.problems
    for name, table in demo.tables.items():
        for column, rule in table.columns.items():
            changed = variant.tables[name].columns[column]
            expected = "redact" if rule.strategy == "presidio" else rule.strategy
            assert changed.strategy == expected, f"{name}.{column}"


def _op(
    name: str, baseline: str, seconds: float, rss: int = 100 << 20, pss: int | None = None
) -> Operation:
    return Operation(name, baseline, runs=[Measured(seconds, rss, peak_pss_bytes=pss)])


def test_targets_compare_with_the_baselines_of_the_same_run() -> None:
    ops = [
        _op("pg_dump -Fc", "pg_dump -Fc", 2.0),
        _op("create, demo rules --jobs 2", "pg_dump -Fc", 3.0),
        _op("pg_restore", "pg_restore", 4.0),
        _op("pg_restore -j 2", "pg_restore", 2.0),
        _op("restore --jobs 1", "pg_restore", 3.0),
        _op(bench.NO_ANALYZE, "pg_restore", 2.0),
        _op("restore --jobs 2", "pg_restore -j 2", 3.0, rss=2 << 30),
    ]
    rates = [("hash [text]", 1.5e6, 2e6), ("fake [text]", 9e5, 5e5)]
    table = "\n".join(bench.render_targets(ops, rates, 2, "create, demo rules"))
    assert "| 1.50x | **not met** |" in table  # create: 3.0 / 2.0
    assert "| 0.75x (--jobs 2 vs -j 2: 1.50x) | met |" in table
    assert "| 2.0 GiB (RSS) | **not met** |" in table
    assert "1 of 2; below: fake [text]" in table


def test_peak_memory_is_judged_on_the_trees_pss_and_shows_its_rss_sum() -> None:
    # a parent and workers sharing pages: their RSS sum counts those pages once per process
    ops = [
        _op("pg_dump -Fc", "pg_dump -Fc", 2.0),
        _op("create, demo rules --jobs 2", "pg_dump -Fc", 3.0, rss=1200 << 20, pss=900 << 20),
        _op("create, keep-only rules --jobs 2", "pg_dump -Fc", 2.0, rss=500 << 20, pss=450 << 20),
    ]
    table = "\n".join(bench.render_targets(ops, None, 2, "create, demo rules"))
    assert "| 900.0 MiB (tree PSS; RSS 1.2 GiB) | met |" in table
    rows = "\n".join(bench.render_operations(ops, 1000, 1, "GNU time"))
    assert "| 1.2 GiB | 900.0 MiB |" in rows


def test_only_restore_plans_the_restores_and_none_of_the_creates() -> None:
    plan = bench.build_plan(_PlanOnly(), 2, bench.parse_only("restore"))
    names = [op.name for op, _ in plan]
    assert names[0] == "pg_restore" and "restore --jobs 2" in names
    assert not [name for name in names if name.startswith(("create", "pg_dump"))]


def test_only_create_brings_its_pg_dump_baseline() -> None:
    assert bench.parse_only("create") == {"create", "dump"}
    assert bench.parse_only(" dump , restore ") == {"dump", "restore"}


@pytest.mark.parametrize("text", ["", "restores", "dump,everything"])
def test_only_refuses_unknown_groups(text: str) -> None:
    with pytest.raises(Exception, match="comma-separated list of dump, create"):
        bench.parse_only(text)


def test_targets_of_operations_not_run_say_so() -> None:
    ops = [
        _op("pg_restore", "pg_restore", 4.0),
        _op("pg_restore -j 2", "pg_restore", 2.0),
        _op("restore --jobs 1", "pg_restore", 3.0),
        _op(bench.NO_ANALYZE, "pg_restore", 2.0),
        _op("restore --jobs 2", "pg_restore -j 2", 3.0),
    ]
    table = "\n".join(bench.render_targets(ops, None, 2, "create, demo rules"))
    assert "| 0.75x (--jobs 2 vs -j 2: 1.50x) | met |" in table
    assert "pg_dump -Fc | - | not measured (--only) |" in table
    assert "values/s (CPU time) | - | not measured (--only) |" in table


class _PlanOnly:
    """Stands in for a Bench: build_plan only reads the label and binds the actions."""

    masked_label = "create, demo rules"

    def __getattr__(self, name: str) -> object:
        return lambda *args, **kwargs: None
