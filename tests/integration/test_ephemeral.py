"""The throwaway PostgreSQL cluster: loopback only, fresh empty databases, create and drop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from anonymiser.errors import ToolMissing
from anonymiser.pg.ephemeral import EphemeralCluster


def _scalar(dsn: str, query: str) -> object:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def _database_exists(cluster: EphemeralCluster, name: str) -> bool:
    with psycopg.connect(cluster.dsn()) as conn:
        row = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name]).fetchone()
    assert row is not None
    return bool(row[0])


def test_cluster_listens_on_loopback_only(pg_cluster: EphemeralCluster) -> None:
    assert _scalar(pg_cluster.dsn(), "SHOW listen_addresses") == "127.0.0.1"
    assert conninfo_to_dict(pg_cluster.dsn()) == {
        "host": "127.0.0.1",
        "port": str(pg_cluster.port),
        "user": "postgres",
        "dbname": "postgres",
    }


def test_cluster_reports_its_server_major_version(pg_cluster: EphemeralCluster) -> None:
    server_version_num = int(str(_scalar(pg_cluster.dsn(), "SHOW server_version_num")))
    assert server_version_num // 10000 == pg_cluster.version


def test_cluster_runs_with_durability_off_for_speed(pg_cluster: EphemeralCluster) -> None:
    for setting in ("fsync", "synchronous_commit", "full_page_writes"):
        assert _scalar(pg_cluster.dsn(), f"SHOW {setting}") == "off"


def test_make_database_gives_distinct_empty_databases(
    make_database: Callable[..., str],
) -> None:
    first, second = make_database(), make_database("other")
    names = {_scalar(dsn, "SELECT current_database()") for dsn in (first, second)}
    assert len(names) == 2
    for dsn in (first, second):
        user_tables = _scalar(
            dsn,
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%'",
        )
        assert user_tables == 0


def test_source_and_target_are_different_databases(source_dsn: str, target_dsn: str) -> None:
    source = _scalar(source_dsn, "SELECT current_database()")
    target = _scalar(target_dsn, "SELECT current_database()")
    assert source != target
    assert str(source).startswith("source_")
    assert str(target).startswith("target_")


def test_create_then_drop_database_even_with_a_client_connected(
    pg_cluster: EphemeralCluster,
) -> None:
    name = "Mixed Case-db"  # needs quoting: proves names go through sql.Identifier
    dsn = pg_cluster.create_database(name)
    assert _database_exists(pg_cluster, name)
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE t (id int)")
        conn.commit()
        pg_cluster.drop_database(name)  # WITH (FORCE) disconnects us
    assert not _database_exists(pg_cluster, name)


def test_drop_database_that_does_not_exist_is_harmless(pg_cluster: EphemeralCluster) -> None:
    pg_cluster.drop_database("never_created")
    assert not _database_exists(pg_cluster, "never_created")


def test_stopped_cluster_removes_its_files_and_tolerates_second_stop() -> None:
    cluster = EphemeralCluster().start()
    data_dir = cluster.data_dir
    assert (data_dir / "PG_VERSION").exists()
    cluster.stop()
    cluster.stop()
    assert not data_dir.exists()
    assert not cluster.running
    with pytest.raises(RuntimeError):
        cluster.dsn()


def test_missing_server_binaries_raise_tool_missing_with_install_hint(tmp_path: Path) -> None:
    with pytest.raises(ToolMissing, match="apt-get install postgresql"):
        EphemeralCluster(bin_dir=tmp_path)
