"""The production guard, the create and restore locks, and proof that create never writes to
its source."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from anonymiser.errors import ConfigError, ProtectedTarget, RestoreError, SnapshotError
from anonymiser.guard import protected_dsns
from anonymiser.pg.locks import create_session
from anonymiser.snapshot import create_snapshot, restore_snapshot
from tests.conftest import MakeDatabase
from tests.integration.test_s3_snapshots import load_source, row_counts


@pytest.fixture
def source(make_database: MakeDatabase) -> str:
    return load_source(make_database("source"))


@pytest.fixture
def store(source: str, tmp_path: Path) -> Path:
    create_snapshot(source, tmp_path / "store", "fullset", "v1", unmasked=True)
    return tmp_path / "store"


def user_tables(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    return int(row[0]) if row else -1


def test_a_target_on_the_deny_list_is_refused(
    store: Path, target_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = conninfo_to_dict(target_dsn)
    # another spelling of the same database: a URL, localhost for 127.0.0.1, a password
    entry = f"postgresql://admin:pw@localhost:{params['port']}/{params['dbname']}"
    monkeypatch.setenv("ANONYMISER_PROTECTED_DSNS", f"host=prod.example dbname=app,\n{entry}")
    with pytest.raises(ProtectedTarget, match="deny-list ANONYMISER_PROTECTED_DSNS") as refused:
        restore_snapshot(target_dsn, store, "fullset")
    assert "pw" not in str(refused.value).replace("password", "")
    assert user_tables(target_dsn) == 0


def test_a_database_marked_production_is_refused_unless_overridden(
    store: Path, target_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    dbname = conninfo_to_dict(target_dsn)["dbname"]
    with psycopg.connect(target_dsn, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {dbname} SET anonymiser.environment = 'production'")
    with pytest.raises(ProtectedTarget, match=r"marked anonymiser\.environment = 'production'"):
        restore_snapshot(target_dsn, store, "fullset")
    assert user_tables(target_dsn) == 0
    with caplog.at_level(logging.WARNING):
        restore_snapshot(target_dsn, store, "fullset", allow_production=True)
    assert "--allow-production given" in caplog.text
    assert user_tables(target_dsn) == 2


def test_the_snapshots_own_source_is_refused(store: Path, source: str) -> None:
    before = row_counts(source)
    with pytest.raises(ProtectedTarget, match="was taken from"):
        restore_snapshot(source, store, "fullset", clean=True)
    assert row_counts(source) == before


def test_protected_dsns_normalise_host_port_and_database() -> None:
    assert protected_dsns("host=DB.Example. port=5433 dbname=app, postgresql://127.0.0.1/x") == [
        ("db.example", "5433", "app"),
        ("localhost", "5432", "x"),
    ]
    with pytest.raises(ConfigError, match="entry 2") as bad:
        protected_dsns("dbname=a,host='unterminated password=hunter2")
    assert "hunter2" not in str(bad.value)


def test_a_second_create_of_a_dataset_fails_fast_while_one_runs(
    source: str, tmp_path: Path
) -> None:
    with psycopg.connect(source, autocommit=True) as holder:
        holder.execute(
            "SELECT pg_advisory_lock(hashtext('anonymiser:create'), hashtext('fullset'))"
        )
        started = time.monotonic()
        with pytest.raises(SnapshotError, match=r"another `snapshot create fullset` is running"):
            create_snapshot(source, tmp_path / "store", "fullset", "v1", unmasked=True)
        assert time.monotonic() - started < 5
    create_snapshot(
        source, tmp_path / "store", "fullset", "v1", unmasked=True
    )  # lock gone with the session


def test_a_second_restore_into_a_target_fails_fast(store: Path, target_dsn: str) -> None:
    with psycopg.connect(target_dsn) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(hashtext('anonymiser:restore'))")
        with pytest.raises(RestoreError, match=r"another restore into .* is running"):
            restore_snapshot(target_dsn, store, "fullset")
    assert user_tables(target_dsn) == 0


WRITE_COUNTERS = """
SELECT (SELECT row(tup_inserted, tup_updated, tup_deleted)::text FROM pg_stat_database
         WHERE datname = current_database()),
       (SELECT string_agg(row(relname, n_tup_ins, n_tup_upd, n_tup_del)::text, ',' ORDER BY relname)
          FROM pg_stat_user_tables),
       (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_namespace),
       (SELECT count(*) FROM pg_proc)
"""


def write_counters(dsn: str) -> tuple[object, ...]:
    """Tuples written in the database (catalogs included) and objects in it, once every
    other session of it has ended and flushed its statistics."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(100):
            others = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            ).fetchone()
            if others == (0,):
                break
            time.sleep(0.05)
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(WRITE_COUNTERS).fetchone()
        return tuple(row) if row else ()


def test_create_never_writes_to_the_source(source: str, tmp_path: Path) -> None:
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # settle: nothing left for autovacuum to do
    before = write_counters(source)
    create_snapshot(source, tmp_path / "store", "fullset", "v1", jobs=2, unmasked=True)
    assert write_counters(source) == before
    # and the measure does see a write, so the equality above means something
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("INSERT INTO customers (name) VALUES ('canary')")
    assert write_counters(source) != before


def test_a_create_lets_its_lock_go_before_it_returns(source: str) -> None:
    # a closed session's server process releases its locks only as it exits, a moment later:
    # a create right after another (a script, a retry) must not find the lock still held
    for _ in range(20):
        with create_session(source, "fullset"):
            pass
        with psycopg.connect(source, autocommit=True) as other:
            taken = other.execute(
                "SELECT pg_try_advisory_lock(hashtext('anonymiser:create'), hashtext('fullset'))"
            ).fetchone()
            assert taken == (True,)
