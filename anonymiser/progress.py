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
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TextIO, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

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
PROGRESS_EVERY = 30.0  # seconds between "progress" lines of one table in plain and json output

# a quoted key=value password may hold \' (libpq's escape); a URL may have no user name
_PASSWORD = re.compile(
    r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)|(://[^:/@\s]*:)([^@\s]+)(@)", re.IGNORECASE
)


def redact(text: str) -> str:
    """Hide passwords in key=value DSNs and in URLs (user:secret@host)."""

    def hide(match: re.Match[str]) -> str:
        if match.group(1):
            return f"{match.group(1)}***"
        return f"{match.group(3)}***{match.group(5)}"

    return _PASSWORD.sub(hide, text)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class _Batch(Protocol):
    @property
    def num_rows(self) -> int: ...

    @property
    def nbytes(self) -> int: ...


B = TypeVar("B", bound=_Batch)


class StageRecord:
    """Totals of one running stage, summed from its tables."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.started = time.monotonic()
        self.tables = self.rows = self.bytes = 0

    @property
    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 3)


class TableProgress:
    """Progress of one table (or one set of files) in one stage; `advance` from any thread."""

    def __init__(
        self,
        reporter: Reporter,
        stage: str,
        table: str,
        total_rows: int | None,
        total_bytes: int | None,
    ) -> None:
        self.reporter, self.stage, self.table = reporter, stage, table
        self.total_rows = total_rows or None  # 0 or unknown: an indeterminate bar
        self.total_bytes = total_bytes or None
        self.rows = self.bytes = 0
        self.started = self.reported = time.monotonic()
        self.finished = False

    def advance(self, rows: int = 0, size: int = 0) -> None:
        """Count `rows` and `size` bytes more (call once per batch or file)."""
        with self.reporter.lock:
            if self.finished:  # a read-ahead thread may outlive a failed table
                return
            self.rows += rows
            self.bytes += size
        self.reporter.advanced(self)

    def batches(self, batches: Iterable[B]) -> Iterator[B]:
        """Pass Arrow record batches through, counting their rows and bytes."""
        for batch in batches:
            self.advance(batch.num_rows, batch.nbytes)
            yield batch

    def restart(self) -> None:
        """Start counting again (the stage re-reads the table from its beginning)."""
        with self.reporter.lock:
            self.rows = self.bytes = 0

    @property
    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def eta(self) -> float | None:
        """Seconds left at the current rate, when the total is known."""
        done, total = (
            (self.rows, self.total_rows) if self.total_rows else (self.bytes, self.total_bytes)
        )
        elapsed = time.monotonic() - self.started
        if not total or not done or elapsed <= 0:
            return None
        return round(max(0.0, (total - done) * elapsed / done), 1)

    def fields(self) -> dict[str, Any]:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return {
            "stage": self.stage,
            "table": self.table,
            "rows": self.rows,
            "bytes": self.bytes,
            "seconds": self.seconds,
            "rows_per_second": round(self.rows / elapsed),
            "total_rows": self.total_rows,
            "total_bytes": self.total_bytes,
            "eta_seconds": self.eta(),
        }


class Reporter:
    """Shows nothing (the library default); subclasses write `emit`ted events somewhere.

    Events: stage_start, stage_end, stage_failed, table (one table of a stage finished),
    progress (a long table, every PROGRESS_EVERY seconds), log (a logging record), error.
    """

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet  # only log records and errors
        self.dataset = self.version = ""
        self.lock = threading.RLock()
        self._stages: dict[str, StageRecord] = {}

    def context(self, dataset: str, version: str) -> None:
        """Name the snapshot every following event is about."""
        self.dataset, self.version = dataset, version

    @contextmanager
    def stage(self, stage: str, **fields: Any) -> Iterator[StageRecord]:
        """A stage from start to end; its tables' rows and bytes are summed into stage_end."""
        record = StageRecord(stage)
        with self.lock:
            self._stages[stage] = record
        self.emit("stage_start", stage=stage, **fields)
        try:
            yield record
        except BaseException as exc:
            self.emit("stage_failed", stage=stage, seconds=record.seconds, error=type(exc).__name__)
            raise
        finally:
            with self.lock:
                self._stages.pop(stage, None)
        self.emit(
            "stage_end",
            stage=stage,
            tables=record.tables,
            rows=record.rows,
            bytes=record.bytes,
            seconds=record.seconds,
            **fields,
        )

    @contextmanager
    def table_progress(
        self,
        stage: str,
        table: str,
        *,
        total_rows: int | None = None,
        total_bytes: int | None = None,
    ) -> Iterator[TableProgress]:
        """One table of a stage; the total (rows, else bytes) gives a bar and an ETA."""
        progress = TableProgress(self, stage, table, total_rows, total_bytes)
        self.table_started(progress)
        try:
            yield progress
        finally:
            with self.lock:
                progress.finished = True
        with self.lock:
            record = self._stages.get(stage)
            if record is not None:
                record.tables += 1
                record.rows += progress.rows
                record.bytes += progress.bytes
        self.table_finished(progress)

    # -- what subclasses may change ------------------------------------------------------------

    def table_started(self, progress: TableProgress) -> None:
        """A table began (terminal: a new bar)."""

    def advanced(self, progress: TableProgress) -> None:
        """A table moved on; by default a `progress` event now and then."""
        now = time.monotonic()
        with self.lock:
            if now - progress.reported < PROGRESS_EVERY:
                return
            progress.reported = now
        self.emit("progress", **progress.fields())

    def table_finished(self, progress: TableProgress) -> None:
        fields = progress.fields()
        for name in ("total_rows", "total_bytes", "eta_seconds"):
            fields.pop(name)
        self.emit("table", **fields)

    def log(self, level: str, logger: str, message: str) -> None:
        self.emit("log", level=level, logger=logger, message=message)

    def error(
        self,
        message: str,
        *,
        exit_code: int,
        kind: str,
        details: list[str],
        label: str = "error",
    ) -> None:
        """The command failed: one event (JSON), or `label: message` after the details."""
        self.emit(
            "error", error=kind, exit_code=exit_code, message=message, details=details, label=label
        )

    def emit(self, event: str, **fields: Any) -> None:
        """Write one event (the base shows nothing)."""

    def shows(self, event: str) -> bool:
        return not self.quiet or event in ("log", "error")

    def close(self) -> None:
        """Stop whatever is on screen."""


