"""The verification gate on a real PostgreSQL: each check catches a broken output, names the
culprit, and nothing is published."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import anonymiser.snapshot as snapshot_module
from anonymiser.errors import VerificationFailed
from anonymiser.maskers import presidio
from anonymiser.snapshot import create_snapshot, load_manifest
from anonymiser.stages.extract import Extracted
from anonymiser.verify import VerifySettings
from anonymiser.verify import leaks as leak_module
from anonymiser.verify.patterns import ENTRY_BYTES
from tests.cli.test_cli import assert_one_line_error
from tests.conftest import TEST_MASKING_KEY

KEY = TEST_MASKING_KEY.encode()
SCHEMA = """
CREATE DOMAIN badge_code AS text CHECK (VALUE ~ '^[A-Z]{6}$');
CREATE TABLE teams (
    region text NOT NULL,
    code   text NOT NULL,
    label  text NOT NULL UNIQUE,
    PRIMARY KEY (region, code)
);
CREATE TABLE people (
    id      int PRIMARY KEY,
    email   text NOT NULL UNIQUE,
    phone   text NOT NULL,
    badge   badge_code,
    band    int CHECK (band BETWEEN 1 AND 9),
    region  text,
    team    text,
    profile jsonb,
    notes   text,
    FOREIGN KEY (region, team) REFERENCES teams (region, code)
);
CREATE TABLE logins (
    id           int PRIMARY KEY,
    person_email text REFERENCES people (email),
    username     text
);
INSERT INTO teams SELECT 'r' || (g % 3), 't' || g, 'Team ' || g FROM generate_series(1, 12) g;
INSERT INTO people
SELECT g, 'person' || g || '@corp.example', '07700 900' || lpad(g::text, 3, '0'),
       'ABCDEF', 1 + g % 9, 'r' || ((g % 12 + 1) % 3), 't' || (g % 12 + 1),
       jsonb_build_object('contact', jsonb_build_object('email', 'person' || g || '@corp.example')),
       CASE WHEN g % 2 = 0
            THEN 'Rang about the course; said to call 020 7946 0' || lpad(g::text, 3, '0') END
FROM generate_series(1, 200) g;
UPDATE people SET region = NULL WHERE id % 10 = 0;  -- MATCH SIMPLE: exempt from the FK
INSERT INTO logins SELECT g, 'person' || (g % 200 + 1) || '@corp.example', 'user' || g
FROM generate_series(1, 300) g;
"""
RULES = """
tables:
  public.teams:
    defaults: {strategy: keep, reason: "organisation data"}
    columns: {region: {}, code: {}, label: {}}
  public.people:
    columns:
      id:      {strategy: keep, reason: surrogate key}
      email:   {strategy: fake, provider: email, reason: "direct identifier, unique"}
      phone:   {strategy: fake, provider: phone_number, reason: direct identifier}
      badge:   {strategy: keep, reason: "one code for everyone"}
      band:    {strategy: keep, reason: pay band}
      region:  {strategy: keep, reason: FK}
      team:    {strategy: keep, reason: FK}
      profile:
        strategy: json
        reason: "contact details"
        paths:
          "$.contact.email": {strategy: fake, provider: email, namespace: public.people.email}
      notes:   {strategy: presidio, reason: free text}
  public.logins:
    columns:
      id:           {strategy: keep, reason: surrogate key}
      person_email: {strategy: fake, provider: email, reason: "FK onto people.email"}
      username:     {strategy: keep, reason: "login name"}
