"""Round trips of the corners that silently lose data if handled naively (review findings)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from anonymiser.catalog import read_catalog
from anonymiser.errors import ConfigError, SnapshotError
from anonymiser.snapshot import create_snapshot, restore_snapshot
from anonymiser.stages.extract import _refuse_rewritten
from tests.integration.compare import assert_same_data, assert_same_schema


def run(dsn: str, statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statements)


def scalar(dsn: str, query: str) -> object:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query).fetchone()
        return row[0] if row else None


def round_trip(source: str, target: str, store: Path, **kwargs: object) -> None:
    manifest = create_snapshot(source, store, "fullset", "v1", **kwargs, unmasked=True)  # type: ignore[arg-type]
    restore_snapshot(target, store, "fullset", manifest.version)
    assert_same_schema(source, target)
    assert_same_data(source, target)


def test_null_rows_of_a_single_column_table_survive(
    source_dsn: str, target_dsn: str, tmp_path: Path
) -> None:
    run(
        source_dsn,
        """
        CREATE TABLE one_text (x text);
        INSERT INTO one_text VALUES ('a'), (NULL), (NULL), (''), ('b');
        CREATE TABLE one_int (x int);
        INSERT INTO one_int VALUES (1), (NULL), (NULL);
        CREATE TABLE only_nulls (x bool);
        INSERT INTO only_nulls SELECT NULL FROM generate_series(1, 100);
        """,
    )
    round_trip(source_dsn, target_dsn, tmp_path / "store")
    assert scalar(target_dsn, "SELECT count(*) FROM one_text WHERE x IS NULL") == 2
    assert scalar(target_dsn, "SELECT count(*) FROM only_nulls") == 100


def test_byte_order_mark_at_the_start_of_a_table_is_kept(
    source_dsn: str, target_dsn: str, tmp_path: Path
) -> None:
    run(
        source_dsn,
        r"""
        CREATE TABLE bom (label text, n int);
        INSERT INTO bom VALUES (E'\uFEFFhello', 1), (E'\uFEFF', 2);
        CREATE TYPE feeling AS ENUM ('ok');
        CREATE TABLE bom_int_first (n int, label text);
        INSERT INTO bom_int_first VALUES (1, E'\uFEFFx');
        """,
    )
    round_trip(source_dsn, target_dsn, tmp_path / "store")
    assert scalar(target_dsn, "SELECT length(label) FROM bom WHERE n = 1") == 6


def test_backslash_lines_inside_function_bodies_and_comments_survive(
    source_dsn: str, target_dsn: str, tmp_path: Path
) -> None:
    run(
        source_dsn,
        "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $f$ SELECT 'a\n\\b\nc' $f$;\n"
        "CREATE TABLE c (x int);\n"
        "COMMENT ON TABLE c IS E'line1\\n\\\\line2';\n",
    )
    round_trip(source_dsn, target_dsn, tmp_path / "store")
    assert scalar(target_dsn, "SELECT f()") == scalar(source_dsn, "SELECT f()")
    assert scalar(target_dsn, "SELECT obj_description('c'::regclass)") == "line1\n\\line2"


def test_names_that_look_alike_once_joined_stay_apart(
    source_dsn: str, target_dsn: str, tmp_path: Path
) -> None:
    run(
        source_dsn,
        """
        CREATE SCHEMA "a.b"; CREATE TABLE "a.b".c (x int); INSERT INTO "a.b".c VALUES (1);
        CREATE SCHEMA a; CREATE TABLE a."b.c" (x int); INSERT INTO a."b.c" VALUES (2);
        CREATE TABLE public."." (x int); INSERT INTO public."." VALUES (3);
        CREATE TABLE public."Users" (x int); CREATE TABLE public.users (x int);
        INSERT INTO public."Users" VALUES (4); INSERT INTO public.users VALUES (5);
        """,
    )
    round_trip(source_dsn, target_dsn, tmp_path / "store")
    assert scalar(target_dsn, 'SELECT x FROM a."b.c"') == 2
    assert scalar(target_dsn, 'SELECT x FROM public."."') == 3


def test_a_user_type_named_like_a_builtin_is_not_parsed_as_the_builtin(
    source_dsn: str, target_dsn: str, tmp_path: Path
) -> None:
    run(
        source_dsn,
        """
        CREATE SCHEMA app;
        CREATE TYPE app.int4 AS ENUM ('one', 'two');
        CREATE TABLE t (v app.int4, w app.int4[]);
        INSERT INTO t VALUES ('one', '{two,one}'), (NULL, NULL);
        """,
    )
    round_trip(source_dsn, target_dsn, tmp_path / "store")


def test_production_timeouts_do_not_cancel_the_extract(
    source_dsn: str, target_dsn: str, tmp_path: Path
) -> None:
    dbname = psycopg.conninfo.conninfo_to_dict(source_dsn)["dbname"]
    run(
        source_dsn,
        f"""
        CREATE TABLE big AS SELECT g AS id, repeat('x', 200) AS pad
          FROM generate_series(1, 300000) g;
        ALTER DATABASE "{dbname}" SET statement_timeout = '50ms';
        ALTER DATABASE "{dbname}" SET idle_in_transaction_session_timeout = '50ms';
        """,
    )
    manifest = create_snapshot(
        source_dsn, tmp_path / "store", "fullset", "v1", jobs=2, unmasked=True
    )
    # the comparison helpers are ordinary sessions: lift the limits for them
    run(source_dsn, f'ALTER DATABASE "{dbname}" RESET ALL')
    restore_snapshot(target_dsn, tmp_path / "store", "fullset", manifest.version)
    assert_same_data(source_dsn, target_dsn)


def test_row_level_security_is_refused_rather_than_partially_copied(
    source_dsn: str, tmp_path: Path
) -> None:
    run(
        source_dsn,
        """
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'limited_reader') THEN
            CREATE ROLE limited_reader LOGIN;
          END IF;
        END $$;
        CREATE TABLE secret (id int);
        INSERT INTO secret SELECT generate_series(1, 10);
        ALTER TABLE secret ENABLE ROW LEVEL SECURITY;
        CREATE POLICY first_three ON secret FOR SELECT USING (id <= 3);
        GRANT SELECT ON secret TO limited_reader;
        """,
    )
    reader = source_dsn.replace("user=postgres", "user=limited_reader")
    with pytest.raises(SnapshotError, match=r"row-level security.*BYPASSRLS") as refused:
        create_snapshot(reader, tmp_path / "store", "fullset", "v1", unmasked=True)
    assert "\n" not in str(refused.value)
    assert not (tmp_path / "store" / "fullset" / "v1" / "manifest.json").exists()


def test_a_truncate_during_extract_waits_for_the_snapshot(
    source_dsn: str, target_dsn: str, tmp_path: Path
) -> None:
    run(
        source_dsn,
        """
        CREATE TABLE big AS SELECT g AS id, repeat('x', 300) AS pad
          FROM generate_series(1, 600000) g;
        CREATE TABLE small AS SELECT generate_series(1, 100) AS id;
        """,
    )
    truncated_at: list[float] = []

    def truncate_small() -> None:
        time.sleep(0.3)
        with psycopg.connect(source_dsn, autocommit=True) as conn:
            conn.execute("TRUNCATE small")
        truncated_at.append(time.monotonic())

    worker = threading.Thread(target=truncate_small)
    worker.start()
    try:
        manifest = create_snapshot(source_dsn, tmp_path / "store", "fullset", "v1", unmasked=True)
    except SnapshotError as refused:
        # pg_dump's schema locks queued behind the waiting TRUNCATE: a clear failure, no hang
        assert "concurrent DDL or TRUNCATE" in str(refused)
        assert not (tmp_path / "store" / "fullset" / "v1" / "manifest.json").exists()
        worker.join()
        return
    finished = time.monotonic()
    worker.join()
    rows = {t.name: t.rows for t in manifest.tables}
    assert rows["small"] == 100, "the snapshot must not see a TRUNCATE committed after it"
    assert truncated_at and truncated_at[0] >= finished - 0.5


def test_a_truncate_committed_between_snapshot_and_lock_is_refused(source_dsn: str) -> None:
    run(source_dsn, "CREATE TABLE small AS SELECT generate_series(1, 100) AS id;")
    with psycopg.connect(source_dsn, autocommit=True) as extract:
        extract.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        table = read_catalog(extract).tables["public.small"]  # the snapshot is taken here
        with psycopg.connect(source_dsn, autocommit=True) as other:
            other.execute("TRUNCATE small")  # no lock held yet: it commits at once
        extract.execute("LOCK TABLE small IN ACCESS SHARE MODE")
        with pytest.raises(SnapshotError, match="concurrent DDL or TRUNCATE"):
            _refuse_rewritten(extract, [table])


def test_an_unparseable_dsn_never_echoes_its_password() -> None:
    with pytest.raises(ConfigError) as bad:
        create_snapshot("postgresql://bob:s3cr%zzet@127.0.0.1/db", "unused-store", unmasked=True)
    assert "s3cr" not in str(bad.value)


def test_values_larger_than_a_csv_block_are_extracted(
    source_dsn: str, target_dsn: str, tmp_path: Path
) -> None:
    run(
        source_dsn,
        """
        CREATE TABLE documents (id int PRIMARY KEY, body text, scan bytea);
        INSERT INTO documents VALUES
          (1, 'small', '\\x00'),
          (2, repeat('long line ', 2000000), decode(repeat('00ff', 4500000), 'hex')),
          (3, 'after', NULL);
        """,
    )
    round_trip(source_dsn, target_dsn, tmp_path / "store")
    assert scalar(target_dsn, "SELECT length(body) FROM documents WHERE id = 2") == 20_000_000
