"""Free text scanned in worker processes gives the findings and the masking of one process."""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal

import pytest

from anonymiser.errors import SnapshotError
from anonymiser.maskers import _scanpool
from anonymiser.maskers._engine import analyzer
from anonymiser.maskers._scan import scanner
from anonymiser.maskers._scanpool import scan_processes, submit_scan
from anonymiser.maskers.presidio import DEFAULT_ENTITIES
from tests.unit.maskers.conftest import ctx, run
from tests.unit.maskers.test_presidio_batch import KNOWN, tricky_texts

BIG = 600  # texts: a batch worth the workers here (_MIN_TEXTS lowered to keep tests quick)


@pytest.fixture(autouse=True)
def quick_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_scanpool, "_MIN_TEXTS", BIG // 2)


def test_a_big_batch_scanned_in_processes_has_the_findings_of_one_process() -> None:
    scan = scanner(None, DEFAULT_ENTITIES, 0.35)
    texts = tricky_texts(BIG, seed=21)
    with scan_processes(2):
        job = submit_scan(scan.config, texts)
        assert _scanpool._active is not None and _scanpool._active._executor is not None
        assert job.result() == scan.scan_many(texts)
    assert _scanpool._active is None  # the workers stop with the block


def test_small_batches_and_one_job_never_start_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_scanpool, "_server_started", False)  # as in a fresh process
    scan = scanner(None, DEFAULT_ENTITIES, 0.35)
    texts = tricky_texts(BIG // 4, seed=22)
    with scan_processes(2):
        assert submit_scan(scan.config, texts).result() == scan.scan_many(texts)
        assert _scanpool._active is not None and _scanpool._active._executor is None
    with scan_processes(1):
        assert _scanpool._active is None
        assert submit_scan(scan.config, tricky_texts(BIG, seed=23)).result()


def test_once_the_workers_run_small_batches_go_to_them_and_no_engine_is_built_here() -> None:
    config = (None, DEFAULT_ENTITIES, 0.35)
    texts = tricky_texts(BIG, seed=27)
    expected = scanner(*config).scan_many(texts[:10])
    scanner.cache_clear()
    with scan_processes(2):
        submit_scan(config, texts).result()  # big: the workers start
        assert submit_scan(config, texts[:10]).result() == expected
        assert scanner.cache_info().currsize == 0  # every text was scanned in a worker


@pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods(), reason="no fork server here"
)
def test_a_later_pool_takes_small_batches_from_the_running_fork_server() -> None:
    config = (None, DEFAULT_ENTITIES, 0.35)
    texts = tricky_texts(BIG, seed=28)
    expected = scanner(*config).scan_many(texts[:10])
    scanner.cache_clear()
    with scan_processes(2):  # the mask stage's pool: a big batch starts the fork server
        submit_scan(config, texts).result()
    with scan_processes(2):  # the verify stage's: its re-scan is small
        assert submit_scan(config, texts[:10]).result() == expected
        assert scanner.cache_info().currsize == 0  # scanned in a worker: no engine built here


def test_presidio_masks_the_same_with_worker_processes() -> None:
    texts = tricky_texts(BIG, seed=24)
    alone = run("presidio", {}, texts, context=ctx(known=KNOWN))
    with scan_processes(2):
        assert run("presidio", {}, texts, context=ctx(known=KNOWN)) == alone


def test_a_worker_that_dies_is_a_snapshot_error_naming_the_way_out() -> None:
    scan = scanner(None, DEFAULT_ENTITIES, 0.35)
    texts = tricky_texts(BIG, seed=25)
    with scan_processes(2):
        submit_scan(scan.config, texts).result()  # the workers are up
        pool = _scanpool._active
        assert pool is not None and pool._executor is not None
        for pid in list(pool._executor._processes):
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(SnapshotError, match=r"worker process died.*--jobs 1"):
            submit_scan(scan.config, texts).result()


@pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods(), reason="no fork server here"
)
def test_workers_start_with_the_fork_servers_engine_frozen() -> None:
    scan = scanner(None, DEFAULT_ENTITIES, 0.35)
    texts = tricky_texts(BIG, seed=26)
    with scan_processes(2):
        pool = _scanpool._active
        executor = pool.executor() if pool is not None else None
        assert executor is not None
        # before any chunk: the default engine is there, shared, out of the collector's way
        engines, frozen = executor.submit(_engines_and_frozen).result()
        assert engines == 1 and frozen > 0
        assert submit_scan(scan.config, texts).result() == scan.scan_many(texts)


def _engines_and_frozen() -> tuple[int, int]:
    """In a worker: the engines it holds and the objects frozen out of the collector."""
    return analyzer.cache_info().currsize, gc.get_freeze_count()
