"""Snapshots in S3 (moto's HTTP server): immutable atomic publish, retention, signatures,
integrity checks that name the file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import boto3
import psycopg
import pytest

from anonymiser.errors import IntegrityError, NotFound, StoreError
from anonymiser.manifest import Manifest
from anonymiser.snapshot import (
    create_snapshot,
    delete_snapshot,
    list_snapshots,
    prune_snapshots,
    restore_snapshot,
    verify_snapshot,
)
from anonymiser.stores import open_store
from tests.conftest import MakeDatabase

SCHEMA = """
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL)
    WITH (autovacuum_enabled = off);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers,
                     total numeric(10, 2)) WITH (autovacuum_enabled = off);
INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 500) g;
INSERT INTO orders (customer_id, total) SELECT 1 + g % 500, g / 7.0 FROM generate_series(1, 3000) g;
"""


def load_source(dsn: str, script: str = SCHEMA) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(script)  # type: ignore[arg-type]
    return dsn


def row_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {
            t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[index]
            for t in ("customers", "orders")
        }


def objects(url: str) -> list[str]:
    """Every key in the bucket of an s3:// URL."""
    bucket = url.split("/")[2]
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


@pytest.fixture
def source(make_database: MakeDatabase) -> str:
    return load_source(make_database("source"))


@pytest.fixture
def s3_url(make_s3_store: Callable[..., str]) -> str:
    return make_s3_store()


def test_round_trip_through_s3_is_signed_and_lives_in_one_run_folder(
    source: str, s3_url: str, target_dsn: str
) -> None:
    manifest = create_snapshot(source, s3_url, "fullset", "v1", unmasked=True)
    assert manifest.signature["algorithm"] == "hmac-sha256"
    assert manifest.run_id and all(
        f.path.startswith(f"runs/{manifest.run_id}/") for f in manifest.all_files()
    )
    keys = objects(s3_url)
    assert "snapshots/fullset/v1/manifest.json" in keys
    assert set(keys) == {"snapshots/fullset/v1/manifest.json"} | {
        f"snapshots/fullset/v1/{f.path}" for f in manifest.all_files()
    }
    assert [m.version for m in list_snapshots(s3_url, "fullset")] == ["v1"]
    restore_snapshot(target_dsn, s3_url, "fullset")
    assert row_counts(target_dsn) == row_counts(source) == {"customers": 500, "orders": 3000}


def test_a_flipped_byte_in_a_parquet_file_in_s3_is_refused_and_named(
    source: str, s3_url: str, target_dsn: str
) -> None:
    manifest = create_snapshot(source, s3_url, "fullset", "v1", unmasked=True)
    victim = next(f for t in manifest.tables if t.name == "orders" for f in t.files)
    bucket, key = s3_url.split("/")[2], f"snapshots/fullset/v1/{victim.path}"
    client = boto3.client("s3")
    data = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0x01
    client.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    with pytest.raises(IntegrityError, match=victim.path.replace(".", r"\.")):
        verify_snapshot(s3_url, "fullset", "v1")
    with pytest.raises(IntegrityError, match=victim.path.replace(".", r"\.")):
        restore_snapshot(target_dsn, s3_url, "fullset", "v1")
    with psycopg.connect(target_dsn) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone() == (0,)


def test_a_published_version_is_never_overwritten(source: str, s3_url: str) -> None:
    first = create_snapshot(source, s3_url, "fullset", "v1", unmasked=True)
    stored = open_store(s3_url).get_bytes("fullset/v1/manifest.json")
    with pytest.raises(StoreError, match="immutable"):
        create_snapshot(source, s3_url, "fullset", "v1", unmasked=True)
    assert open_store(s3_url).get_bytes("fullset/v1/manifest.json") == stored
    assert Manifest.from_json(stored, where="test").run_id == first.run_id


