"""Presidio's scanning spread over worker processes for big batches of free text.

The scanner (anonymiser.maskers._scan) is pure Python: however many threads mask at once,
one of them scans at a time (the GIL), and at 1M demo rows scanning is most of a masked
create. Inside `scan_processes(n)`, a batch of at least _MIN_TEXTS texts is cut into chunks
scanned by n worker processes, each with its own scanner, while the calling thread goes on
(with the known values, say). The findings are the same: the same code scans each text.

Workers start from a fork server, so none inherits the threads of the process masking. The
server has built the default Presidio engine (anonymiser.maskers._scanpreload) and frozen it
out of the garbage collector, so the workers share its pages instead of each building its
own: a worker costs ~40 MiB of its own memory (~70 MiB when it built its engine). That server
lives as long as the process: once a pool has started it (the mask stage's, say), a later
pool's workers come cheap, and take small batches too (the verify stage's re-scan, which
would otherwise build an engine in this process: ~1.8 s of CPU and ~60 MiB at its side).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

from anonymiser.errors import SnapshotError
from anonymiser.maskers._scan import Finding, scanner

__all__ = ["ScanJob", "scan_processes", "submit_scan"]

log = logging.getLogger(__name__)

# below this many texts a batch is scanned in the calling thread: the round trip would cost
# more than the scan, and small snapshots never start a worker
_MIN_TEXTS = 4096
_CHUNKS_PER_WORKER = 4  # a few chunks each, so a slow one does not leave a worker idle
_WORKER_DIED = (
    "a Presidio worker process died (out of memory?): rerun with --jobs 1 to scan free text "
    "in one process"
)


class ScanJob:
    """Findings of a batch being scanned, in the texts' order; result() waits for them."""

    def __init__(
        self, futures: list[Future[list[list[Finding]]]] | None, done: list[list[Finding]]
    ) -> None:
        self._futures = futures
        self._done = done

    def result(self) -> list[list[Finding]]:
        if self._futures is None:
            return self._done
        try:
            return [findings for future in self._futures for findings in future.result()]
        except BrokenProcessPool as exc:
            raise SnapshotError(_WORKER_DIED) from exc


class _Pool:
    """A process pool started on first use, shut down on close()."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._failed = False
        self._lock = threading.Lock()

    def executor(self, start: bool = True) -> ProcessPoolExecutor | None:
        """The pool's executor; started now only when `start` (else None until it is)."""
        global _server_started
        with self._lock:
            if self._executor is None and not self._failed and start:
                try:
                    context = _context()
                    self._executor = ProcessPoolExecutor(self.workers, mp_context=context)
                    _server_started = context.get_start_method() == "forkserver"
                except (OSError, ValueError) as exc:  # no semaphores, no fork server ...
                    log.warning("free text scanned in one process: %s", exc)
                    self._failed = True
            return self._executor

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None


_active: _Pool | None = None
# a pool of this process has started the fork server (the default engine built in it)
_server_started = False


@contextmanager
def scan_processes(workers: int) -> Iterator[None]:
    """Within it, big batches given to submit_scan() are scanned by `workers` processes
    (none when workers < 2); they stop at its end."""
    global _active
    if workers < 2:
        yield
        return
    pool, previous = _Pool(workers), _active
    _active = pool
    try:
        yield
    finally:
        _active = previous
        pool.close()


def submit_scan(config: tuple[Any, ...], texts: Sequence[str]) -> ScanJob:
    """scanner(*config).scan_many(texts), in worker processes when a pool is on and the
    batch is big or the workers are running already (this process then never builds an
    engine: ~60 MiB and a second or two)."""
    pool = _active
    # a small batch is worth the workers only where they come cheap: forked from a server
    # that has the default engine built already
    cheap = _server_started and config[0] is None
    executor = None if pool is None else pool.executor(start=len(texts) >= _MIN_TEXTS or cheap)
    if pool is None or executor is None:
        return ScanJob(None, scanner(*config).scan_many(texts))
    size = max(1, -(-len(texts) // (pool.workers * _CHUNKS_PER_WORKER)))
    try:
        futures = [
            executor.submit(_scan_chunk, config, list(texts[i : i + size]))
            for i in range(0, len(texts), size)
        ]
    except BrokenProcessPool as exc:
        raise SnapshotError(_WORKER_DIED) from exc
    return ScanJob(futures, [])


def _scan_chunk(config: tuple[Any, ...], texts: list[str]) -> list[list[Finding]]:
    """In a worker: the findings of one chunk, with that worker's own scanner."""
    global _frozen
    scan = scanner(*config)
    if not _frozen:
        # the garbage collector's full passes kept walking the engine's objects (Presidio's,
        # spaCy's: ~15 % of the scanning CPU); a worker's own are frozen once built
        gc.freeze()
        _frozen = True
    return scan.scan_many(texts)


_frozen = False  # in a worker: its engine's objects are out of the collector's way


def _context() -> Any:
    """A fork server with the default engine built where the platform has one; else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["anonymiser.maskers._scanpreload"])
    return context
