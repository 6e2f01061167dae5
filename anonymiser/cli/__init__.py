"""The `anonymiser` command line: argument parsing and output only; the work is in the library.

Here: the application, its root options and main() (every error one line and an exit code);
the commands in snapshot, rules and demo; what they share in options.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Annotated

import typer

# typer's completion pieces, for completion flags that take the shell by name
from typer._completion_classes import completion_init
from typer._completion_shared import Shells
from typer.completion import install_callback, show_callback
from typer.exceptions import TyperException

from anonymiser import __version__
from anonymiser.cli.demo import demo
from anonymiser.cli.options import (
    ENV_LOG_FORMAT,
    LogFormat,
    Session,
    out,
    requested_format,
    session_reporter,
)
from anonymiser.cli.rules import rules_app
from anonymiser.cli.snapshot import snapshot_app
from anonymiser.errors import AnonymiserError
from anonymiser.progress import ReporterLogHandler, make_reporter
from anonymiser.signals import Terminated, terminate_by_exception

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
app.add_typer(snapshot_app, name="snapshot")
app.add_typer(rules_app, name="rules")


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"anonymiser {__version__}")
        raise typer.Exit()


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
    Session.reporter = chosen
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


app.command("demo")(demo)


def main() -> None:
    """Console entry point: every error becomes one line (one JSON event) and its exit code."""
    terminate_by_exception()
    try:
        code = app(prog_name="anonymiser", standalone_mode=False)
    except TyperException as exc:  # usage errors: exit 2, shown as typer shows them
        if requested_format() == "json":
            session_reporter().error(
                exc.format_message(), exit_code=exc.exit_code, kind=type(exc).__name__, details=[]
            )
        else:
            from typer import rich_utils

            rich_utils.rich_format_error(exc)  # type: ignore[arg-type]
        sys.exit(exc.exit_code)
    except typer.Abort:
        session_reporter().error("aborted", exit_code=1, kind="Abort", details=[])
        sys.exit(1)
    except AnonymiserError as exc:
        details = [str(line) for line in getattr(exc, "details", [])]
        session_reporter().error(
            str(exc), exit_code=exc.exit_code, kind=type(exc).__name__, details=details
        )
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        session_reporter().error("interrupted", exit_code=130, kind="KeyboardInterrupt", details=[])
        sys.exit(130)
    except Terminated:  # what the run started is undone on the way here
        session_reporter().error(
            "terminated (SIGTERM)", exit_code=143, kind="Terminated", details=[]
        )
        sys.exit(143)
    except Exception as exc:  # a bug: still one line, unless asked for the traceback
        if os.environ.get("ANONYMISER_DEBUG"):
            traceback.print_exc()
        session_reporter().error(
            f"{type(exc).__name__}: {exc} (set ANONYMISER_DEBUG=1 for the traceback)",
            exit_code=70,
            kind="InternalError",
            details=[],
            label="internal error",
        )
        sys.exit(70)
    sys.exit(code if isinstance(code, int) else 0)
