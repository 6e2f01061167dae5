"""The proof of issue 2: the hard test database survives snapshot + restore exactly.

Every test builds tests/integration/sql/kitchen_sink.sql in a fresh source database, snapshots
it into a local store in tmp_path and restores it into a fresh target database.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from anonymiser.errors import IntegrityError, NotFound, RestoreError, TargetNotEmpty
from anonymiser.manifest import Manifest
from anonymiser.signing import sign
from anonymiser.snapshot import create_snapshot, restore_snapshot
from tests.integration.compare import (
    assert_same_data,
    assert_same_schema,
    assert_same_sequence_positions,
    assert_sequences_do_not_collide,
    dump_schema,
    list_relations,
)

KITCHEN_SINK = Path(__file__).parent / "sql" / "kitchen_sink.sql"
DATASET = "fullset"


def load_kitchen_sink(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:  # one transaction; committed on leaving the block
        conn.execute(KITCHEN_SINK.read_text(encoding="utf-8"))


def fetch(dsn: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        return conn.execute(query).fetchall()


def run(dsn: str, statements: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(statements)


def assert_round_trip_exact(source: str, target: str) -> None:
    assert_same_schema(source, target)
    assert_same_data(source, target)
    assert_same_sequence_positions(source, target)
    assert assert_sequences_do_not_collide(target), "no owned sequence was checked"


def target_state(dsn: str) -> tuple[list[str], dict[str, list[tuple[Any, ...]]]]:
    """Schema dump plus every relation's rows (as text, sorted): enough to prove 'unchanged'."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'; SET extra_float_digits = 1")
        relations = list_relations(conn)
        rows = {
            label: sorted(
                r[0]
                for r in conn.execute(sql.SQL("SELECT t::text FROM ONLY {} AS t").format(rel.ident))
            )
            for label, rel in relations.items()
        }
    return dump_schema(dsn), rows


def version_dir(store: Path, manifest: Manifest) -> Path:
    return store / manifest.dataset / manifest.version


def table_entry(manifest_json: dict[str, Any], schema: str, name: str) -> dict[str, Any]:
    return next(t for t in manifest_json["tables"] if (t["schema"], t["name"]) == (schema, name))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def rewrite_file_entry(folder: Path, entry: dict[str, Any], table: pa.Table) -> None:
    """Replace a data file and make the manifest agree with it (checksum, size, rows)."""
    path = folder / entry["path"]
    pq.write_table(table, path, compression="zstd")
    entry.update(rows=table.num_rows, bytes=path.stat().st_size, sha256=sha256_of(path))


@pytest.fixture
def source(source_dsn: str) -> str:
    load_kitchen_sink(source_dsn)
    return source_dsn


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def snapshot(source: str, store: Path) -> Manifest:
    return create_snapshot(source, store, dataset=DATASET, version="v1", unmasked=True)


# ---------------------------------------------------------------------------- round trips -------


@pytest.mark.parametrize("jobs", [1, 2], ids=["jobs=1", "jobs=2"])
def test_kitchen_sink_round_trips_exactly(
    source: str, target_dsn: str, store: Path, jobs: int
) -> None:
    create_snapshot(source, store, dataset=DATASET, version=f"jobs{jobs}", jobs=jobs, unmasked=True)
    restore_snapshot(target_dsn, store, dataset=DATASET, version=f"jobs{jobs}", jobs=jobs)
    assert_round_trip_exact(source, target_dsn)


