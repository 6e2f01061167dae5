"""Progress and structured events: what each stage reports, and how it reaches the operator.

Stages call `reporter()` (a context-local Reporter) as they go: `table_started`,
`advance` per batch, `table_done`, and `stage_done`. The CLI installs the Reporter that fits:
per-table progress bars on a terminal, plain lines when not a terminal, or one JSON object per
event (`--log-format json`) for log pipelines. The library's default reports through logging
only. Events carry names and counts, never secrets: DSNs are shown without passwords and the
masking key never leaves the process.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

__all__ = [
    "JsonReporter",
    "PlainReporter",
    "Reporter",
    "TerminalReporter",
    "redact",
    "reporter",
    "using_reporter",
]

log = logging.getLogger("anonymiser")

_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)|(://[^:/@\s]+:)([^@\s]+)(@)", re.IGNORECASE)


def redact(text: str) -> str:
    """Hide passwords in key=value DSNs and in URLs (user:secret@host)."""

    def hide(match: re.Match[str]) -> str:
        if match.group(1):
            return f"{match.group(1)}***"
        return f"{match.group(3)}***{match.group(5)}"

    return _PASSWORD.sub(hide, text)


@dataclass
class Reporter:
    """Base reporter: logs completed tables and stages (the library default)."""

    dataset: str = ""
    version: str = ""
    started: dict[str, float] = field(default_factory=dict)

    def context(self, dataset: str, version: str) -> None:
        self.dataset, self.version = dataset, version

    def event(self, name: str, **fields: Any) -> None:
        log.info("%s %s", name, " ".join(f"{k}={v}" for k, v in fields.items()))

    def table_started(self, stage: str, table: str, rows: int = 0, size: int = 0) -> None:
        self.started[f"{stage}:{table}"] = time.monotonic()

    def advance(self, stage: str, table: str, rows: int, size: int) -> None:
        """rows/size processed since the last call, for progress bars."""

    def table_done(self, stage: str, table: str, rows: int, size: int) -> None:
        began = self.started.pop(f"{stage}:{table}", time.monotonic())
        self.event(
            "table",
            stage=stage,
            table=table,
            rows=rows,
            bytes=size,
            seconds=round(time.monotonic() - began, 3),
        )

    def stage_done(self, stage: str, seconds: float, **fields: Any) -> None:
        self.event("stage", stage=stage, seconds=round(seconds, 3), **fields)

    def close(self) -> None:
        """Flush whatever is on screen."""


@dataclass
class PlainReporter(Reporter):
    """One line per finished table or stage, for logs that are not a terminal."""

    stream: TextIO = field(default_factory=lambda: sys.stderr)

    def event(self, name: str, **fields: Any) -> None:
        detail = " ".join(f"{k}={v}" for k, v in fields.items())
        self.stream.write(redact(f"{name} {detail}") + "\n")
        self.stream.flush()


@dataclass
class JsonReporter(Reporter):
    """One JSON object per event per line: dataset, version, stage, table, rows, bytes, seconds."""

    stream: TextIO = field(default_factory=lambda: sys.stderr)

    def event(self, name: str, **fields: Any) -> None:
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "event": name,
            "dataset": self.dataset,
            "version": self.version,
            **fields,
        }
        self.stream.write(redact(json.dumps(record, default=str)) + "\n")
        self.stream.flush()


@dataclass
class TerminalReporter(Reporter):
    """Per-table progress bars (rows, bytes, rate, ETA) on an interactive terminal."""

    console: Console = field(default_factory=lambda: Console(stderr=True))
    _progress: Progress | None = None
    _tasks: dict[str, TaskID] = field(default_factory=dict)

    def _bars(self) -> Progress:
        if self._progress is None:
            self._progress = Progress(
                TextColumn("{task.fields[stage]:>8} {task.description}"),
                BarColumn(),
                TextColumn("{task.fields[rows]:>12,} rows"),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
        return self._progress

    def table_started(self, stage: str, table: str, rows: int = 0, size: int = 0) -> None:
        super().table_started(stage, table, rows, size)
        self._tasks[f"{stage}:{table}"] = self._bars().add_task(
            table, total=size or None, stage=stage, rows=0
        )

    def advance(self, stage: str, table: str, rows: int, size: int) -> None:
        task = self._tasks.get(f"{stage}:{table}")
        if task is not None and self._progress is not None:
            done = self._progress.tasks[self._progress.task_ids.index(task)].fields["rows"]
            self._progress.update(task, advance=size, rows=done + rows)

    def table_done(self, stage: str, table: str, rows: int, size: int) -> None:
        self.started.pop(f"{stage}:{table}", None)
        task = self._tasks.pop(f"{stage}:{table}", None)
        if task is not None and self._progress is not None:
            self._progress.update(task, total=size, completed=size, rows=rows)

    def stage_done(self, stage: str, seconds: float, **fields: Any) -> None:
        detail = " ".join(f"{k}={v}" for k, v in fields.items())
        self.console.print(redact(f"{stage} done in {seconds:.1f}s {detail}"), highlight=False)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


_current: ContextVar[Reporter | None] = ContextVar("anonymiser_reporter", default=None)
_DEFAULT = Reporter()


def reporter() -> Reporter:
    """The reporter of the running command (logging only unless the CLI installed one)."""
    return _current.get() or _DEFAULT


@contextmanager
def using_reporter(chosen: Reporter):  # type: ignore[no-untyped-def]
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        chosen.close()
        _current.reset(token)
