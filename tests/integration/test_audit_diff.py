"""Rules audit against a real source schema, and snapshot diff between two real snapshots."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from anonymiser.config import key_fingerprint
from anonymiser.datasets import load_dataset
from anonymiser.demo import demo_rules_dir, load_demo
from anonymiser.diff import RULES_NOT_RECORDED, diff_snapshots
from anonymiser.diff_render import render_diff
from anonymiser.errors import IntegrityError, NotFound
from anonymiser.pg.ephemeral import EphemeralCluster
from anonymiser.rules import load_rules, read_source_catalog
from anonymiser.rules.audit import audit_rules, build_audit
from anonymiser.rules.audit_render import render_audit
from anonymiser.snapshot import create_snapshot, load_manifest, verify_snapshot

KEY = b"diff-test-key-0123456789abcdef"
OTHER_KEY = b"diff-test-key-rotated-987654321"


def execute(dsn: str, statement: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement.encode())


@pytest.fixture(scope="module")
def demo_schema_dsn(pg_cluster: EphemeralCluster) -> Iterator[str]:
    """The demo database: a read-only source for the audit tests of this module."""
    dsn = pg_cluster.create_database("audit_demo")
    load_demo(dsn, 1)
    yield dsn
    pg_cluster.drop_database("audit_demo")


def test_audit_with_source_adds_types_and_key_roles_and_finds_no_gap(
    demo_schema_dsn: str,
) -> None:
    report = audit_rules(demo_rules_dir(), demo_schema_dsn)
    rows = {(r.table, r.column): r for r in report.rows}
    assert report.source_read and not report.missing and not report.stale
    assert rows[("public.trainees", "id")].keys == "PK"
    assert rows[("public.trainees", "course_id")].keys == "FK -> public.courses.id"
    assert "unique" in rows[("public.users", "email")].keys
    assert rows[("public.trainees", "date_of_birth")].pg_type == "date"
    # an FK column masks in the namespace of the column it references
    assert rows[("public.trainees", "created_by_email")].namespace == "public.users.email"
    text = render_audit(report, "md")
    assert "| public.trainees | course\\_id | integer | FK -> public.courses.id | keep |" in text
    assert "| columns without a rule | 0 |" in text


def test_audit_with_source_lists_columns_without_rules_and_rules_without_columns(
    source_dsn: str, tmp_path: Path
) -> None:
    execute(source_dsn, "CREATE TABLE staff (id int PRIMARY KEY, email text, phone text)")
    (tmp_path / "staff.yaml").write_text(
        "tables:\n  public.staff:\n    columns:\n"
        "      id: {strategy: keep, reason: key}\n"
        "      email: {strategy: fake, provider: email, reason: direct identifier}\n"
        "      fax: {strategy: redact, reason: dropped in 2019}\n"
        "  public.gone:\n    columns:\n      id: {strategy: keep, reason: key}\n"
    )
    report = build_audit(load_rules(tmp_path), read_source_catalog(source_dsn))
    assert [(r.table, r.column, r.pg_type) for r in report.missing] == [
        ("public.staff", "phone", "text")
    ]
    assert sorted(p.rule for p in report.stale) == ["public.gone", "public.staff.fax"]
    text = render_audit(report, "md")
    assert "- no rule: public.staff.phone (text)" in text
    assert "rule for nothing:" in text and "public.staff.fax: no such column" in text
    assert "| public.staff | phone | text |  | (no rule) |" in text
    assert "| columns without a rule | 1 |" in text and "| rules for no column | 2 |" in text


SOURCE_V1 = """
CREATE TABLE providers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE staff (
    id          serial PRIMARY KEY,
    provider_id int NOT NULL REFERENCES providers (id),
    email       text NOT NULL UNIQUE,
    surname     text
);
INSERT INTO providers VALUES (1, 'North College'), (2, 'South Academy');
INSERT INTO staff (provider_id, email, surname)
SELECT 1 + g % 2, 'staff' || g || '@example.org', 'Surname' || g FROM generate_series(1, 40) g;
"""
RULES_V1 = """tables:
  public.providers:
    columns:
      id:   {strategy: keep, reason: key}
      name: {strategy: keep, reason: "organisation name, public register"}
  public.staff:
    columns:
      id:          {strategy: keep, reason: surrogate key}
      provider_id: {strategy: keep, reason: key of a provider}
      email:       {strategy: fake, provider: email, reason: direct identifier}
      surname:     {strategy: redact, reason: direct identifier}
