"""SIGTERM unwinds the main thread as Ctrl-C does, and a second one does not cut that short."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from anonymiser.parallel import in_threads
    from anonymiser.signals import Terminated, terminate_by_exception

    marker = Path(sys.argv[1])
    terminate_by_exception()

    def work(item):
        (marker.parent / f"started-{item}").touch()
        time.sleep(1.0)

    try:
        try:
            print("ready", flush=True)
            in_threads(work, range(6), 2)  # interrupted in the first two
        finally:
            time.sleep(0.5)  # the clean-up, during which a second SIGTERM comes
            marker.write_text("cleaned up")
    except Terminated:
        sys.exit(143)
    """
)


def test_sigterm_unwinds_the_run_and_a_second_one_waits_for_its_clean_up(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(marker)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    child.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    child.send_signal(signal.SIGTERM)  # during the clean-up: ignored
    assert child.wait(timeout=30) == 143
    assert marker.read_text() == "cleaned up"
    # the two items running finished; the four waiting were dropped, not run
    assert sorted(p.name for p in tmp_path.glob("started-*")) == ["started-0", "started-1"]