@pytest.mark.parametrize("zones", ["database", "client"])
def test_round_trip_is_exact_whatever_the_session_timezones(
    source_dsn: str, target_dsn: str, store: Path, monkeypatch: pytest.MonkeyPatch, zones: str
) -> None:
    """'database': each database has its own non-UTC default zone; 'client': the process's
    PGTZ and TZ differ from UTC and from each other (PGTZ overrides the databases' defaults)."""
    if zones == "database":
        for dsn, zone in ((source_dsn, "Pacific/Chatham"), (target_dsn, "America/Sao_Paulo")):
            with psycopg.connect(dsn, autocommit=True) as conn:
                name = conn.execute("SELECT current_database()").fetchone()
                assert name is not None
                conn.execute(
                    sql.SQL("ALTER DATABASE {} SET timezone TO {}").format(
                        sql.Identifier(name[0]), sql.Literal(zone)
                    )
                )
    else:
        monkeypatch.setenv("PGTZ", "Asia/Kathmandu")
        monkeypatch.setenv("TZ", "America/Los_Angeles")
        time.tzset()
    try:
        load_kitchen_sink(source_dsn)
        create_snapshot(source_dsn, store, dataset=DATASET, version="tz", unmasked=True)
        restore_snapshot(target_dsn, store, dataset=DATASET)
        assert_round_trip_exact(source_dsn, target_dsn)
        # the values also read back the same as text in one non-UTC zone on both sides
        query = "SELECT id, tstz::text, tstz3::text, ttz::text, ts::text FROM public.temporals"
        with psycopg.connect(source_dsn) as src, psycopg.connect(target_dsn) as tgt:
            for conn in (src, tgt):
                conn.execute("SET TimeZone = 'Europe/Amsterdam'")
            assert sorted(src.execute(query).fetchall()) == sorted(tgt.execute(query).fetchall())
    finally:
        monkeypatch.undo()
        time.tzset()


def test_restore_defaults_to_the_latest_complete_version(
    source: str, target_dsn: str, store: Path
) -> None:
    create_snapshot(source, store, dataset=DATASET, version="a-old", unmasked=True)
    run(source, "UPDATE public.tags SET label = label || '-new'")
    create_snapshot(source, store, dataset=DATASET, version="b-new", unmasked=True)
    restore_snapshot(target_dsn, store, dataset=DATASET)
    assert fetch(target_dsn, "SELECT count(*) FROM public.tags WHERE label LIKE '%-new'") == [(20,)]


# ---------------------------------------------------------------------------- manifest ---------


def test_manifest_checksums_and_sizes_match_the_stored_files(
    snapshot: Manifest, store: Path
) -> None:
    folder = version_dir(store, snapshot)
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk["dataset"] == DATASET and on_disk["version"] == "v1"
    files = snapshot.all_files()
    assert files, "the manifest lists no files"
    for entry in files:
        path = folder / entry.path
        assert path.is_file(), f"{entry.path} is in the manifest but not in the store"
        assert path.stat().st_size == entry.bytes, f"{entry.path}: size differs from manifest"
        assert sha256_of(path) == entry.sha256, f"{entry.path}: sha256 differs from manifest"
    stored = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert stored - {"manifest.json"} == {f.path for f in files}, "unlisted files in the version"


def test_manifest_row_counts_match_the_source(snapshot: Manifest, source: str) -> None:
    for table in snapshot.tables:
        assert sum(f.rows for f in table.files) == table.rows, table.qualified
        with psycopg.connect(source) as conn:
            counted = conn.execute(
                sql.SQL("SELECT count(*) FROM ONLY {}").format(
                    sql.Identifier(table.schema, table.name)
                )
            ).fetchone()
        assert counted == (table.rows,), f"{table.qualified}: manifest says {table.rows} rows"
    names = {(t.schema, t.name) for t in snapshot.tables}
    assert ("public", "events_default") in names and ("public", "empty_table") in names


def test_manifest_records_each_columns_postgresql_type(snapshot: Manifest) -> None:
    numbers = next(t for t in snapshot.tables if (t.schema, t.name) == ("public", "numbers"))
    types = {c["name"]: c["pg_type"] for c in numbers.columns}
    assert types["n_wide"] == "numeric(60,30)" and types["f8"] == "double precision"
    for table in snapshot.tables:
        for column in table.columns:
            assert column["pg_type"] and column["arrow_type"], f"{table.qualified}: {column}"


# ---------------------------------------------------------------------------- features ---------


def test_partitioned_rows_land_in_their_partitions(
    snapshot: Manifest, source: str, target_dsn: str, store: Path
) -> None:
    restore_snapshot(target_dsn, store, dataset=DATASET, version="v1")
    query = "SELECT tableoid::regclass::text, id, occurred_on FROM public.events ORDER BY id"
    placed = fetch(target_dsn, query)
    assert placed == fetch(source, query)
    assert {row[0] for row in placed} == {
        "events_2023",
        "events_2024",
        "events_2025",
        "events_default",
    }


