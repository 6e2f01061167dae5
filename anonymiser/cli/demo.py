"""`anonymiser demo`: a throwaway PostgreSQL with demo data, snapshotted, masked and restored."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from anonymiser.cli.options import (
    JobsOpt,
    StoreOpt,
    err,
    out,
    session_reporter,
    verification_summary,
)
from anonymiser.progress import human_bytes

__all__ = ["demo"]


def demo(
    store: StoreOpt = "./demo-store",
    scale: Annotated[
        int, typer.Option("--scale", min=1, max=10000, help="Demo data size multiplier.")
    ] = 1,
    dataset: Annotated[
        str, typer.Option("--dataset", help="Dataset to snapshot (fullset, 2024, pre-2024, 2025).")
    ] = "2024",
    datasets: Annotated[
        Path | None,
        typer.Option("--datasets", help="Dataset definitions folder (default: the project's)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated demo data.")] = 1,
    jobs: JobsOpt = 2,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="Masking rules (default: the demo's own).")
    ] = None,
) -> None:
    """Throwaway PostgreSQL + demo data -> masked 2024 snapshot -> restore into a second DB.

    The snapshot is masked with the demo rules under a throwaway key made for this run, and
    a report of rows, masked columns, checks and time per stage is printed.

    Example: anonymiser demo --scale 10
    """
    from anonymiser.demo import run_demo

    out.print(
        "starting a throwaway PostgreSQL and generating the demo data; masking with a "
        "throwaway key made for this run (not saved) ..."
    )
    report = run_demo(
        Path(store),
        scale=scale,
        jobs=jobs,
        dataset=dataset,
        datasets_dir=datasets,
        seed=seed,
        rules_dir=rules,
        reporter=session_reporter(),
    )
    m = report.manifest
    table = RichTable("table", "source rows", "snapshot rows", "restored rows")
    for name, (source, snap, restored) in sorted(report.row_counts.items()):
        table.add_row(escape(name), str(source), str(snap), str(restored))
    out.print(table)
    s, t = report.seconds, m.timings
    passed = sum(1 for why in report.checks.values() if not why)
    out.print(
        escape(
            f"snapshot {m.dataset}/{m.version} in {report.store}: {len(m.tables)} tables, "
            f"{m.total_rows} rows, {human_bytes(m.total_bytes)}, "
            f"{report.masked_columns} masked columns"
        )
    )
    out.print(
        f"checks passed: {passed}/{len(report.checks)}; time: generate {s['generate']:.1f}s, "
        f"extract {t.get('extract', 0):.1f}s, mask {t.get('mask', 0):.1f}s, "
        f"verify {t.get('verify', 0):.1f}s, publish {t.get('publish', 0):.1f}s, "
        f"restore {s['restore']:.1f}s, "
        f"checks {s['checks']:.1f}s"
    )
    out.print(escape(verification_summary(m)), highlight=False)
    for check, why in report.checks.items():
        if why:
            err.print(f"[bold red]check failed:[/] {escape(check)}: {escape(why)}")
    out.print(
        "[yellow]note:[/] masked with the rules in "
        f"{escape(str(report.rules_dir))} under a throwaway key made for this run "
        f"(fingerprint {m.masking.get('key_fingerprint', '?')}), which was not kept: "
        "its pseudonyms cannot be reproduced. The server was stopped; the snapshot is left "
        "in the store."
    )
    if not report.passed:
        raise typer.Exit(1)
