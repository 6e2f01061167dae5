"""Regression tests of the verification gate on a real PostgreSQL: column types, nested rules,
partitioned parents and server errors that once crashed or fooled it."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from anonymiser.errors import VerificationFailed
from anonymiser.snapshot import create_snapshot, load_manifest
from tests.conftest import TEST_MASKING_KEY

KEY = TEST_MASKING_KEY.encode()


def make_source(dsn: str, schema: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(schema.encode())
    return dsn


def create(source: str, tmp_path: Path, rules: str, **kwargs: object) -> Path:
    """Cut fullset v1 of `source` under `rules`; the store it went to."""
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "rules.yaml").write_text(rules)
    store = tmp_path / "store"
    create_snapshot(source, store, "fullset", "v1", rules_dir=folder, key=KEY, **kwargs)  # type: ignore[arg-type]
    return store


def checks(store: Path, name: str) -> dict[str, dict[str, object]]:
    """The manifest's results of one check family, by table.column."""
    found = load_manifest(store, "fullset", "v1").verification["checks"]
    return {f"{c['table']}.{c['column']}": c for c in found if c["name"] == name}


BYTEA = """
CREATE TABLE files (id int PRIMARY KEY, digest bytea, blob bytea NOT NULL, spare bytea);
INSERT INTO files SELECT g, decode(md5(g::text), 'hex'), decode(md5('b' || g), 'hex'), NULL
FROM generate_series(1, 50) g;
"""
BYTEA_RULES = """
tables:
  public.files:
    columns:
      id:     {strategy: keep, reason: surrogate key}
      digest: {strategy: hash, reason: "fingerprint of a person's document"}
      blob:   {strategy: hash, reason: "a person's document"}
      spare:  {strategy: keep, reason: "empty"}
"""


def test_masked_bytea_columns_are_leak_checked_as_postgres_hex(
    source_dsn: str, tmp_path: Path
) -> None:
    rules = BYTEA_RULES.replace("digest: {strategy: hash", 'digest: {strategy: "null"')
    store = create(make_source(source_dsn, BYTEA), tmp_path, rules)
    leaks = checks(store, "leak")
    assert leaks["public.files.digest"]["checked"] == 50
    assert leaks["public.files.blob"]["checked"] == 50
    assert leaks["public.files.blob"]["failures"] == 0


def test_bytea_original_copied_into_a_kept_bytea_column_is_a_leak(
    source_dsn: str, tmp_path: Path
) -> None:
    source = make_source(source_dsn, BYTEA + "UPDATE files SET spare = blob WHERE id <= 3;")
    with pytest.raises(VerificationFailed) as failed:
        create(source, tmp_path, BYTEA_RULES)
    assert "leak public.files.blob (rule hash): 3 failing of 50" in str(failed.value)
    assert "public.files.spare (3 rows)" in str(failed.value)
