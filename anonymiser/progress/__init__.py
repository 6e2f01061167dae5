"""Progress and structured events: what each stage reports, and how it reaches the operator.

A stage is handed a Reporter (the default, NULL_REPORTER, shows nothing) and reports through
two context managers, from any thread:

    with reporter.stage("verify"):                     # stage_start / stage_end (or stage_failed)
        with reporter.table_progress("verify", "public.t", total_rows=n) as progress:
            for batch in batches:
                progress.advance(rows=batch.num_rows, size=batch.nbytes)   # per batch, not per row

The CLI picks the Reporter that fits: progress bars on a terminal (TerminalReporter), one line
per event otherwise (PlainReporter), or one JSON object per line (JsonReporter) for log
pipelines. Every line goes through `redact`, so a DSN's password never reaches the output; the
masking and signing keys are never handed to a reporter at all.

reporter.py holds the Reporter and its table progress, lines.py the plain and JSON forms,
terminal.py the bars, text.py the redaction and byte counts they share.
"""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console

from anonymiser.progress.lines import JsonReporter, PlainReporter
from anonymiser.progress.reporter import (
    NULL_REPORTER,
    Reporter,
    ReporterLogHandler,
    StageRecord,
    TableProgress,
)
from anonymiser.progress.terminal import TerminalReporter
from anonymiser.progress.text import human_bytes, redact

__all__ = [
    "LOG_FORMATS",
    "NULL_REPORTER",
    "JsonReporter",
    "PlainReporter",
    "Reporter",
    "ReporterLogHandler",
    "StageRecord",
    "TableProgress",
    "TerminalReporter",
    "human_bytes",
    "make_reporter",
    "redact",
]

LOG_FORMATS = ("auto", "plain", "json")


def make_reporter(
    log_format: str, *, quiet: bool = False, stream: TextIO | None = None
) -> Reporter:
    """The reporter for `--log-format`: auto is bars on a terminal, plain lines otherwise."""
    out = stream or sys.stderr
    if log_format == "json":
        return JsonReporter(out, quiet=quiet)
    if log_format == "auto" and out.isatty():
        return TerminalReporter(Console(file=out), quiet=quiet)
    return PlainReporter(out, quiet=quiet)
