"""Fault tests on real components: an S3 server that dies mid-upload, a create killed with
SIGKILL, a restore whose connection is terminated mid-load, and concurrent creates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import boto3
import psycopg
import pytest

from anonymiser.errors import RestoreError, StoreError
from anonymiser.snapshot import create_snapshot, list_snapshots, restore_snapshot
from anonymiser.stages.publish import ABANDONED_AFTER, remove_abandoned
from anonymiser.stores import open_store
from anonymiser.stores.s3 import S3Store
from anonymiser.workdir import WORK_PREFIX
from tests.conftest import (
    TEST_MASKING_KEY,
    MakeDatabase,
    restore_threads_alive,
    s3_environment,
    write_keep_rules,
)
from tests.integration.test_s3_snapshots import load_source, objects, row_counts

CLI = [sys.executable, "-m", "anonymiser.cli"]
MANY_TABLES = """
DO $$ BEGIN
  FOR i IN 1..120 LOOP
    EXECUTE format('CREATE TABLE t%s AS SELECT g AS id, md5(g::text) AS v
                    FROM generate_series(1, 200) g', i);
  END LOOP;
END $$;
"""


def public_tables(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    return int(row[0]) if row else -1


def test_s3_server_stopped_mid_upload_leaves_no_version_and_the_rerun_succeeds(
    make_database: MakeDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.server import ThreadedMotoServer

    source = load_source(make_database("source"))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in s3_environment(f"http://{host}:{port}").items():
        monkeypatch.setenv(name, value)
    boto3.client("s3").create_bucket(Bucket="fault-bucket")
    url = "s3://fault-bucket/snapshots"
    store = S3Store.from_url(url)
    real_put_file = store.put_file
    uploads = 0

    def put_file_then_die(key: str, path: Path) -> tuple[int, str]:
        nonlocal uploads
        uploads += 1
        if uploads == 3:  # schema scripts are up, the data is not
            server.stop()
        return real_put_file(key, path)

    store.put_file = put_file_then_die  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="cannot upload"):
        create_snapshot(source, store, "fullset", "v1", unmasked=True)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()  # the same in-memory buckets come back
    try:
        assert list_snapshots(url, "fullset") == []
        assert any("/runs/" in key for key in objects(url)), "expected the abandoned upload"
        abandoned = open_store(url).list_dir("fullset/v1/runs")
        manifest = create_snapshot(source, url, "fullset", "v1", unmasked=True)
        assert [m.version for m in list_snapshots(url, "fullset")] == ["v1"]
        # the abandoned run was young (it might have been a publish under way): left, unused
        runs = open_store(url).list_dir("fullset/v1/runs")
        assert sorted(runs) == sorted([*abandoned, manifest.run_id])
        # a later publish of the dataset removes it: v1's manifest names another run
        remove_abandoned(open_store(url), "fullset")
        assert open_store(url).list_dir("fullset/v1/runs") == [manifest.run_id]
    finally:
        server.stop()


def test_create_killed_with_sigkill_leaves_no_version_and_the_rerun_succeeds(
    make_database: MakeDatabase, make_s3_store: Callable[..., str], tmp_path: Path
) -> None:
    source = load_source(make_database("source"), MANY_TABLES)
    url = make_s3_store()
    store = open_store(url)
    command = [
        *CLI,
        "snapshot",
        "create",
        "fullset",
        "--source",
        source,
        "--store",
        url,
        "--version",
        "v1",
    ]
    write_keep_rules(source, tmp_path / "rules")  # the CLI masks: keep every column
    scratch = tmp_path / "tmp"  # the runs' work directories (TMPDIR), looked at below
    scratch.mkdir()
    environment = {**os.environ, "ANONYMISER_KEY": TEST_MASKING_KEY, "TMPDIR": str(scratch)}
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment
    )
    deadline = time.monotonic() + 60
    while not store.list_dir("fullset/v1/runs") and time.monotonic() < deadline:
        time.sleep(0.01)  # kill as soon as the upload has started
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert store.list_dir("fullset/v1/runs"), "the kill came too late to test anything"
    assert not store.exists("fullset/v1/manifest.json")
    assert list_snapshots(url, "fullset") == []
    # the killed run's work directory, with the extracted originals, is still there ...
    assert len([p for p in scratch.iterdir() if p.name.startswith(WORK_PREFIX)]) == 1
    rerun = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=environment
    )
    assert rerun.returncode == 0, rerun.stderr
    # ... until the next create removes it (and its own at its end)
    assert not [p for p in scratch.iterdir() if p.name.startswith(WORK_PREFIX)]
    manifest = list_snapshots(url, "fullset")[0]
    assert len(manifest.tables) == 120
    # the killed run is invisible, and gone with the next publish's clean-up
    assert manifest.run_id in store.list_dir("fullset/v1/runs")
    remove_abandoned(store, "fullset")
    assert store.list_dir("fullset/v1/runs") == [manifest.run_id]


def test_restore_connection_terminated_mid_load_leaves_the_target_unchanged(
    make_database: MakeDatabase, target_dsn: str, tmp_path: Path
) -> None:
    source = load_source(
        make_database("source"),
        "CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 8) AS pad "
        "FROM generate_series(1, 400000) g",
    )
    create_snapshot(source, tmp_path / "store", "fullset", "v1", unmasked=True)
    terminated: list[int] = []

    def terminate_the_copy() -> None:
        with psycopg.connect(source, autocommit=True) as conn:
            for _ in range(400):
                row = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND query ILIKE 'COPY%%'",
                    (psycopg.conninfo.conninfo_to_dict(target_dsn)["dbname"],),
                ).fetchone()
                if row and row[0]:
                    terminated.append(1)
                    return
                time.sleep(0.02)

    watcher = threading.Thread(target=terminate_the_copy)
    watcher.start()
    with pytest.raises(RestoreError, match=r"loading table public\.big.*nothing was changed"):
        restore_snapshot(target_dsn, tmp_path / "store", "fullset")
    watcher.join()
    assert terminated, "the COPY was never seen, so never terminated"
    assert public_tables(target_dsn) == 0
    # the caller still holds the failure (pytest keeps its traceback): no reader may linger
    assert not restore_threads_alive(), "a restore reader thread is still running"
    restore_snapshot(target_dsn, tmp_path / "store", "fullset")
    with psycopg.connect(target_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM big").fetchone() == (400000,)


@pytest.mark.parametrize("sources", ["same source", "two sources"])
def test_two_concurrent_creates_of_one_version_publish_exactly_once(
    sources: str,
    make_database: MakeDatabase,
    make_s3_store: Callable[..., str],
    tmp_path: Path,
) -> None:
    first = load_source(make_database("source"))
    second = first if sources == "same source" else load_source(make_database("source"))
    url = make_s3_store()
    write_keep_rules(first, tmp_path / "rules")  # the CLI masks: keep every column
    environment = {**os.environ, "ANONYMISER_KEY": TEST_MASKING_KEY}
    runs = [
        subprocess.Popen(
            [
                *CLI,
                "snapshot",
                "create",
                "fullset",
                "--source",
                dsn,
                "--store",
                url,
                "--version",
                "v1",
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        for dsn in (first, second)
    ]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in runs]
    codes = sorted(code for code, _ in results)
    assert codes[0] == 0 and codes[1] != 0, results
    loser = next(text for code, text in results if code != 0)
    assert any(
        reason in loser
        for reason in ("another `snapshot create fullset`", "already published", "first")
    ), loser
    assert [m.version for m in list_snapshots(url, "fullset")] == ["v1"]
    manifest = list_snapshots(url, "fullset")[0]
    assert open_store(url).list_dir("fullset/v1/runs") == [manifest.run_id]
    assert row_counts(first) == {"customers": 500, "orders": 3000}


def test_a_young_run_without_a_manifest_is_left_to_its_publish_an_old_one_removed(
    make_s3_store: Callable[..., str],
) -> None:
    """Creates from two source servers hold no common lock: one's clean-up must not take the
    upload of the other, whose manifest is not written yet."""
    store = open_store(make_s3_store())
    now = datetime.now(UTC)
    young = f"{now - ABANDONED_AFTER / 2:%Y%m%dT%H%M%SZ}-aaaaaaaa"
    old = f"{now - ABANDONED_AFTER * 2:%Y%m%dT%H%M%SZ}-bbbbbbbb"
    for run in (young, old):
        store.put_bytes(f"fullset/v1/runs/{run}/data/part.parquet", b"x")
    store.put_bytes(f"fullset/v2/runs/{old}/data/part.parquet", b"x")
    removed = remove_abandoned(store, "fullset", now=now)
    assert sorted(removed) == [f"fullset/v1/runs/{old}", "fullset/v2"]
    assert store.list_dir("fullset/v1/runs") == [young]
    assert store.list_dir("fullset") == ["v1"]
    # once it is old too, it goes with its version folder
    assert remove_abandoned(store, "fullset", now=now + ABANDONED_AFTER) == ["fullset/v1"]
    assert store.list_dir("fullset") == []
