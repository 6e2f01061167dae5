"""The terminal Reporter: a live rich progress bar per running table, a line per finished one."""

from __future__ import annotations

from typing import Any

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

from anonymiser.progress.reporter import Reporter, TableProgress
from anonymiser.progress.text import human_bytes, redact

__all__ = ["TerminalReporter"]


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