def test_generated_columns_are_recomputed_not_stored(
    snapshot: Manifest, source: str, target_dsn: str, store: Path
) -> None:
    postings = next(t for t in snapshot.tables if (t.schema, t.name) == ("ledger", "postings"))
    assert "total" not in {c["name"] for c in postings.columns}
    restore_snapshot(target_dsn, store, dataset=DATASET, version="v1")
    query = "SELECT id, total, qty * unit_price FROM ledger.postings ORDER BY id"
    restored = fetch(target_dsn, query)
    assert restored == fetch(source, query)
    assert all(total == expected for _, total, expected in restored)


def test_materialized_views_are_refreshed_not_copied(
    snapshot: Manifest, source: str, target_dsn: str, store: Path
) -> None:
    copied = {(t.schema, t.name) for t in snapshot.tables}
    assert ("ledger", "org_totals") not in copied and ("public", "people_per_org") not in copied
    restore_snapshot(target_dsn, store, dataset=DATASET, version="v1")
    populated = fetch(
        target_dsn,
        "SELECT relname, relispopulated FROM pg_class WHERE relkind = 'm' ORDER BY relname",
    )
    assert populated == [("org_totals", True), ("people_per_org", True)]
    query = "SELECT * FROM ledger.org_totals ORDER BY org_id"
    assert fetch(target_dsn, query) == fetch(source, query)


def loaded_tables(manifest: Manifest) -> set[tuple[str, str]]:
    return {(t.schema, t.name) for t in manifest.tables if t.rows and t.columns}


def analyzed_tables(dsn: str, manifest: Manifest) -> set[tuple[str, str]]:
    """The snapshot's non-empty tables that have planner statistics in `dsn`."""
    stats = set(fetch(dsn, "SELECT DISTINCT schemaname, tablename FROM pg_stats"))
    return loaded_tables(manifest) & stats


def test_restore_analyzes_every_table_after_loading(
    snapshot: Manifest, target_dsn: str, store: Path
) -> None:
    report = restore_snapshot(target_dsn, store, dataset=DATASET, version="v1", jobs=2)
    assert loaded_tables(snapshot)
    assert analyzed_tables(target_dsn, snapshot) == loaded_tables(snapshot)
    assert "analyze" in report.seconds
    # autovacuum never analyzes a partitioned table itself: the restore does
    whole = "SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = 'public' AND inherited"
    assert ("events",) in fetch(target_dsn, whole)


NESTED_PARTITIONS = """
CREATE TABLE readings (id int, taken date NOT NULL, kind text NOT NULL, value int)
    PARTITION BY RANGE (taken);
CREATE TABLE readings_2024 PARTITION OF readings FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE readings_2025 PARTITION OF readings FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')
    PARTITION BY LIST (kind);
CREATE TABLE readings_2025_a PARTITION OF readings_2025 FOR VALUES IN ('a');
CREATE TABLE readings_2025_b PARTITION OF readings_2025 FOR VALUES IN ('b');
CREATE TABLE sites (id int PRIMARY KEY, name text);
INSERT INTO readings SELECT g, date '2024-06-01' + (g % 400),
    CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, g % 97 FROM generate_series(1, 3000) g;
INSERT INTO sites SELECT g, 'site ' || g FROM generate_series(1, 50) g;
"""


def manual_analyze_counts(dsn: str) -> dict[str, int]:
    """ANALYZE runs per table (not autovacuum's), once the restore's sessions have exited
    (a backend's statistics counters reach the shared view when it ends)."""
    others = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    deadline = time.monotonic() + 10
    while fetch(dsn, others) != [(0,)] and time.monotonic() < deadline:
        time.sleep(0.05)
    return dict(fetch(dsn, "SELECT relname, analyze_count FROM pg_stat_user_tables"))


