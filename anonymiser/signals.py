"""SIGTERM ends a run as Ctrl-C does: the stack unwinds, so what the run started is undone.

A container being stopped, a scheduler's time limit or `kill` send SIGTERM, whose default
ends the process on the spot: a throwaway cluster (`anonymiser demo`, the benchmark) would
keep running with its files, the scan workers would be left to notice on their own, and a
work directory would wait for the next run to remove it. Raised as an exception in the main
thread instead, it unwinds every `with` and `finally` on the way out. A second SIGTERM while
that runs is ignored, so the clean-up is not cut short (SIGKILL still ends it).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

__all__ = ["Terminated", "terminate_by_exception"]


class Terminated(BaseException):
    """The process was asked to stop (SIGTERM); like KeyboardInterrupt, no Exception."""


def _terminated(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one clean-up at a time
    raise Terminated


def terminate_by_exception() -> None:
    """From now on SIGTERM raises Terminated in the main thread (only it can set handlers;
    elsewhere this does nothing)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)
