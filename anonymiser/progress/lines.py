"""Reporters writing one line per event: plain `TIME EVENT key=value` or one JSON object."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from anonymiser.progress.reporter import Reporter
from anonymiser.progress.text import redact

__all__ = ["JsonReporter", "PlainReporter"]


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
