"""Subset datasets on real PostgreSQL: closure through composite FKs, self-references and
cycles; the demo's 2024 / pre-2024 / 2025 definitions restore with every FK valid and
2024 + pre-2024 cover fullset; definitions that cannot give a closed subset are refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from anonymiser.catalog import read_catalog
from anonymiser.demo import load_demo
from anonymiser.errors import ConfigError
from anonymiser.pg.ephemeral import EphemeralCluster
from anonymiser.snapshot import create_snapshot, restore_snapshot
from anonymiser.subset.closure import dangling_references
from tests.conftest import MakeDatabase

PROJECT_DATASETS = Path(__file__).resolve().parents[2] / "snapshots"
DEMO_DATASETS = ("fullset", "2024", "pre-2024", "2025")


def keys(dsn: str) -> dict[str, set[tuple[object, ...]]]:
    """Primary keys of every table holding rows (leaf partitions included), by table."""
    found = {}
    with psycopg.connect(dsn) as conn:
        for table in read_catalog(conn).data_tables():
            query = sql.SQL("SELECT {} FROM ONLY {}").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in table.primary_key),
                sql.Identifier(table.schema, table.name),
            )
            found[table.qualified] = set(conn.execute(query).fetchall())
    return found


def column(dsn: str, query: str) -> set[object]:
    with psycopg.connect(dsn) as conn:
        return {row[0] for row in conn.execute(query)}


# -- the demo's datasets ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(
    pg_cluster: EphemeralCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    """(source DSN, dataset -> DSN of a fresh database its snapshot was restored into)."""
    names = []

    def database(prefix: str) -> str:
        names.append(f"{prefix}_{uuid.uuid4().hex[:8]}")
        return pg_cluster.create_database(names[-1])

    source = database("demo")
    load_demo(source, scale=2)
    store = tmp_path_factory.mktemp("subset-store")
    restored = {}
    for name in DEMO_DATASETS:
        create_snapshot(source, store, name, jobs=3, datasets_dir=PROJECT_DATASETS, unmasked=True)
        # restore creates the foreign keys after the data: a dangling row would fail it
        restored[name] = database("restored")
        restore_snapshot(restored[name], store, name)
    yield source, restored
    for name in names:
        pg_cluster.drop_database(name)


@pytest.mark.parametrize("dataset", DEMO_DATASETS)
def test_demo_dataset_restores_with_every_foreign_key_resolving(
    demo: tuple[str, dict[str, str]], dataset: str
) -> None:
    _, restored = demo
    with psycopg.connect(restored[dataset]) as conn:
        assert dangling_references(conn, read_catalog(conn)) == []


def test_2024_and_pre_2024_together_cover_fullset_by_primary_key(
    demo: tuple[str, dict[str, str]],
) -> None:
    source, restored = demo
    full, recent, older = (keys(restored[n]) for n in ("fullset", "2024", "pre-2024"))
    assert full == keys(source)
    for table, rows in full.items():
        # every table has rows but the default partition of the audit log
        assert rows or table == "public.audit_log_other", f"{table} is empty in the demo data"
        missing = rows - recent[table] - older[table]
        assert not missing, f"{table}: {len(missing)} rows in neither 2024 nor pre-2024"
        assert recent[table] <= rows and older[table] <= rows
    assert sum(map(len, recent.values())) < sum(map(len, full.values()))
    assert sum(map(len, older.values())) < sum(map(len, full.values()))


def test_2024_holds_accredited_providers_active_2024_to_2026_with_full_history(
    demo: tuple[str, dict[str, str]],
) -> None:
    source, restored = demo
    active = column(
        source,
        "SELECT DISTINCT accredited_provider_id FROM partnerships "
        "WHERE academic_year BETWEEN 2024 AND 2026",
    )
    subset = restored["2024"]
    assert column(subset, "SELECT id FROM providers WHERE kind = 'accredited'") >= active
    history = "SELECT (accredited_provider_id, training_provider_id, academic_year)::text FROM "
    in_source = column(
        source,
        history + f"partnerships WHERE accredited_provider_id IN ({','.join(map(str, active))})",
    )
    assert column(subset, history + "partnerships") >= in_source
    assert {int(p.split(",")[2].rstrip(")")) for p in in_source} > {2024, 2025, 2026}
    partners = column(subset, "SELECT training_provider_id FROM partnerships")
    assert partners <= column(subset, "SELECT id FROM providers WHERE kind = 'training'")


def test_2025_is_within_2024(demo: tuple[str, dict[str, str]]) -> None:
    _, restored = demo
    recent, coming = keys(restored["2024"]), keys(restored["2025"])
    for table, rows in coming.items():
        assert rows <= recent[table], table


# -- closure mechanics on a small schema -----------------------------------------------------

GRAPH_SQL = """
CREATE TABLE org (id int PRIMARY KEY, parent_id int REFERENCES org (id), head_id int);
CREATE TABLE person (id int PRIMARY KEY, org_id int NOT NULL REFERENCES org (id),
                     mentor_id int REFERENCES person (id));
ALTER TABLE org ADD FOREIGN KEY (head_id) REFERENCES person (id);  -- a cycle org <-> person
CREATE TABLE slot (org_id int REFERENCES org (id), n int, label text, PRIMARY KEY (org_id, n));
CREATE TABLE booking (id int PRIMARY KEY, org_id int, n int, person_id int REFERENCES person,
                      note text, FOREIGN KEY (org_id, n) REFERENCES slot (org_id, n));