NULL_REPORTER = Reporter()


class _LineReporter(Reporter):
    """Writes one line (or a few, for an error's details) per event to a stream."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        super().__init__(quiet=quiet)
        self.stream = stream or sys.stderr

    def write(self, line: str) -> None:
        with self.lock:
            self.stream.write(line + "\n")
            self.stream.flush()


class PlainReporter(_LineReporter):
    """One line per event, `TIME EVENT key=value ...`, for logs that are not a terminal."""

    def emit(self, event: str, **fields: Any) -> None:
        if not self.shows(event):
            return
        if event == "log":
            line = f"{fields['level']}: {fields['message']}"
        elif event == "error":
            line = "\n".join([*fields["details"], f"{fields['label']}: {fields['message']}"])
        else:
            shown = {"dataset": self.dataset, "version": self.version, **fields}
            detail = " ".join(f"{k}={v}" for k, v in shown.items() if v not in (None, ""))
            line = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {event} {detail}"
        self.write(redact(line))


class JsonReporter(_LineReporter):
    """One JSON object per event per line: time, event, dataset, version, stage, table, rows,
    bytes, seconds, and what the event adds."""

    def emit(self, event: str, **fields: Any) -> None:
        if not self.shows(event):
            return
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "event": event,
            "dataset": self.dataset or None,
            "version": self.version or None,
            "stage": None,
            "table": None,
            **fields,
        }
        record.pop("label", None)
        # redact values, not the JSON text: a password pattern must not eat a closing quote
        self.write(json.dumps(_redacted(record), default=str, ensure_ascii=False))


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


class _CountColumn(ProgressColumn):
    """Rows (or bytes) done of the total, with the rate."""

    def render(self, task: Task) -> Text:
        unit = task.fields["unit"]
        done, total, speed = task.completed, task.total, task.speed
        if unit == "bytes":
            text = human_bytes(done) + (f"/{human_bytes(total)}" if total else "")
            rate = f"{human_bytes(speed)}/s" if speed else ""
        else:
            text = f"{int(done):,}" + (f"/{int(total):,}" if total else "") + " rows"
            rate = f"{speed:,.0f} rows/s" if speed else ""
        size = f"{human_bytes(task.fields['bytes'])}" if unit == "rows" else ""
        return Text(f"{text} {size} {rate}".strip())


class TerminalReporter(Reporter):
    """A live bar per running table (rows or bytes, rate, ETA); a line per finished one."""

    def __init__(self, console: Console | None = None, *, quiet: bool = False) -> None:
        super().__init__(quiet=quiet)
        self.console = console or Console(stderr=True)
        self._bars: Progress | None = None
        self._tasks: dict[int, tuple[TaskID, str]] = {}  # id(progress) -> (bar, unit)

    def _progress(self) -> Progress:
        if self._bars is None:
            self._bars = Progress(
                TextColumn("{task.fields[stage]:>8} {task.description}"),
                BarColumn(),
                _CountColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._bars.start()
        return self._bars

    def table_started(self, progress: TableProgress) -> None:
        if self.quiet:
            return
        unit = "bytes" if progress.total_bytes and not progress.total_rows else "rows"
        with self.lock:
            task = self._progress().add_task(
                progress.table,
                total=progress.total_rows if unit == "rows" else progress.total_bytes,
                stage=progress.stage,
                unit=unit,
                bytes=0,
            )
            self._tasks[id(progress)] = (task, unit)

    def advanced(self, progress: TableProgress) -> None:
        with self.lock:
            found = self._tasks.get(id(progress))
            if found is None or self._bars is None:
                return
            task, unit = found
            done = progress.bytes if unit == "bytes" else progress.rows
            self._bars.update(task, completed=done, bytes=progress.bytes)

    def table_finished(self, progress: TableProgress) -> None:
        with self.lock:
            found = self._tasks.pop(id(progress), None)
            if found is not None and self._bars is not None:
                self._bars.remove_task(found[0])
        super().table_finished(progress)

    def emit(self, event: str, **fields: Any) -> None:
        if not self.shows(event) or event in ("stage_start", "progress"):
            return  # the bars show both
        if event == "log":
            style = "bold red" if fields["level"] in ("error", "critical") else "bold yellow"
            line = f"[{style}]{fields['level']}:[/] " + _escape(fields["message"])
        elif event == "error":
            details = [_escape(d) for d in fields["details"]]
            label = f"[bold red]{fields['label']}:[/] "
            line = "\n".join([*details, label + _escape(fields["message"])])
        elif event == "table":
            line = _escape(
                f"{fields['stage']:>8} {fields['table']}: {fields['rows']:,} rows, "
                f"{human_bytes(fields['bytes'])} in {fields['seconds']:.1f}s"
            )
        else:  # stage_end, stage_failed
            done = "done" if event == "stage_end" else "FAILED"
            counts = (
                f": {fields['tables']} tables, {fields['rows']:,} rows, "
                f"{human_bytes(fields['bytes'])}"
                if event == "stage_end" and fields.get("tables")
                else ""
            )
            line = f"[bold]{_escape(fields['stage'])} {done}[/] in {fields['seconds']:.1f}s{counts}"
        self.console.print(redact(line), highlight=False)

    def close(self) -> None:
        with self.lock:
            if self._bars is not None:
                self._bars.stop()
                self._bars = None


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(str(text))


class ReporterLogHandler(logging.Handler):
    """Sends logging records (warnings of the library, of boto3, ...) through the reporter."""

    def __init__(self, reporter: Reporter, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.reporter = reporter

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.levelno >= logging.ERROR:
                message += f" ({record.exc_info[0].__name__ if record.exc_info[0] else ''})"
            self.reporter.log(record.levelname.lower(), record.name, message)
        except Exception:  # logging must never break the command
            self.handleError(record)


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
