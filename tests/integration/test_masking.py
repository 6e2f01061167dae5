"""Masking end to end on a real PostgreSQL: fail closed, deterministic, consistent, unique-safe."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest

from anonymiser.config import key_fingerprint
from anonymiser.errors import ConfigError
from anonymiser.rules import RulesInvalid, check_rules, load_rules
from anonymiser.snapshot import create_snapshot, restore_snapshot

KEY = b"integration-test-key-0123456789"
SCHEMA = """
CREATE TABLE people (
    id       serial PRIMARY KEY,
    email    text NOT NULL UNIQUE,
    name     text NOT NULL,
    nickname text,
    UNIQUE (id, email)
);
CREATE UNIQUE INDEX people_name_lower ON people (lower(name));
CREATE TABLE accounts (
    id          serial PRIMARY KEY,
    owner_email text NOT NULL REFERENCES people (email),
    handle      varchar(12) NOT NULL UNIQUE,
    note        text
);
CREATE TABLE memberships (
    person_id    int NOT NULL,
    person_email text NOT NULL,
    team         text NOT NULL,
    FOREIGN KEY (person_id, person_email) REFERENCES people (id, email)
);
CREATE TABLE audit (
    at     timestamptz NOT NULL,
    actor  text,
    action text
);
INSERT INTO people (email, name, nickname)
SELECT 'person' || g || '@corp.example', 'Given' || g || ' Family' || g, 'nick' || g
FROM generate_series(1, 3000) g;
INSERT INTO accounts (owner_email, handle, note)
SELECT 'person' || (g % 3000 + 1) || '@corp.example', 'h' || g, 'call Given' || g
FROM generate_series(1, 4000) g;
INSERT INTO memberships SELECT id, email, 'team' || (id % 7) FROM people;
INSERT INTO audit SELECT now(), 'person' || g || '@corp.example', 'login'
FROM generate_series(1, 500) g;
"""
RULES = """
tables:
  public.people:
    columns:
      id:       {strategy: keep, reason: surrogate key}
      email:    {strategy: fake, provider: email, reason: "direct identifier, unique"}
      name:     {strategy: fake, provider: name, reason: "direct identifier, unique on lower(name)"}
      nickname: {strategy: redact, reason: identifier}
  public.accounts:
    columns:
      id:          {strategy: keep, reason: surrogate key}
      owner_email: {strategy: fake, provider: email, reason: "FK onto people.email"}
      handle:      {strategy: hash, length: 12, reason: "user handle, unique"}
      note:        {strategy: redact, reason: free text}
  public.memberships:
    columns:
      person_id:    {strategy: keep, reason: FK}
      person_email: {strategy: fake, provider: email, reason: "composite FK onto people"}
      team:         {strategy: keep, reason: not personal}
  public.audit:
    columns:
      at:     {strategy: keep, reason: not personal}
      actor:  {strategy: fake, provider: email, namespace: public.people.email, reason: copy}
      action: {strategy: keep, reason: not personal}
"""
MASKED = {
    "people": ["email", "name", "nickname"],
    "accounts": ["owner_email", "handle", "note"],
    "memberships": ["person_email"],
    "audit": ["actor"],
}


def run(dsn: str, statement: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement.encode())


def scalar(dsn: str, query: str) -> object:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query.encode()).fetchone()
        return row[0] if row else None


@pytest.fixture
def source(source_dsn: str) -> str:
    run(source_dsn, SCHEMA)
    return source_dsn


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "all.yaml").write_text(RULES)
    return folder


def snapshot(source: str, store: Path, rules_dir: Path, version: str, key: bytes = KEY) -> Path:
    create_snapshot(source, store, "fullset", version, rules_dir=rules_dir, key=key)
    return store / "fullset" / version


def data_files(version_dir: Path) -> dict[str, bytes]:
    """The version's Parquet files by path below its run folder (run ids differ per run)."""
    return {
        str(p.relative_to(version_dir)).split("/data/", 1)[-1]: p.read_bytes()
        for p in sorted(version_dir.rglob("*.parquet"))
    }


def test_lint_lists_every_kind_of_problem_with_file_and_line(source: str, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "bad.yaml").write_text(
        RULES.replace(
            "nickname: {strategy: redact, reason: identifier}", "nickname: {strategy: redact}"
        )
        .replace("{strategy: hash, length: 12,", "{strategy: hash, lenght: 12,")
        .replace("team:         {strategy: keep, reason: not personal}", "")
        .replace(
            "person_id:    {strategy: keep, reason: FK}",
            "person_id: {strategy: shuffle, reason: x}",
        )
        .replace(
            "at:     {strategy: keep, reason: not personal}",
            "at: {strategy: fake, provider: email, reason: x}",
        )
        .replace(
            "id:          {strategy: keep, reason: surrogate key}",
            "id: {strategy: keep, reason: k}\n      idd: {strategy: keep, reason: typo}",
        )
        + "  public.nope:\n    columns:\n      a: {strategy: keep, reason: x}\n"
    )
    (folder / "more.yaml").write_text(
        "tables:\n  public.people:\n    columns:\n      id: {strategy: keep, reason: again}\n"
    )
    result = check_rules(source, folder)
    lines = [str(p).replace(str(folder) + "/", "") for p in result.problems]
    expected = [
        ("bad.yaml:8", "public.people.nickname", "no reason"),
        ("bad.yaml:14", "public.accounts.handle", "unknown parameter lenght"),
        ("bad.yaml:16", "public.memberships.team", "has no rule"),
        ("bad.yaml:18", "public.memberships.person_id", "unknown strategy 'shuffle'"),
        ("bad.yaml:23", "public.audit.at", "needs a text column"),
        ("bad.yaml:12", "public.accounts.idd", "no such column"),
        ("bad.yaml:26", "public.nope", "no such table"),
        ("more.yaml:2", "public.people", "defined twice: in bad.yaml:3"),
    ]
    for where, rule, words in expected:
        assert any(where in line and rule in line and words in line for line in lines), (
            where,
            rule,
            words,
            lines,
        )
    assert len(result.errors) == len(expected), lines