@pytest.mark.parametrize("jobs", [1, 2], ids=["jobs=1", "jobs=2"])
def test_restore_analyzes_each_partition_once_and_every_partitioned_parent(
    source_dsn: str, target_dsn: str, store: Path, jobs: int
) -> None:
    run(source_dsn, NESTED_PARTITIONS)
    create_snapshot(source_dsn, store, dataset=DATASET, version="v1", unmasked=True)
    restore_snapshot(target_dsn, store, dataset=DATASET, version="v1", jobs=jobs)
    counts = manual_analyze_counts(target_dsn)
    # ANALYZE of a partitioned table also analyzes its partitions: not twice
    for leaf in ("readings_2024", "readings_2025_a", "readings_2025_b", "sites"):
        assert counts[leaf] == 1, (leaf, counts)
    stats = "SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = 'public' AND "
    inherited = stats + "inherited ORDER BY 1"
    assert fetch(target_dsn, inherited) == [("readings",), ("readings_2025",)]
    leaves = stats + "NOT inherited ORDER BY 1"
    assert fetch(target_dsn, leaves) == [
        ("readings_2024",),
        ("readings_2025_a",),
        ("readings_2025_b",),
        ("sites",),
    ]


def test_restore_without_analyze_leaves_statistics_to_autovacuum(
    snapshot: Manifest, target_dsn: str, store: Path
) -> None:
    report = restore_snapshot(target_dsn, store, dataset=DATASET, version="v1", analyze=False)
    assert "analyze" not in report.seconds
    # autovacuum may analyze on its own (autoanalyze_count); no ANALYZE was run by us
    manual = fetch(target_dsn, "SELECT coalesce(sum(analyze_count), 0) FROM pg_stat_user_tables")
    assert manual == [(0,)]


def test_triggers_do_not_fire_while_loading_but_work_afterwards(
    snapshot: Manifest, source: str, target_dsn: str, store: Path
) -> None:
    restore_snapshot(target_dsn, store, dataset=DATASET, version="v1")
    count = "SELECT count(*) FROM ledger.audit_log"
    assert fetch(target_dsn, count) == fetch(source, count)
    run(
        target_dsn, "INSERT INTO public.people (org_code, email) VALUES ('ORG7', 'New@Example.ORG')"
    )
    assert fetch(
        target_dsn,
        "SELECT operation, detail->>'email' FROM ledger.audit_log ORDER BY id DESC LIMIT 1",
    ) == [("INSERT", "new@example.org")]


def test_next_ids_do_not_collide_after_restore(
    snapshot: Manifest, source: str, target_dsn: str, store: Path
) -> None:
    restore_snapshot(target_dsn, store, dataset=DATASET, version="v1")
    assert_same_sequence_positions(source, target_dsn)
    with psycopg.connect(target_dsn) as conn:
        org = conn.execute(
            "INSERT INTO public.organisations (code, name) VALUES ('NEW1', 'New') RETURNING id"
        ).fetchone()
        tag = conn.execute("INSERT INTO public.tags (label) VALUES ('new') RETURNING id").fetchone()
        invoice = conn.execute(
            "INSERT INTO ledger.invoices (org_id, issued_on) "
            "VALUES (1, '2025-01-01') RETURNING invoice_no"
        ).fetchone()
        event = conn.execute(
            "INSERT INTO public.events (occurred_on, person_id) "
            "VALUES ('2024-06-01', 1) RETURNING id"
        ).fetchone()
        posting = conn.execute(
            "INSERT INTO ledger.postings (org_id, account_no, qty, unit_price)"
            " VALUES (1, 1, 2, 3.5) RETURNING id, total"
        ).fetchone()
    assert org == (51,)
    assert tag == (26,), "tags.id must continue after the deleted ids 21-25 the source handed out"
    assert invoice == (1301,), "the standalone sequence must continue where the source's was"
    assert event == (3001,)
    assert posting == (1501, 7)
    assert assert_sequences_do_not_collide(target_dsn)


# ---------------------------------------------------------------------------- refusals ---------


def test_restore_into_a_non_empty_target_is_refused_and_changes_nothing(
    snapshot: Manifest, target_dsn: str, store: Path
) -> None:
    run(target_dsn, "CREATE TABLE public.stray (x integer); INSERT INTO public.stray VALUES (1)")
    before = target_state(target_dsn)
    with pytest.raises(TargetNotEmpty) as refused:
        restore_snapshot(target_dsn, store, dataset=DATASET, version="v1")
    assert "\n" not in str(refused.value) and "clean" in str(refused.value)
    assert target_state(target_dsn) == before


