"""The `anonymiser` command line: argument parsing and output only; the work is in the library."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from anonymiser import __version__
from anonymiser.config import (
    DEFAULT_STORE,
    ENV_KEY,
    ENV_SOURCE,
    ENV_STORE,
    ENV_TARGET,
    load_key,
    require,
)
from anonymiser.errors import AnonymiserError
from anonymiser.manifest import Manifest

__all__ = ["app", "main"]

app = typer.Typer(
    name="anonymiser",
    help="PostgreSQL -> PII-free versioned Parquet snapshots -> restore into QA, staging, laptops.",
    epilog=(
        "Examples:  anonymiser demo  |  "
        'anonymiser snapshot create fullset --source "host=replica dbname=app" --store ./store  |  '
        'anonymiser snapshot restore fullset --target "host=localhost dbname=qa" --store ./store'
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)
snapshot_app = typer.Typer(
    help="Create, list, inspect and restore snapshots.", no_args_is_help=True
)
app.add_typer(snapshot_app, name="snapshot")
rules_app = typer.Typer(
    help="Check masking rules against a source, or draft them.", no_args_is_help=True
)
app.add_typer(rules_app, name="rules")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

StoreOpt = Annotated[
    str,
    typer.Option(
        "--store", envvar=ENV_STORE, help="Store: a path, file:// URL or s3://bucket/prefix."
    ),
]
VersionOpt = Annotated[
    str | None, typer.Option("--version", help="Snapshot version (default: latest).")
]
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=1, max=64, help="Parallel workers.")]
SigningKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--signing-key-file",
        help="File holding the manifest signing key (default: $ANONYMISER_SIGNING_KEY).",
    ),
]
AllowUnsignedOpt = Annotated[
    bool,
    typer.Option(
        "--allow-unsigned", help="Accept an unsigned or wrongly signed manifest (logged)."
    ),
]


def _signing_key(key_file: Path | None) -> bytes | None:
    from anonymiser.signing import load_signing_key

    return load_signing_key(key_file)


RulesOpt = Annotated[
    Path | None, typer.Option("--rules", help="Masking rules folder (default ./rules).")
]
SourceOpt = Annotated[
    str | None,
    typer.Option("--source", envvar=ENV_SOURCE, help="Source database DSN (read only)."),
]


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"anonymiser {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@snapshot_app.command("create")
def snapshot_create(
    dataset: Annotated[str, typer.Argument(help="Dataset to snapshot, e.g. fullset.")],
    source: Annotated[
        str | None,
        typer.Option("--source", envvar=ENV_SOURCE, help="Source database DSN (read only)."),
    ] = None,
    store: StoreOpt = DEFAULT_STORE,
    version: Annotated[
        str | None, typer.Option("--version", help="Version name (default: UTC timestamp).")
    ] = None,
    datasets: Annotated[
        Path | None,
        typer.Option("--datasets", help="Dataset definitions folder (default ./snapshots)."),
    ] = None,
    jobs: JobsOpt = 1,
    signing_key_file: SigningKeyOpt = None,
    rules: RulesOpt = None,
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help=f"File holding the masking key (else ${ENV_KEY})."),
    ] = None,
) -> None:
    """Snapshot DATASET from --source into --store as a new immutable version, masked.

    Fails closed: every column of every table needs a rule in --rules, and a masking key
    (--key-file or ANONYMISER_KEY) is required; nothing is extracted otherwise.

    Example: anonymiser snapshot create fullset --source "host=db dbname=app" --store ./store
    """
    from anonymiser.snapshot import create_snapshot

    dsn = require(source, flag="--source", env=ENV_SOURCE, what="source database")
    key = load_key(key_file)
    manifest = create_snapshot(
        dsn,
        store,
        dataset,
        version,
        jobs=jobs,
        datasets_dir=datasets,
        rules_dir=rules,
        key=key,
        signing_key=_signing_key(signing_key_file),
    )
    t = manifest.timings
    out.print(
        f"published {manifest.dataset} version {manifest.version} to {escape(store)}: "
        f"{len(manifest.tables)} tables, {manifest.total_rows} rows, "
        f"{_human_bytes(manifest.total_bytes)} "
        f"(extract {t.get('extract', 0):.1f}s, mask {t.get('mask', 0):.1f}s, "
        f"publish {t.get('publish', 0):.1f}s)"
    )
    if not manifest.masking.get("applied"):
        err.print(
            "[bold yellow]warning:[/] this snapshot is NOT masked: "
            f"{escape(manifest.masking.get('note', ''))}"
        )
    if not manifest.signature:
        err.print(
            "[bold yellow]warning:[/] this snapshot is NOT signed (no ANONYMISER_SIGNING_KEY or "
            "--signing-key-file); restores will refuse it unless given --allow-unsigned"
        )


@snapshot_app.command("list")
def snapshot_list(
    dataset: Annotated[str | None, typer.Argument(help="Only this dataset.")] = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """List the complete snapshot versions in a store, oldest first.

    Example: anonymiser snapshot list fullset --store s3://bucket/snapshots
    """
    from anonymiser.snapshot import list_snapshots

    manifests = list_snapshots(store, dataset)
    table = RichTable(
        "dataset", "version", "completed", "tables", "rows", "size", "masked", "signed"
    )
    for m in manifests:
        table.add_row(
            escape(m.dataset),
            escape(m.version),
            m.completed_at,
            str(len(m.tables)),
            str(m.total_rows),
            _human_bytes(m.total_bytes),
            "yes" if m.masking.get("applied") else "NO",
            "yes" if m.signature else "NO",
        )
    if manifests:
        out.print(table)
    else:
        out.print(
            escape(f"no complete snapshots in {store}" + (f" for {dataset}" if dataset else ""))
        )


def _print_manifest(m: Manifest) -> None:
    out.print(f"[bold]{escape(m.dataset)}[/] version [bold]{escape(m.version)}[/]")
    out.print(f"  created {m.created_at}, completed {m.completed_at}, tool {m.tool_version}")
    out.print(f"  source PostgreSQL {m.source.get('server_version', '?')}")
    masked = "yes" if m.masking.get("applied") else "NO - " + m.masking.get("note", "")
    out.print(f"  masked: {escape(masked)}")
    signed = m.signature.get("key_fingerprint")
    out.print(f"  signed: {f'yes, key {signed}' if signed else 'NO'} (not checked by show)")
    table = RichTable("table", "kind", "rows", "files", "size")
    for t in m.tables:
        table.add_row(
            escape(t.qualified), t.kind, str(t.rows), str(len(t.files)), _human_bytes(t.bytes)
        )
    out.print(table)
    out.print(
        f"  {len(m.tables)} tables, {m.total_rows} rows, {_human_bytes(m.total_bytes)}, "
        f"{len(m.sequences)} sequences, {len(m.matviews)} materialized views"
    )


@snapshot_app.command("show")
def snapshot_show(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    version: VersionOpt = None,
    store: StoreOpt = DEFAULT_STORE,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole manifest as JSON.")
    ] = False,
) -> None:
    """Show what a snapshot version holds (default: the latest).

    Example: anonymiser snapshot show fullset --version 20250101T000000Z
    """
    from anonymiser.snapshot import load_manifest

    manifest = load_manifest(store, dataset, version)
    if as_json:
        sys.stdout.write(manifest.to_json().decode())
    else:
        _print_manifest(manifest)


@snapshot_app.command("restore")
def snapshot_restore(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    target: Annotated[
        str | None, typer.Option("--target", envvar=ENV_TARGET, help="Target database DSN.")
    ] = None,
    version: VersionOpt = None,
    store: StoreOpt = DEFAULT_STORE,
    clean: Annotated[
        bool, typer.Option("--clean", help="Replace the snapshot's objects in a non-empty target.")
    ] = False,
    jobs: JobsOpt = 1,
    signing_key_file: SigningKeyOpt = None,
    allow_unsigned: AllowUnsignedOpt = False,
    allow_production: Annotated[
        bool,
        typer.Option(
            "--allow-production",
            help="Restore even into a target the production guard refuses (logged).",
        ),
    ] = False,
    analyze: Annotated[
        bool,
        typer.Option(
            "--analyze/--no-analyze",
            help="ANALYZE the restored tables after the commit (pg_restore does not).",
        ),
    ] = True,
) -> None:
    """Restore a snapshot version into --target, all or nothing (default: the latest version).

    Example: anonymiser snapshot restore fullset --target "host=localhost dbname=qa"
    """
    from anonymiser.snapshot import load_manifest, restore_snapshot

    dsn = require(target, flag="--target", env=ENV_TARGET, what="target database")
    manifest = load_manifest(store, dataset, version)
    report = restore_snapshot(
        dsn,
        store,
        dataset,
        manifest.version,
        clean=clean,
        jobs=jobs,
        signing_key=_signing_key(signing_key_file),
        allow_unsigned=allow_unsigned,
        allow_production=allow_production,
        analyze=analyze,
    )
    s = report.seconds
    out.print(
        escape(
            f"restored {dataset} version {manifest.version}: "
            f"{report.tables} tables, {report.rows} rows "
            f"in {s.get('total', 0):.1f}s (verify {s.get('verify', 0):.1f}s, "
            f"schema {s.get('schema', 0):.1f}s, load {s.get('load', 0):.1f}s, "
            f"constraints {s.get('constraints', 0):.1f}s, finish {s.get('finish', 0):.1f}s, "
            f"analyze {s.get('analyze', 0):.1f}s)"
        )
    )


@snapshot_app.command("verify")
def snapshot_verify(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    version: VersionOpt = None,
    store: StoreOpt = DEFAULT_STORE,
    signing_key_file: SigningKeyOpt = None,
    allow_unsigned: AllowUnsignedOpt = False,
) -> None:
    """Check a version's signature and every file's size and sha256 (default: the latest).

    Example: anonymiser snapshot verify fullset --store s3://bucket/snapshots
    """
    from anonymiser.snapshot import verify_snapshot

    m = verify_snapshot(
        store,
        dataset,
        version,
        signing_key=_signing_key(signing_key_file),
        allow_unsigned=allow_unsigned,
    )
    out.print(
        escape(
            f"verified {m.dataset} version {m.version}: {len(m.all_files())} files, "
            f"{_human_bytes(m.total_bytes)}, "
            f"{'signed' if m.signature else 'UNSIGNED'}; every size and sha256 matches"
        )
    )


@rules_app.command("check")
def rules_check(
    source: SourceOpt = None,
    rules: RulesOpt = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Only the tables of this dataset.")
    ] = None,
    datasets: Annotated[
        Path | None,
        typer.Option("--datasets", help="Dataset definitions folder (default ./snapshots)."),
    ] = None,
) -> None:
    """Lint the masking rules against the source schema: every problem, one line each.

    Exit 1 when any problem is an error (a column without a rule, an unknown table, column
    or strategy, invalid parameters, a strategy that does not fit the type, no reason).

    Example: anonymiser rules check --source "host=db dbname=app" --rules ./rules
    """
    from anonymiser.datasets import load_dataset
    from anonymiser.rules import check_rules

    dsn = require(source, flag="--source", env=ENV_SOURCE, what="source database")
    definition = load_dataset(dataset, datasets) if dataset else None
    result = check_rules(dsn, rules, definition)
    for problem in result.problems:
        (err if problem.is_error else out).print(escape(str(problem)), highlight=False)
    columns = len(result.plan.columns)
    if result.errors:
        err.print(
            f"[bold red]{len(result.errors)} error(s)[/], {len(result.warnings)} warning(s): "
            "snapshot create would refuse to start",
            highlight=False,
        )
        raise typer.Exit(1)
    out.print(f"rules ok: {columns} columns covered, {len(result.warnings)} warning(s)")


@rules_app.command("suggest")
def rules_suggest(
    source: SourceOpt = None,
    sample: Annotated[
        int, typer.Option("--sample", min=0, max=100000, help="Values sampled per column.")
    ] = 200,
    output: Annotated[
        Path, typer.Option("--output", help="Folder for the drafted rule files.")
    ] = Path("rules-draft"),
) -> None:
    """Draft a complete rule set from the source: one file per table, every column covered.

    Columns whose names or sampled values look personal get a masking strategy; the rest
    get `keep` with a reason to review. Existing files in --output are never overwritten.

    Example: anonymiser rules suggest --source "host=db dbname=app" --output ./rules
    """
    from anonymiser.rules.suggest import suggest_rules

    dsn = require(source, flag="--source", env=ENV_SOURCE, what="source database")
    report = suggest_rules(dsn, output, sample=sample)
    out.print(
        escape(
            f"drafted rules for {report.tables} tables, {report.columns} columns "
            f"({report.masked} masked, {report.kept} keep to review) into {output} "
            f"using {report.detector}; review every rule, then run `anonymiser rules check`"
        )
    )


@snapshot_app.command("delete")
def snapshot_delete(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    version: Annotated[str, typer.Option("--version", help="The version to delete.")],
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Delete one published version (its manifest first, so it vanishes at once).

    Example: anonymiser snapshot delete fullset --version 20250101T000000Z
    """
    from anonymiser.snapshot import delete_snapshot

    delete_snapshot(store, dataset, version)
    out.print(escape(f"deleted {dataset} version {version} from {store}"))


