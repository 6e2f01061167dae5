"""A create's work directory: removed at the end of the run, and by the next run if it died.

The work directory holds the extracted originals (personal data, unmasked) until the run
ends. A run killed outright (SIGKILL, the kernel's out-of-memory killer, a power cut) cannot
remove it; so each directory carries a marker file locked (flock) by its run for as long as
it lives, and every create first removes the directories beside its own whose marker no
process holds. The marker is locked before it gets its name, so a run that is starting is
never mistaken for a dead one; a directory without a marker is left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["MARKER", "WORK_PREFIX", "remove_orphans", "work_directory"]

log = logging.getLogger(__name__)

WORK_PREFIX = "anonymiser-work-"
MARKER = ".in-use"  # locked by the run that owns the directory


def remove_orphans(parent: Path) -> list[Path]:
    """Remove the work directories in `parent` whose run is gone; return them."""
    removed = []
    for candidate in sorted(parent.glob(WORK_PREFIX + "*")):
        try:
            fd = os.open(candidate / MARKER, os.O_RDONLY)
        except OSError:  # no marker (or not ours to read): not known to be dead
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its run holds the lock: alive
            continue
        else:
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
            log.warning("removed %s, left by a create that did not finish", candidate)
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def work_directory(parent: Path | None = None) -> Iterator[Path]:
    """A fresh work directory in `parent` (default: the system temp directory) for one run,
    marked as in use while it runs and removed at its end; dead runs' ones go first."""
    root = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    remove_orphans(root)
    work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=root))
    # locked before it is named MARKER: no other run ever sees the marker unlocked
    fd, name = tempfile.mkstemp(dir=work, prefix=".marker-")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(name, work / MARKER)
        except OSError as exc:  # no locks here (some network file systems): left unmarked
            log.debug("work directory %s not marked: %s", work, exc)
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
        os.close(fd)  # the lock goes with the last descriptor
