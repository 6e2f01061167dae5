"""`anonymiser snapshot ...`: create, list, show, diff, restore, verify, delete and prune."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from anonymiser.cli.options import (
    AllowUnsignedOpt,
    DatasetsOpt,
    JobsOpt,
    RulesOpt,
    SigningKeyOpt,
    StoreOpt,
    VersionOpt,
    err,
    out,
    session_reporter,
    signing_key,
    verification_summary,
)
from anonymiser.config import DEFAULT_STORE, ENV_KEY, ENV_SOURCE, ENV_TARGET, load_key, require
from anonymiser.manifest import Manifest
from anonymiser.progress import human_bytes

__all__ = ["snapshot_app"]

snapshot_app = typer.Typer(
    help="Create, list, inspect and restore snapshots.", no_args_is_help=True
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
    datasets: DatasetsOpt = None,
    jobs: JobsOpt = 1,
    signing_key_file: SigningKeyOpt = None,
    rules: RulesOpt = None,
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help=f"File holding the masking key (else ${ENV_KEY})."),
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", help="Why this snapshot is cut (kept in the manifest).")
    ] = "",
    operator: Annotated[
        str | None,
        typer.Option("--operator", help="Who runs it, for the manifest (default: $USER)."),
    ] = None,
    leak_min_length: Annotated[
        int,
        typer.Option("--leak-min-length", min=1, help="Shortest original the leak check seeks."),
    ] = 6,
    presidio_sample: Annotated[
        int,
        typer.Option(
            "--presidio-sample", min=0, help="Rows re-scanned per free-text column (0: all)."
        ),
    ] = 2000,
    presidio_threshold: Annotated[
        float,
        typer.Option(
            "--presidio-threshold", min=0, max=1, help="Lowest score of a re-scan finding."
        ),
    ] = 0.35,
    presidio_max_findings: Annotated[
        int,
        typer.Option(
            "--presidio-max-findings", min=0, help="Residual findings allowed per column."
        ),
    ] = 0,
) -> None:
    """Snapshot DATASET from --source into --store as a new immutable version, masked.

    Fails closed: every column of every table needs a rule in --rules, and a masking key
    (--key-file or ANONYMISER_KEY) is required; nothing is extracted otherwise. Before
    publishing, every verification check (docs/verification.md) runs on the whole masked
    output; if one fails nothing is published and the exit code is 10.

    Example: anonymiser snapshot create fullset --source "host=db dbname=app" --store ./store
    """
    from anonymiser.snapshot import create_snapshot
    from anonymiser.verify import VerifySettings

    dsn = require(source, flag="--source", env=ENV_SOURCE, what="source database")
    key = load_key(key_file)
    settings = VerifySettings(
        leak_min_length=leak_min_length,
        presidio_sample=presidio_sample,
        presidio_threshold=presidio_threshold,
        presidio_max_findings=presidio_max_findings,
    )
    manifest = create_snapshot(
        dsn,
        store,
        dataset,
        version,
        jobs=jobs,
        datasets_dir=datasets,
        rules_dir=rules,
        key=key,
        signing_key=signing_key(signing_key_file),
        reason=reason,
        operator=operator,
        verification=settings,
        reporter=session_reporter(),
    )
    t = manifest.timings
    out.print(
        f"published {manifest.dataset} version {manifest.version} to {escape(store)}: "
        f"{len(manifest.tables)} tables, {manifest.total_rows} rows, "
        f"{human_bytes(manifest.total_bytes)} "
        f"(extract {t.get('extract', 0):.1f}s, mask {t.get('mask', 0):.1f}s, "
        f"verify {t.get('verify', 0):.1f}s, publish {t.get('publish', 0):.1f}s)"
    )
    out.print(escape(verification_summary(manifest)), highlight=False)
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
            human_bytes(m.total_bytes),
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
    out.print("  " + escape(verification_summary(m)), highlight=False)
    if m.operator:
        who = m.operator.get("name", "?") + (
            f" (CI actor {m.operator['ci_actor']})" if m.operator.get("ci_actor") else ""
        )
        out.print(
            f"  operator: {escape(who)}" + (f"; reason: {escape(m.reason)}" if m.reason else "")
        )
    table = RichTable("table", "kind", "rows", "files", "size")
    for t in m.tables:
        table.add_row(
            escape(t.qualified), t.kind, str(t.rows), str(len(t.files)), human_bytes(t.bytes)
        )
    out.print(table)
    out.print(
        f"  {len(m.tables)} tables, {m.total_rows} rows, {human_bytes(m.total_bytes)}, "
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


@snapshot_app.command("diff")
def snapshot_diff(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    old: Annotated[str, typer.Option("--from", help="The earlier version.")],
    new: Annotated[str, typer.Option("--to", help="The later version.")],
    store: StoreOpt = DEFAULT_STORE,
    fmt: Annotated[str, typer.Option("--format", help="text, md (Markdown) or json.")] = "text",
    signing_key_file: SigningKeyOpt = None,
    allow_unsigned: AllowUnsignedOpt = False,
) -> None:
    """What changed between two versions: rules, schema, row counts, key, tool, definition.

    Example: anonymiser snapshot diff 2025 --from 2024-09-01 --to 2025-09-01 --format md
    """
    from anonymiser.diff import diff_snapshots
    from anonymiser.diff_render import diff_renderer

    render = diff_renderer(fmt)
    diff = diff_snapshots(
        store,
        dataset,
        old,
        new,
        signing_key=signing_key(signing_key_file),
        allow_unsigned=allow_unsigned,
    )
    sys.stdout.write(render(diff))


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
        signing_key=signing_key(signing_key_file),
        allow_unsigned=allow_unsigned,
        allow_production=allow_production,
        reporter=session_reporter(),
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
        signing_key=signing_key(signing_key_file),
        allow_unsigned=allow_unsigned,
        reporter=session_reporter(),
    )
    out.print(
        escape(
            f"verified {m.dataset} version {m.version}: {len(m.all_files())} files, "
            f"{human_bytes(m.total_bytes)}, "
            f"{'signed' if m.signature else 'UNSIGNED'}; every size and sha256 matches"
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
