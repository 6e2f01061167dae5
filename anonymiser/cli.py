"""The `anonymiser` command line: argument parsing and output only; the work is in the library."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

# typer's completion pieces, for completion flags that take the shell by name
from typer._completion_classes import completion_init
from typer._completion_shared import Shells
from typer.completion import install_callback, show_callback
from typer.exceptions import TyperException

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
from anonymiser.errors import AnonymiserError, ConfigError
from anonymiser.manifest import Manifest
from anonymiser.progress import (
    Reporter,
    ReporterLogHandler,
    human_bytes,
    make_reporter,
)

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
    # typer's own completion flags guess the shell from the parent process, which fails in
    # containers and CI; ours (below, in _root) take the shell by name
    add_completion=False,
)
completion_init()
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

DatasetsOpt = Annotated[
    Path | None,
    typer.Option("--datasets", help="Dataset definitions folder (default ./snapshots)."),
]
OnlyDatasetOpt = Annotated[
    str | None, typer.Option("--dataset", help="Only the tables of this dataset.")
]


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"anonymiser {__version__}")
        raise typer.Exit()


ENV_LOG_FORMAT = "ANONYMISER_LOG_FORMAT"


class LogFormat(StrEnum):
    """--log-format (anonymiser.progress.LOG_FORMATS)."""

    auto = "auto"
    plain = "plain"
    json = "json"


class _Session:
    """The running command's reporter: set by the root options, used by commands and main()."""

    reporter: Reporter | None = None


def _reporter() -> Reporter:
    if _Session.reporter is None:  # an error before the root options were parsed
        _Session.reporter = make_reporter(_requested_format())
    return _Session.reporter


def _requested_format() -> str:
    """--log-format from the command line or the environment, read without click."""
    args = sys.argv[1:]
    for index, arg in enumerate(args):
        if arg.startswith("--log-format="):
            return arg.split("=", 1)[1]
        if arg == "--log-format" and index + 1 < len(args):
            return args[index + 1]
    return os.environ.get(ENV_LOG_FORMAT, "auto")


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format",
            envvar=ENV_LOG_FORMAT,
            help="auto: progress bars on a terminal, plain lines otherwise; json: one JSON "
            "event per line on stderr.",
        ),
    ] = LogFormat.auto,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")] = False,
    install_completion: Annotated[
        Shells | None,
        typer.Option(
            "--install-completion",
            callback=install_callback,
            is_eager=True,
            metavar="SHELL",
            help="Install tab completion for SHELL (bash, zsh, fish, powershell) and exit.",
        ),
    ] = None,
    show_completion: Annotated[
        Shells | None,
        typer.Option(
            "--show-completion",
            callback=show_callback,
            is_eager=True,
            metavar="SHELL",
            help="Print the tab completion script for SHELL and exit.",
        ),
    ] = None,
) -> None:
    chosen = make_reporter(log_format.value, quiet=quiet)
    _Session.reporter = chosen
    ctx.call_on_close(chosen.close)
    # every logging record (ours, boto3's, warnings.warn) goes out in the chosen format
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, ReporterLogHandler):
            root.removeHandler(handler)
    level = logging.INFO if verbose else logging.WARNING
    root.addHandler(ReporterLogHandler(chosen, level))
    root.setLevel(level)
    logging.captureWarnings(True)


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
        signing_key=_signing_key(signing_key_file),
        reason=reason,
        operator=operator,
        verification=settings,
        reporter=_reporter(),
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


def verification_summary(m: Manifest) -> str:
    """One line: how many verification checks of each kind passed (or that there were none)."""
    checks = m.verification.get("checks", [])
    if not m.verification:
        return "verification: none recorded (made before the verification gate)"
    kinds: dict[str, list[int]] = {}
    for check in checks:
        passed = kinds.setdefault(check["name"], [0, 0])
        passed[0] += 0 if check["failures"] else 1
        passed[1] += 1
    verdict = "passed" if m.verification.get("passed") else "FAILED"
    detail = ", ".join(f"{name} {ok}/{total}" for name, (ok, total) in sorted(kinds.items()))
    return f"verification {verdict}: {detail or 'no checks'}"


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
        signing_key=_signing_key(signing_key_file),
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
        signing_key=_signing_key(signing_key_file),
        allow_unsigned=allow_unsigned,
        allow_production=allow_production,
        reporter=_reporter(),
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
        reporter=_reporter(),
    )
    out.print(
        escape(
            f"verified {m.dataset} version {m.version}: {len(m.all_files())} files, "
            f"{human_bytes(m.total_bytes)}, "
            f"{'signed' if m.signature else 'UNSIGNED'}; every size and sha256 matches"
        )
    )


@rules_app.command("check")
def rules_check(
    source: SourceOpt = None,
    rules: RulesOpt = None,
    dataset: OnlyDatasetOpt = None,
    datasets: DatasetsOpt = None,
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


@rules_app.command("audit")
def rules_audit(
    rules: RulesOpt = None,
    source: SourceOpt = None,
    dataset: OnlyDatasetOpt = None,
    datasets: DatasetsOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="md (Markdown) or html.")] = "md",
    output: Annotated[
        Path | None, typer.Option("--output", help="Write the report here (default: stdout).")
    ] = None,
) -> None:
    """Report, one row per column, how each is masked and why, for a compliance reviewer.

    Without --source the report comes from the rule files alone; with it (a read-only
    catalog read) it adds types and key roles, and lists columns lacking rules and rules
    lacking columns. Parameters that look secret are redacted.

    Example: anonymiser rules audit --format html --output audit.html
    """
    from anonymiser.datasets import load_dataset
    from anonymiser.rules.audit import audit_rules
    from anonymiser.rules.audit_render import audit_renderer

    render = audit_renderer(fmt)
    definition = load_dataset(dataset, datasets) if dataset else None
    report = audit_rules(rules, source, definition)
    text = render(report)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the audit report to {output}: {exc.strerror}") from None
    out.print(
        escape(
            f"wrote the audit of {len(report.rows)} columns in {report.tables} tables to "
            f"{output} (rules hash {report.rules_hash[:16]})"
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
        reporter=_reporter(),
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


def main() -> None:
    """Console entry point: every error becomes one line (one JSON event) and its exit code."""
    try:
        code = app(prog_name="anonymiser", standalone_mode=False)
    except TyperException as exc:  # usage errors: exit 2, shown as typer shows them
        if _requested_format() == "json":
            _reporter().error(
                exc.format_message(), exit_code=exc.exit_code, kind=type(exc).__name__, details=[]
            )
        else:
            from typer import rich_utils

            rich_utils.rich_format_error(exc)  # type: ignore[arg-type]
        sys.exit(exc.exit_code)
    except typer.Abort:
        _reporter().error("aborted", exit_code=1, kind="Abort", details=[])
        sys.exit(1)
    except AnonymiserError as exc:
        details = [str(line) for line in getattr(exc, "details", [])]
        _reporter().error(
            str(exc), exit_code=exc.exit_code, kind=type(exc).__name__, details=details
        )
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _reporter().error("interrupted", exit_code=130, kind="KeyboardInterrupt", details=[])
        sys.exit(130)
    except Exception as exc:  # a bug: still one line, unless asked for the traceback
        if os.environ.get("ANONYMISER_DEBUG"):
            traceback.print_exc()
        _reporter().error(
            f"{type(exc).__name__}: {exc} (set ANONYMISER_DEBUG=1 for the traceback)",
            exit_code=70,
            kind="InternalError",
            details=[],
            label="internal error",
        )
        sys.exit(70)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