def test_clean_restore_replaces_the_snapshot_objects(
    snapshot: Manifest, source: str, target_dsn: str, store: Path
) -> None:
    restore_snapshot(target_dsn, store, dataset=DATASET, version="v1")
    run(
        target_dsn,
        """
        DELETE FROM public.tags WHERE id > 10;
        UPDATE public.numbers SET n = 42 WHERE id = 2;
        DROP INDEX public.people_manager_idx;
        DROP TABLE ledger."MixedCase";
        ALTER SEQUENCE ledger.invoice_no RESTART WITH 5;
    """,
    )
    with pytest.raises(TargetNotEmpty):
        restore_snapshot(target_dsn, store, dataset=DATASET, version="v1")
    restore_snapshot(target_dsn, store, dataset=DATASET, version="v1", clean=True)
    assert_round_trip_exact(source, target_dsn)


# ---------------------------------------------------------------------------- failures ---------


def sabotage_people(store: Path, manifest: Manifest) -> None:
    """Give public.people every row twice, with a manifest that agrees: the files verify and
    load, and the restore fails late, when post-data adds the primary key."""
    folder = version_dir(store, manifest)
    manifest_path = folder / "manifest.json"
    raw = json.loads(manifest_path.read_text())
    people = table_entry(raw, "public", "people")
    first = people["files"][0]
    doubled = pq.read_table(folder / first["path"])
    rewrite_file_entry(folder, first, pa.concat_tables([doubled, doubled]))
    people["rows"] = sum(f["rows"] for f in people["files"])
    people["bytes"] = sum(f["bytes"] for f in people["files"])
    forged = Manifest.from_json(json.dumps(raw).encode(), where=str(manifest_path))
    sign(forged, os.environ["ANONYMISER_SIGNING_KEY"].encode())  # a forger holding the key
    manifest_path.write_bytes(forged.to_json())


def test_restore_failing_halfway_leaves_an_empty_target_empty(
    snapshot: Manifest, target_dsn: str, store: Path
) -> None:
    sabotage_people(store, snapshot)
    before = target_state(target_dsn)
    with pytest.raises(RestoreError) as failed:
        restore_snapshot(target_dsn, store, dataset=DATASET, version="v1")
    message = str(failed.value)
    assert "\n" not in message, message
    assert "people" in message, f"failed for another reason than the doubled rows: {message}"
    assert not isinstance(failed.value, TargetNotEmpty)
    assert target_state(target_dsn) == before


def test_clean_restore_failing_halfway_keeps_the_previous_contents(
    snapshot: Manifest, source: str, target_dsn: str, store: Path
) -> None:
    restore_snapshot(target_dsn, store, dataset=DATASET, version="v1")
    broken = create_snapshot(source, store, dataset=DATASET, version="v2-broken", unmasked=True)
    sabotage_people(store, broken)
    with pytest.raises(RestoreError) as failed:
        restore_snapshot(target_dsn, store, dataset=DATASET, version="v2-broken", clean=True)
    message = str(failed.value)
    assert "\n" not in message, message
    assert "people" in message, f"failed for another reason than the doubled rows: {message}"
    assert_same_schema(source, target_dsn)
    assert_same_data(source, target_dsn)


def test_corrupt_file_is_refused_before_the_target_is_touched(
    snapshot: Manifest, target_dsn: str, store: Path
) -> None:
    folder = version_dir(store, snapshot)
    victim = next(t for t in snapshot.tables if t.name == "numbers").files[0]
    data = bytearray((folder / victim.path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / victim.path).write_bytes(bytes(data))
    before = target_state(target_dsn)
    with pytest.raises(IntegrityError) as refused:
        restore_snapshot(target_dsn, store, dataset=DATASET, version="v1")
    assert "\n" not in str(refused.value)
    assert Path(victim.path).name in str(refused.value)
    assert target_state(target_dsn) == before


@pytest.mark.parametrize(
    ("dataset", "version"),
    [("no-such-dataset", None), ("no-such-dataset", "v1"), (DATASET, "no-such-version")],
    ids=["unknown-dataset-latest", "unknown-dataset-version", "unknown-version"],
)
def test_unknown_dataset_or_version_raises_not_found(
    snapshot: Manifest, target_dsn: str, store: Path, dataset: str, version: str | None
) -> None:
    with pytest.raises(NotFound) as missing:
        restore_snapshot(target_dsn, store, dataset=dataset, version=version)
    assert "\n" not in str(missing.value)
    assert fetch(
        target_dsn,
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = 'public'",
    ) == [(0,)]