CREATE TABLE unrelated (id int PRIMARY KEY);
CREATE TABLE nokey (org_id int REFERENCES org (id));
INSERT INTO org VALUES (1, NULL, NULL), (2, 1, NULL), (3, 2, NULL), (4, NULL, NULL),
                       (5, NULL, NULL);
INSERT INTO person VALUES (10, 1, NULL), (11, 1, 10), (12, 4, NULL), (13, 5, NULL),
                          (14, 1, NULL), (15, 1, NULL);
UPDATE org SET head_id = 12 WHERE id = 3;
UPDATE org SET head_id = 13 WHERE id = 4;
INSERT INTO slot VALUES (3, 1, 'x'), (3, 2, 'y'), (5, 1, 'z');
INSERT INTO booking VALUES (100, 3, 2, 11, 'a 100% match'), (101, 5, 1, NULL, 'other'),
                           (102, NULL, NULL, NULL, 'no slot');
INSERT INTO unrelated VALUES (1);
INSERT INTO nokey VALUES (5);
"""


def subset_keys(
    source: str, make_database: MakeDatabase, tmp_path: Path, definition: str
) -> dict[str, set[tuple[object, ...]]]:
    folder = tmp_path / "snapshots"
    folder.mkdir(exist_ok=True)
    (folder / "sub.yaml").write_text("name: sub\n" + definition)
    store = tmp_path / "store"
    create_snapshot(source, store, "sub", datasets_dir=folder, jobs=2, unmasked=True)
    target = make_database("sub")
    restore_snapshot(target, store, "sub")
    with psycopg.connect(target) as conn:
        assert dangling_references(conn, read_catalog(conn)) == []
    return {name.removeprefix("public."): rows for name, rows in keys(target).items()}


@pytest.fixture
def graph(source_dsn: str) -> str:
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute(GRAPH_SQL)
    return source_dsn


def test_root_pulls_parents_through_composite_fk_self_reference_and_cycle(
    graph: str, make_database: MakeDatabase, tmp_path: Path
) -> None:
    got = subset_keys(
        graph,
        make_database,
        tmp_path,
        "tables: {exclude: [public.nokey]}\n"
        "subset:\n  roots:\n    - {table: booking, where: \"note LIKE '%100\\\\%%'\"}\n",
    )
    # booking 100 -> slot (3, 2) -> org 3 -> parents 2, 1; -> person 11 -> mentor 10;
    # org 3's head 12 -> org 4 -> head 13 -> org 5 (the org <-> person cycle)
    assert got["booking"] == {(100,)}
    assert got["slot"] == {(3, 2)}
    assert got["org"] == {(1,), (2,), (3,), (4,), (5,)}
    assert got["person"] == {(10,), (11,), (12,), (13,)}
    assert got["unrelated"] == set()


def test_follow_pulls_children_at_most_limit_per_parent_lowest_keys_first(
    graph: str, make_database: MakeDatabase, tmp_path: Path
) -> None:
    got = subset_keys(
        graph,
        make_database,
        tmp_path,
        "tables: {exclude: [public.nokey]}\n"
        'subset:\n  roots:\n    - {table: org, where: "id = 1"}\n    - {table: unrelated}\n'
        "  follow:\n    - {from: org, to: person, via: org_id, limit: 2}\n"
        "    - {from: org, to: org, via: parent_id}\n",
    )
    # org 1 -> children orgs 2 -> 3 (self-reference followed down); persons of org 1 limited
    # to 10 and 11; org 3's head 12 pulls org 4, whose head 13 pulls org 5
    assert got["org"] == {(1,), (2,), (3,), (4,), (5,)}
    assert {(10,), (11,)} <= got["person"]
    assert (14,) not in got["person"] and (15,) not in got["person"]
    assert got["unrelated"] == {(1,)}
    assert got["booking"] == set() and got["slot"] == set()


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        (
            "tables: {exclude: [public.org]}\nsubset:\n  roots:\n    - {table: person}\n",
            "but public.org is excluded: a subset must hold what it references",
        ),
        (
            "subset:\n  roots:\n    - {table: org, where: \"colour = 'red'\"}\n",
            "root 1 (public.org): the filter names colour, not a column of public.org",
        ),
        (
            "subset:\n  roots:\n    - {table: org, where: \"parent_id = 'abc'\"}\n",
            "root 1 (public.org): the filter \"parent_id = 'abc'\" is refused by the source",
        ),
        (
            "subset:\n  roots:\n    - {table: nosuch}\n",
            "root 1 (public.nosuch): no table public.nosuch",
        ),
        (
            "subset:\n  roots:\n    - {table: org}\n  follow:\n    - {from: org, to: nokey}\n",
            "public.nokey has no primary key",
        ),
        (
            "subset:\n  roots:\n    - {table: org}\n  follow:\n    - {from: unrelated, to: org}\n",
            "no foreign key of public.org references public.unrelated",
        ),
    ],
    ids=["excluded parent", "unknown column", "server refuses", "no table", "no key", "no fk"],
)
def test_definition_that_cannot_give_a_closed_subset_is_refused(
    graph: str, tmp_path: Path, definition: str, message: str
) -> None:
    (tmp_path / "bad.yaml").write_text("name: bad\n" + definition)
    with pytest.raises(ConfigError) as info:
        create_snapshot(graph, tmp_path / "store", "bad", datasets_dir=tmp_path, unmasked=True)
    assert message in str(info.value)
    assert "bad.yaml" in str(info.value)
    assert not (tmp_path / "store" / "bad").exists() or not list(
        (tmp_path / "store" / "bad").glob("*/manifest.json")
    )