"""
# the migration: a new column with its rule, a changed strategy, more rows
MIGRATION = """
ALTER TABLE staff ADD COLUMN phone text;
INSERT INTO staff (provider_id, email, surname, phone)
SELECT 2, 'new' || g || '@example.org', 'New' || g, '07700 900' || lpad(g::text, 3, '0')
FROM generate_series(1, 10) g;
"""
RULES_V2 = RULES_V1.replace(
    "surname:     {strategy: redact, reason: direct identifier}",
    "surname:     {strategy: fake, provider: last_name, reason: direct identifier}\n"
    "      phone:       {strategy: fake, provider: phone_number, reason: direct identifier}",
)
DATASET = "name: yearly\ndescription: {}\ntables:\n  include: ['public.*']\n"


@pytest.fixture
def two_versions(source_dsn: str, tmp_path: Path) -> Path:
    """A store holding yearly/v1 and, after a migration and a rules change, yearly/v2."""
    store = tmp_path / "store"
    execute(source_dsn, SOURCE_V1)
    for version, rules_text, key, description in (
        ("v1", RULES_V1, KEY, "first cut"),
        ("v2", RULES_V2, OTHER_KEY, "second cut"),
    ):
        if version == "v2":
            execute(source_dsn, MIGRATION)
        rules = tmp_path / f"rules-{version}"
        rules.mkdir()
        (rules / "all.yaml").write_text(rules_text)
        datasets = tmp_path / f"datasets-{version}"
        datasets.mkdir()
        (datasets / "yearly.yaml").write_text(DATASET.format(description))
        create_snapshot(
            source_dsn,
            store,
            "yearly",
            version,
            rules_dir=rules,
            datasets_dir=datasets,
            key=key,
        )
    return store


def test_snapshot_keeps_its_rules_copy_and_dataset_definition(
    two_versions: Path, tmp_path: Path
) -> None:
    manifest = load_manifest(two_versions, "yearly", "v1")
    entry = manifest.schema_files["rules"]
    copy = json.loads((two_versions / "yearly" / "v1" / entry.path).read_bytes())
    assert copy["rules_hash"] == manifest.masking["rules_hash"]
    assert manifest.masking["rules_hash"] == load_rules(tmp_path / "rules-v1").digest()
    assert copy["tables"]["public.staff"]["surname"]["reason"] == "direct identifier"
    assert manifest.dataset_definition == {
        "name": "yearly",
        "description": "first cut",
        "include": ["public.*"],
        "exclude": [],
    }
    verify_snapshot(two_versions, "yearly", "v1")  # the copy is checksummed like every file


def test_diff_reports_rule_schema_row_key_and_definition_changes(two_versions: Path) -> None:
    diff = diff_snapshots(two_versions, "yearly", "v1", "v2")
    rules = {(c.kind, c.subject): c.detail for c in diff.rules}
    assert rules == {
        ("added", "public.staff.phone"): "fake provider=phone_number (direct identifier)",
        ("changed", "public.staff.surname"): "strategy: redact -> fake; provider: - -> last_name",
    }
    assert diff.rules_basis == "the rule sets published with both versions"
    assert diff.rules_hash.changed
    schema = {(c.kind, c.subject): c.detail for c in diff.schema}
    assert schema == {("added", "public.staff.phone"): "column (text)"}
    rows = {r.table: (r.old, r.new, r.delta) for r in diff.rows}
    assert rows == {"public.providers": (2, 2, 0), "public.staff": (40, 50, 10)}
    assert diff.key_fingerprint.old == key_fingerprint(KEY)
    assert diff.key_fingerprint.new == key_fingerprint(OTHER_KEY)
    assert not diff.tool_version.changed
    assert [(c.subject, c.detail) for c in diff.definition] == [
        ("description", "first cut -> second cut")
    ]
    text = render_diff(diff, "text")
    assert "masking key fingerprint: CHANGED" in text
    assert "  ~ public.staff.surname: strategy: redact -> fake" in text
    assert "  public.staff       40   50    +10  +25.0%" in text
    as_json = json.loads(render_diff(diff, "json"))
    assert as_json["rows"][1]["percent"] == 25.0 and as_json["rules_hash"]["changed"] is True
    assert "| changed | public.staff.surname |" in render_diff(diff, "md")


def test_diff_of_an_older_snapshot_without_a_rules_copy_says_rules_not_recorded(
    two_versions: Path,
) -> None:
    path = two_versions / "yearly" / "v1" / "manifest.json"
    older = json.loads(path.read_text())
    del older["schema_files"]["rules"], older["dataset_definition"]  # as published before
    path.write_text(json.dumps(older))
    # editing the manifest broke its signature: this test accepts it
    diff = diff_snapshots(two_versions, "yearly", "v1", "v2", allow_unsigned=True)
    assert diff.rules_basis.startswith(f"{RULES_NOT_RECORDED} in v1")
    assert diff.definition_note == "dataset definition not recorded in v1"
    rules = {(c.kind, c.subject): c.detail for c in diff.rules}
    # the manifests' masking records still show the strategy change and the namespace used,
    # without reasons
    assert rules[("changed", "public.staff.surname")] == (
        "strategy: redact -> fake; provider: - -> last_name"
    )
    assert rules[("added", "public.staff.phone")] == (
        "fake namespace=public.staff.phone, provider=phone_number"
    )
    assert RULES_NOT_RECORDED in render_diff(diff, "text")


def test_diff_refuses_a_manifest_whose_signature_does_not_hold(two_versions: Path) -> None:
    path = two_versions / "yearly" / "v2" / "manifest.json"
    tampered = json.loads(path.read_text())
    tampered["tables"][0]["rows"] += 1  # a row count edited after publishing
    path.write_text(json.dumps(tampered))
    with pytest.raises(IntegrityError, match="v2"):
        diff_snapshots(two_versions, "yearly", "v1", "v2")
    diff = diff_snapshots(two_versions, "yearly", "v1", "v2", allow_unsigned=True)
    assert diff.versions.new == "v2"


def test_diff_of_an_unknown_version_is_not_found(two_versions: Path) -> None:
    with pytest.raises(NotFound, match="no complete version 'v9'"):
        diff_snapshots(two_versions, "yearly", "v1", "v9")


def test_dataset_definition_records_subset_filters_in_canonical_form(tmp_path: Path) -> None:
    (tmp_path / "sub.yaml").write_text(
        "name: sub\ntables: {include: ['*']}\nsubset:\n  roots:\n"
        '    - {table: providers, where: "id   IN (1,2)"}\n'
        "  follow:\n    - {from: providers, to: staff, limit: 3}\n"
    )
    described = load_dataset("sub", tmp_path).describe()
    assert described["subset"] == {
        "roots": [{"table": "public.providers", "where": "id IN (1, 2)"}],
        "follow": [{"from": "public.providers", "to": "public.staff", "via": [], "limit": 3}],
    }