"""


@pytest.fixture
def source(source_dsn: str) -> str:
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute(SCHEMA.encode())
    return source_dsn


def write_rules(folder: Path, text: str = RULES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.yaml").write_text(text)
    return folder


def create(source: str, tmp_path: Path, name: str = "", rules: str = RULES, **options: Any) -> Path:
    """Create fullset v1 of `source` into tmp_path/store<name> with these rules; the store."""
    store = tmp_path / f"store{name}"
    rules_dir = write_rules(tmp_path / f"rules{name}", rules)
    create_snapshot(source, store, "fullset", "v1", rules_dir=rules_dir, key=KEY, **options)
    return store


Corruption = Callable[[pa.Table, pa.Table], pa.Table]  # (original, masked) -> new masked


def corrupt_after_mask(monkeypatch: pytest.MonkeyPatch, table: str, change: Corruption) -> None:
    """Make the mask stage write a broken `table` (first part file), as a masker bug would."""
    real_mask = snapshot_module.mask

    def broken_mask(extracted: Extracted, *args: Any, **kwargs: Any) -> Any:
        masked, stats = real_mask(extracted, *args, **kwargs)
        item = next(i for i in masked.tables if i.table.name == table)
        rel = item.files[0][0]
        original = pq.read_table(extracted.root / rel)
        pq.write_table(change(original, pq.read_table(masked.root / rel)), masked.root / rel)
        return masked, stats

    monkeypatch.setattr(snapshot_module, "mask", broken_mask)


def set_cell(column: str, row: int, value: Any) -> Corruption:
    def change(_: pa.Table, masked: pa.Table) -> pa.Table:
        values = masked[column].to_pylist()
        values[row] = value
        index = masked.schema.get_field_index(column)
        field = masked.schema.field(index)
        field = field.with_nullable(field.nullable or value is None)
        return masked.set_column(index, field, pa.array(values, field.type))

    return change


def copy_original(column: str, row: int) -> Corruption:
    def change(original: pa.Table, masked: pa.Table) -> pa.Table:
        return set_cell(column, row, original[column][row].as_py())(original, masked)

    return change


def copy_from_row(column: str, source_row: int, row: int) -> Corruption:
    def change(original: pa.Table, masked: pa.Table) -> pa.Table:
        return set_cell(column, row, masked[column][source_row].as_py())(original, masked)

    return change


def first_notes_row(_: pa.Table, masked: pa.Table) -> int:
    return next(i for i, v in enumerate(masked["notes"].to_pylist()) if v)


CASES = {
    "dangling foreign key": (
        "logins", set_cell("person_email", 0, "nobody@nowhere.example"),
        "foreign_key public.logins.person_email (rule fake): 1 failing",
    ),
    "duplicate in a unique column": (
        "people", copy_from_row("email", 0, 1), "unique public.people.email (rule fake): 1 failing"
    ),
    "source email left in a JSON document": (
        "people", copy_original("profile", 0), "leak public.people.email (rule fake): 1 failing"
    ),
    "phone number left in free text": (
        "people", copy_original("notes", 1), "presidio public.people.notes (rule presidio): 1"
    ),
    "NOT NULL column nulled": (
        "people", set_cell("phone", 3, None), "not_null public.people.phone (rule fake): 1 failing"
    ),
    "rows lost": (
        "people", lambda _, masked: masked.slice(0, masked.num_rows - 2),
        "row_count public.people: 2 failing of 200",
    ),
}  # fmt: skip


def assert_nothing_published(store: Path) -> None:
    assert not [p for p in (store / "fullset").rglob("*") if p.is_file()]


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_output_is_not_published_and_the_check_names_the_culprit(
    case: str, source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table, change, expected = CASES[case]
    corrupt_after_mask(monkeypatch, table, change)
    with pytest.raises(VerificationFailed) as failed:
        create(source, tmp_path)
    message = str(failed.value)
    assert expected in message
    assert "\n" not in message and "nothing was published" in message
    assert failed.value.exit_code == 10
    assert_nothing_published(tmp_path / "store")


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("band", 42, "check public.people.band (rule constant): 200 failing of 200"),
        ("badge", "abc", "domain public.people.badge (rule constant): 200 failing of 200"),
    ],
)
def test_rule_breaking_a_check_or_domain_constraint_is_caught_on_the_source_server(
    column: str, value: object, expected: str, source: str, tmp_path: Path
) -> None:
    rules = RULES.replace(
        f"{column}:", f"{column}: {{strategy: constant, value: {value!r}, reason: test}} #", 1
    )
    with pytest.raises(VerificationFailed) as failed:
        create(source, tmp_path, rules=rules)
    assert expected in str(failed.value)
    assert_nothing_published(tmp_path / "store")


def test_clean_snapshot_records_every_check_operator_and_reason(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    store = create(
        source,
        tmp_path,
        reason="yearly 2025 cut",
        operator="alice",
        verification=VerifySettings(presidio_sample=0),
    )
    manifest = load_manifest(store, "fullset", "v1")
    verification = manifest.verification
    assert verification["passed"] is True
    assert verification["settings"]["presidio_sample"] == 0
    names = {c["name"] for c in verification["checks"]}
    assert {"row_count", "foreign_key", "unique", "not_null", "leak", "presidio"} <= names
    fks = {c["column"]: c for c in verification["checks"] if c["name"] == "foreign_key"}
    assert fks["region,team"]["checked"] == 200 and fks["region,team"]["failures"] == 0
    leak = next(c for c in verification["checks"] if c["name"] == "leak" and c["column"] == "email")
    assert leak["checked"] >= 200 and leak["rule"] == "fake"
    assert manifest.operator == {"name": "alice", "ci_actor": "ci-bot"}
    assert manifest.reason == "yearly 2025 cut"
    assert manifest.timings["verify"] > 0
    # the known values' index of the free-text scrubbing is not held past the mask stage
    assert presidio._shared_known == []


def test_unmasked_snapshot_still_checks_row_counts_and_foreign_keys(
    source: str, tmp_path: Path
) -> None:
    create_snapshot(source, tmp_path / "store", "fullset", "v1", unmasked=True)
    checks = load_manifest(tmp_path / "store", "fullset", "v1").verification["checks"]
    assert {c["name"] for c in checks} == {"row_count", "foreign_key"}


def test_cli_create_exits_10_with_one_line_naming_the_leak(source: str, tmp_path: Path) -> None:
    # a kept username holding the very email that is masked: a leak the rules let through
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("UPDATE logins SET username = person_email")
    store = tmp_path / "store"
    done = subprocess.run(
        [
            sys.executable, "-m", "anonymiser.cli", "snapshot", "create", "fullset",
            "--source", source, "--store", str(store), "--version", "v1",
            "--rules", str(write_rules(tmp_path / "rules")), "--operator", "bob",
        ],
        capture_output=True, text=True, env={**os.environ, "ANONYMISER_KEY": TEST_MASKING_KEY},
        check=False,
    )  # fmt: skip
    assert_one_line_error(
        done,
        VerificationFailed.exit_code,
        "leak public.people.email (rule fake)",
        "public.logins.username (300 rows)",
    )
    assert "stage_failed dataset=fullset version=v1 stage=verify" in done.stderr
    assert_nothing_published(store)


def test_every_failure_is_reported_in_one_order_whatever_the_jobs(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's checks run in a thread beside the others, and the leak check's search in
    two threads at --jobs 2: the same failures, listed in the same order, as at --jobs 1."""
    corrupt_after_mask(monkeypatch, "logins", set_cell("person_email", 0, "nobody@x.example"))
    corrupt_after_mask(monkeypatch, "people", copy_original("profile", 0))
    rules = RULES.replace("band:", "band: {strategy: constant, value: 42, reason: test} #", 1)
    messages = []
    for jobs in (1, 2):
        with pytest.raises(VerificationFailed) as failed:
            create(source, tmp_path, str(jobs), rules, jobs=jobs)
        messages.append(str(failed.value))
        assert_nothing_published(tmp_path / f"store{jobs}")
    assert messages[0] == messages[1]
    failing = [
        "foreign_key public.logins.person_email (rule fake): 1 failing",
        "check public.people.band (rule constant): 200 failing",
        "leak public.people.email (rule fake): 1 failing",
    ]
    at = [messages[0].index(expected) for expected in failing]
    assert at == sorted(at)


