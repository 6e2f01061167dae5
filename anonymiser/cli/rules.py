"""`anonymiser rules ...`: check the masking rules against a source, draft them, audit them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from anonymiser.cli.options import DatasetsOpt, OnlyDatasetOpt, RulesOpt, SourceOpt, err, out
from anonymiser.config import ENV_SOURCE, require
from anonymiser.errors import ConfigError

__all__ = ["rules_app"]

rules_app = typer.Typer(
    help="Check masking rules against a source, or draft them.", no_args_is_help=True
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