def test_the_next_publish_removes_what_interrupted_publishes_left(source: str, s3_url: str) -> None:
    create_snapshot(source, s3_url, "fullset", "v1", unmasked=True)
    store = open_store(s3_url)
    store.put_bytes("fullset/v2-died/runs/20250101T000000Z-dead/data/x.parquet", b"half")
    store.put_bytes("fullset/v1/runs/20250101T000000Z-loser/data/x.parquet", b"lost race")
    assert [m.version for m in list_snapshots(s3_url, "fullset")] == ["v1"]  # invisible
    create_snapshot(source, s3_url, "fullset", "v3", unmasked=True)
    assert store.list_dir("fullset") == ["v1", "v3"]
    assert len(store.list_dir("fullset/v1/runs")) == 1
    verify_snapshot(s3_url, "fullset", "v1")


def test_delete_and_prune_remove_whole_versions_oldest_first(source: str, s3_url: str) -> None:
    for version in ("v1", "v2", "v3", "v4"):
        create_snapshot(source, s3_url, "fullset", version, unmasked=True)
    assert prune_snapshots(s3_url, "fullset", keep=2) == ["v1", "v2"]
    assert [m.version for m in list_snapshots(s3_url, "fullset")] == ["v3", "v4"]
    assert not any(
        k.startswith(("snapshots/fullset/v1/", "snapshots/fullset/v2/")) for k in objects(s3_url)
    )
    delete_snapshot(s3_url, "fullset", "v3")
    assert [m.version for m in list_snapshots(s3_url, "fullset")] == ["v4"]
    with pytest.raises(NotFound, match="v3"):
        delete_snapshot(s3_url, "fullset", "v3")
    assert prune_snapshots(s3_url, "fullset", keep=1) == []


def test_unsigned_snapshots_are_refused_unless_allowed(
    source: str,
    s3_url: str,
    target_dsn: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("ANONYMISER_SIGNING_KEY")
    manifest = create_snapshot(source, s3_url, "fullset", "v1", unmasked=True)
    assert manifest.signature == {}
    monkeypatch.setenv("ANONYMISER_SIGNING_KEY", "the-consumers-key-0123456789")
    with pytest.raises(IntegrityError, match=r"not signed.*--allow-unsigned"):
        restore_snapshot(target_dsn, s3_url, "fullset")
    with pytest.raises(IntegrityError, match="not signed"):
        verify_snapshot(s3_url, "fullset")
    restore_snapshot(target_dsn, s3_url, "fullset", allow_unsigned=True)
    assert "accepted because --allow-unsigned" in caplog.text
    assert row_counts(target_dsn) == row_counts(source)


def test_a_manifest_signed_with_another_key_is_refused(source: str, s3_url: str) -> None:
    create_snapshot(source, s3_url, "fullset", "v1", unmasked=True)
    with pytest.raises(IntegrityError, match="signed with another key"):
        verify_snapshot(s3_url, "fullset", signing_key=b"someone-elses-key-0123456789")


def test_an_altered_manifest_no_longer_matches_its_signature(source: str, s3_url: str) -> None:
    create_snapshot(source, s3_url, "fullset", "v1", unmasked=True)
    store = open_store(s3_url)
    raw = json.loads(store.get_bytes("fullset/v1/manifest.json"))
    raw["tables"][0]["rows"] += 1
    store.put_bytes("fullset/v1/manifest.json", json.dumps(raw).encode())
    with pytest.raises(IntegrityError, match="does not match its signature"):
        verify_snapshot(s3_url, "fullset")


def test_local_and_s3_stores_publish_the_same_files(
    source: str, s3_url: str, tmp_path: Path
) -> None:
    local = create_snapshot(source, tmp_path / "store", "fullset", "v1", unmasked=True)
    remote = create_snapshot(source, s3_url, "fullset", "v1", unmasked=True)

    def digests(m: Manifest) -> list[tuple[int, int]]:
        return sorted((f.rows, f.bytes) for f in m.all_files())

    assert digests(local) == digests(remote)
    verify_snapshot(tmp_path / "store", "fullset", "v1")