def test_leaks_searched_in_many_parts_are_reported_as_in_one(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A tiny index budget splits the originals by hash into many parts, the output searched
    once per part: the same leak results (checked, failing, where) as one part gives."""
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO people (id, email, phone) VALUES (201, 'zoë@corp.example', '07700 1')"
        )
    leaks = [
        "person5@corp.example",  # a whole value
        "person6@corp.example, person7@corp.example",  # two of one column: one row
        "write to person9@corp.example or call 07700 900012",  # whole words in text
        '{"to": "zo\\u00eb@corp.example"}',  # JSON-escaped
        "07700 900150",
    ]
    for row, value in enumerate(leaks):
        corrupt_after_mask(monkeypatch, "logins", set_cell("username", row, value))
    corrupt_after_mask(monkeypatch, "people", copy_original("profile", 0))
    reports = []
    real_verify = snapshot_module.verify

    def kept_verify(*args: Any, **kwargs: Any) -> Any:
        reports.append(real_verify(*args, **kwargs))
        return reports[-1]

    monkeypatch.setattr(snapshot_module, "verify", kept_verify)
    caplog.set_level(logging.INFO, logger=leak_module.__name__)
    for budget in (leak_module.INDEX_BUDGET, 40 * ENTRY_BYTES):
        monkeypatch.setattr(leak_module, "INDEX_BUDGET", budget)
        with pytest.raises(VerificationFailed):
            create(source, tmp_path, str(budget))
    one, many = (
        [(c.table, c.column, c.checked, c.failures, c.detail) for c in r.checks if c.name == "leak"]
        for r in reports
    )
    assert one == many
    failing = {column: failures for _, column, _, failures, _ in one if failures}
    assert failing == {"email": 5, "phone": 2, "person_email": 4, "profile": 4}
    assert any(" parts" in r.getMessage() for r in caplog.records if r.name == leak_module.__name__)


def test_no_original_to_look_for_leaves_the_output_unread(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anonymiser.verify import leaks

    def unread(*_: Any) -> None:
        raise AssertionError("the output was searched with no original to look for")

    monkeypatch.setattr(leaks, "_search_table", unread)
    store = create(
        source,
        tmp_path,
        # every original is shorter than this: none is looked for
        verification=VerifySettings(presidio_sample=0, leak_min_length=10_000),
    )
    checks = load_manifest(store, "fullset", "v1").verification["checks"]
    leak = {c["column"]: c for c in checks if c["name"] == "leak"}
    assert {"email", "phone", "person_email"} <= set(leak)
    assert all(c["checked"] == 0 and c["failures"] == 0 for c in leak.values())
