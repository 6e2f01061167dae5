"""The Reporter stages report to (silent by default), its table progress, the logging bridge."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

__all__ = [
    "NULL_REPORTER",
    "PROGRESS_EVERY",
    "Reporter",
    "ReporterLogHandler",
    "StageRecord",
    "TableProgress",
]

PROGRESS_EVERY = 30.0  # seconds between "progress" lines of one table in plain and json output


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
