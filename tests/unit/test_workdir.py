"""Work directories: removed at the end of a run, and by the next run if their run died."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

from anonymiser.workdir import MARKER, WORK_PREFIX, remove_orphans, work_directory

# a run that dies holding its work directory: no finally, no clean-up
DIES = """
import os, sys
from anonymiser.workdir import work_directory
with work_directory(sys.argv[1]) as work:
    (work / "extract").mkdir()
    (work / "extract" / "originals.parquet").write_text("personal data")
    print(work, flush=True)
    os._exit(9)
"""


def test_a_run_s_directory_is_marked_while_it_runs_and_removed_at_its_end(tmp_path: Path) -> None:
    with work_directory(tmp_path) as work:
        assert work.parent == tmp_path and work.name.startswith(WORK_PREFIX)
        assert (work / MARKER).exists()
        assert remove_orphans(tmp_path) == []  # alive: its marker is locked
    assert list(tmp_path.iterdir()) == []


def test_a_dead_run_s_directory_goes_with_the_next_run(tmp_path: Path) -> None:
    died = subprocess.run(
        [sys.executable, "-c", DIES, str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert died.returncode == 9, died.stderr
    left = Path(died.stdout.strip())
    assert (left / "extract" / "originals.parquet").exists()
    with work_directory(tmp_path) as work:
        assert not left.exists()
        assert [p.name for p in tmp_path.iterdir()] == [work.name]


def test_directories_not_known_to_be_dead_are_left(tmp_path: Path) -> None:
    unmarked = tmp_path / f"{WORK_PREFIX}starting"  # no marker yet, or an older version's
    unmarked.mkdir()
    held = tmp_path / f"{WORK_PREFIX}alive"
    held.mkdir()
    (held / MARKER).touch()
    fd = os.open(held / MARKER, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another process's run, alive
        other = tmp_path / "something-else"
        other.mkdir()
        assert remove_orphans(tmp_path) == []
        assert unmarked.exists() and held.exists() and other.exists()
    finally:
        os.close(fd)
    assert remove_orphans(tmp_path) == [held]


def test_each_run_removes_the_dead_runs_before_it(tmp_path: Path) -> None:
    for _ in range(3):
        subprocess.run(
            [sys.executable, "-c", DIES, str(tmp_path)], capture_output=True, check=False
        )
        assert len(list(tmp_path.iterdir())) == 1  # the one that just died
    assert len(remove_orphans(tmp_path)) == 1
    assert list(tmp_path.iterdir()) == []