@snapshot_app.command("prune")
def snapshot_prune(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    keep: Annotated[int, typer.Option("--keep", min=1, help="Newest versions to keep.")],
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Delete all but the newest --keep complete versions of DATASET.

    Example: anonymiser snapshot prune fullset --keep 3
    """
    from anonymiser.snapshot import prune_snapshots

    deleted = prune_snapshots(store, dataset, keep)
    kept = f"kept the newest {keep}"
    if deleted:
        out.print(
            escape(f"deleted {len(deleted)} versions of {dataset} ({', '.join(deleted)}); {kept}")
        )
    else:
        out.print(escape(f"nothing to delete: {dataset} has at most {keep} versions"))


@app.command("demo")
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
            f"{m.total_rows} rows, {_human_bytes(m.total_bytes)}, "
            f"{report.masked_columns} masked columns"
        )
    )
    out.print(
        f"checks passed: {passed}/{len(report.checks)}; time: generate {s['generate']:.1f}s, "
        f"extract {t.get('extract', 0):.1f}s, mask {t.get('mask', 0):.1f}s, "
        f"publish {t.get('publish', 0):.1f}s, restore {s['restore']:.1f}s, "
        f"checks {s['checks']:.1f}s"
    )
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


def main() -> None:
    """Console entry point: every anonymiser error becomes one line and its exit code."""
    try:
        app()
    except AnonymiserError as exc:
        for line in getattr(exc, "details", []):
            err.print(escape(line), highlight=False)
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug: still one line, unless asked for the traceback
        if os.environ.get("ANONYMISER_DEBUG"):
            traceback.print_exc()
        err.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))} "
            "(set ANONYMISER_DEBUG=1 for the traceback)",
            highlight=False,
        )
        sys.exit(70)


if __name__ == "__main__":
    main()