def test_fk_column_masked_differently_from_its_parent_is_a_warning(
    source: str, tmp_path: Path
) -> None:
    folder = tmp_path / "warn"
    folder.mkdir()
    (folder / "r.yaml").write_text(
        RULES.replace(
            'owner_email: {strategy: fake, provider: email, reason: "FK onto people.email"}',
            "owner_email: {strategy: hash, reason: oops}",
        )
    )
    result = check_rules(source, folder)
    assert not result.errors
    assert any(
        "public.accounts.owner_email" in str(w) and "foreign key will break" in str(w)
        for w in result.warnings
    ), result.warnings


def test_a_column_added_after_the_rules_stops_create_naming_it(
    source: str, rules_dir: Path, tmp_path: Path
) -> None:
    run(source, "ALTER TABLE accounts ADD COLUMN phone text")
    store = tmp_path / "store"
    with pytest.raises(RulesInvalid, match=r"public\.accounts\.phone: has no rule") as caught:
        create_snapshot(source, store, "fullset", "v1", rules_dir=rules_dir, key=KEY)
    assert any("public.accounts.phone" in line for line in caught.value.details)
    assert not list(store.rglob("*.parquet")), "nothing may be extracted"


def test_create_refuses_to_run_without_a_key(
    source: str, rules_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANONYMISER_KEY", raising=False)
    with pytest.raises(ConfigError, match="no masking key"):
        create_snapshot(source, tmp_path / "store", "fullset", "v1", rules_dir=rules_dir)


def test_masked_restore_keeps_joins_and_uniques_and_no_original_survives(
    source: str, target_dsn: str, rules_dir: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    version = snapshot(source, store, rules_dir, "v1")
    restore_snapshot(target_dsn, store, "fullset", "v1")
    joins = [
        "SELECT count(*) FROM accounts a JOIN people p ON p.email = a.owner_email",
        "SELECT count(*) FROM memberships m JOIN people p"
        " ON (p.id, p.email) = (m.person_id, m.person_email)",
        "SELECT count(*) FROM audit a JOIN people p ON p.email = a.actor",
        "SELECT count(DISTINCT lower(name)) FROM people",
        "SELECT count(DISTINCT handle) FROM accounts",
    ]
    for query in joins:
        assert scalar(target_dsn, query) == scalar(source, query), query
    # the unique constraints were re-created by the restore, so they hold; and values changed
    assert scalar(target_dsn, "SELECT count(*) FROM people WHERE email LIKE '%@corp.example'") == 0
    originals: set[str] = set()
    with psycopg.connect(source) as conn:
        for table, columns in MASKED.items():
            for column in columns:
                originals |= {
                    r[0] for r in conn.execute(f"SELECT {column}::text FROM {table}") if r[0]
                }
    cells: set[str] = set()
    rows: list[str] = []
    with psycopg.connect(target_dsn) as conn:
        for table in MASKED:
            for row in conn.execute(f"SELECT t::text, to_jsonb(t)::text FROM {table} t"):
                rows.append(row[0])
                cells |= {str(v) for v in json.loads(row[1]).values()}
    # exact cells for every original; inside whole rows too for those long enough to be unique
    leaked = [o for o in originals if o in cells]
    leaked += [o for o in originals if len(o) >= 8 and any(o in row for row in rows)]
    assert not leaked, leaked[:5]
    manifest = (version / "manifest.json").read_text()
    assert KEY.decode() not in manifest
    assert key_fingerprint(KEY) in manifest
    assert load_rules(rules_dir).digest() in manifest


def test_same_key_gives_byte_identical_data_across_runs_and_processes(
    source: str, rules_dir: Path, tmp_path: Path
) -> None:
    first = data_files(snapshot(source, tmp_path / "a", rules_dir, "v1"))
    second = data_files(snapshot(source, tmp_path / "b", rules_dir, "v1"))
    child = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from anonymiser.snapshot import create_snapshot
        create_snapshot(sys.argv[1], sys.argv[2], "fullset", "v1", rules_dir=Path(sys.argv[3]),
                        key=sys.argv[4].encode())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", child, source, str(tmp_path / "c"), str(rules_dir), KEY.decode()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    third = data_files(tmp_path / "c" / "fullset" / "v1")
    assert first and first == second == third
    other = data_files(
        snapshot(source, tmp_path / "d", rules_dir, "v1", key=b"another-key-0123456789")
    )
    changed = [name for name in first if first[name] != other[name]]
    assert any("people" in name for name in changed)
    assert any("accounts" in name for name in changed)
