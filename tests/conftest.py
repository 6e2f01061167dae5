"""Shared fixtures: one throwaway PostgreSQL cluster and one S3 server (moto) per test session,
fresh databases and buckets per test."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from anonymiser.pg.ephemeral import EphemeralCluster

MakeDatabase = Callable[..., str]
MakeS3Store = Callable[..., str]

# Every test runs with a signing key, as a production job would; tests of unsigned or wrongly
# signed snapshots override it.
TEST_SIGNING_KEY = "test-signing-key-0123456789abcdef"


@pytest.fixture(scope="session", autouse=True)
def _signing_key() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANONYMISER_SIGNING_KEY", TEST_SIGNING_KEY)
        patch.delenv("ANONYMISER_PROTECTED_DSNS", raising=False)
        yield


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[EphemeralCluster]:
    """A real PostgreSQL server on a random 127.0.0.1 port, shared by the whole session."""
    with EphemeralCluster() as cluster:
        yield cluster


@pytest.fixture
def make_database(pg_cluster: EphemeralCluster) -> Iterator[MakeDatabase]:
    """Factory `make_database(prefix="db") -> DSN` of a new, empty, uniquely named database.

    Every database it made is dropped (WITH (FORCE)) when the test ends.
    """
    created: list[str] = []

    def make(prefix: str = "db") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        dsn = pg_cluster.create_database(name)
        created.append(name)
        return dsn

    yield make
    for name in reversed(created):
        pg_cluster.drop_database(name)


@pytest.fixture
def source_dsn(make_database: MakeDatabase) -> str:
    """DSN of an empty database playing the production source."""
    return make_database("source")


@pytest.fixture
def target_dsn(make_database: MakeDatabase) -> str:
    """DSN of an empty database playing the restore target."""
    return make_database("target")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real HTTP S3 endpoint (moto's threaded server) on a random 127.0.0.1 port: its URL."""
    from moto.s3.responses import S3Response
    from moto.server import ThreadedMotoServer

    # S3 decides a conditional PUT (If-None-Match: *) atomically; moto checks, then writes,
    # so two concurrent publishes of one version could both win. One PUT at a time gives the
    # test endpoint S3's semantics (the publish race tests rely on them).
    put_object = S3Response.put_object
    one_at_a_time = threading.Lock()

    def atomic_put_object(self: Any) -> Any:
        with one_at_a_time:
            return put_object(self)

    S3Response.put_object = atomic_put_object  # type: ignore[method-assign]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    S3Response.put_object = put_object  # type: ignore[method-assign]


def s3_environment(endpoint: str) -> dict[str, str]:
    """AWS settings pointing boto3 at a test endpoint and never at a real account or profile."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_MAX_ATTEMPTS": "3",
    }


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The AWS environment of the session S3 server, set for this test (and its subprocesses)."""
    env = s3_environment(s3_server)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return env


@pytest.fixture
def make_s3_store(s3_env: dict[str, str]) -> MakeS3Store:
    """Factory `make_s3_store(prefix="snapshots") -> "s3://bucket/prefix"` on a new bucket."""
    import boto3

    def make(prefix: str = "snapshots") -> str:
        bucket = f"test-{uuid.uuid4().hex[:12]}"
        boto3.client("s3").create_bucket(Bucket=bucket)
        return f"s3://{bucket}/{prefix}".rstrip("/")

    return make


TEST_MASKING_KEY = "test-masking-key-0123456789abcdef"


def write_keep_rules(dsn: str, folder: Path) -> Path:
    """Rules keeping every column of every table of `dsn` (for transport tests of the CLI)."""
    import psycopg
    import yaml

    from anonymiser.catalog import read_catalog

    with psycopg.connect(dsn) as conn:
        catalog = read_catalog(conn)
    tables = {
        table.qualified: {
            "columns": {
                column.name: {"strategy": "keep", "reason": "test data"}
                for column in table.columns
                if not column.is_generated
            }
        }
        for table in catalog.tables.values()
        if table.kind in ("table", "partitioned") and table.parent is None
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "keep.yaml").write_text(yaml.safe_dump({"tables": tables}))
    return folder


def restore_threads_alive(wait: float = 5.0) -> list[str]:
    """Names of restore's reader and encoder threads still running after up to `wait` s."""
    deadline = time.monotonic() + wait
    while True:
        alive = [
            t.name for t in threading.enumerate() if t.name.startswith(("restore-read", "encode"))
        ]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)
