"""End-to-end tests of the `anonymiser` command line: the real entry point in a subprocess.

Happy paths (create -> list -> show -> restore, environment settings, latest version, demo) and
every user error the CLI must turn into one `error:` line and the exit code of its exception class.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from anonymiser import __version__
from anonymiser.errors import (
    ConfigError,
    ConnectionFailed,
    IntegrityError,
    NotFound,
    StoreError,
    TargetNotEmpty,
)
from anonymiser.pg.ephemeral import EphemeralCluster
from tests.conftest import TEST_MASKING_KEY

CLI = [sys.executable, "-m", "anonymiser.cli"]
TABLES = ("public.customers", "public.orders", "public.tags")
PLAIN_EVENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (stage_\w+|table|progress) ")

SCHEMA_SQL = """
CREATE TABLE customers (
    id    serial PRIMARY KEY,
    name  text NOT NULL,
    email text UNIQUE
);
CREATE TABLE orders (
    id          bigserial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers (id),
    total       numeric(10, 2),
    placed_at   timestamptz,
    note        text
);
CREATE TABLE tags (
    code  varchar(10) PRIMARY KEY,
    label text
);
INSERT INTO customers (name, email) VALUES
    ('Ada', 'ada@example.org'), ('Grace', NULL), ('Zoë ''quoted''', 'zoe@example.org');
INSERT INTO orders (customer_id, total, placed_at, note) VALUES
    (1, 12.50, '2024-01-02 03:04:05+00', 'tab\there'),
    (1, NULL, NULL, ''),
    (3, 99999999.99, '1999-12-31 23:59:59+00', E'line\\nbreak \\\\ backslash');
INSERT INTO tags VALUES ('a', 'first'), ('b', NULL);
"""
# Masking fails closed, so every create needs a key and rules covering every column. These
# tests are about the CLI's transport and errors: every column is kept (explicitly).
KEEP_ALL_RULES = """
tables:
  public.customers:
    defaults: {strategy: keep, reason: "test data"}
    columns: {id: {}, name: {}, email: {}}
  public.orders:
    defaults: {strategy: keep, reason: "test data"}
    columns: {id: {}, customer_id: {}, total: {}, placed_at: {}, note: {}}
  public.tags:
    defaults: {strategy: keep, reason: "test data"}
    columns: {code: {}, label: {}}
"""


# -- helpers ---------------------------------------------------------------------------------


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without any ANONYMISER_* setting of the caller (but the session's
    signing key, as a production job has one), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANONYMISER_")}
    env["ANONYMISER_SIGNING_KEY"] = os.environ["ANONYMISER_SIGNING_KEY"]
    env["COLUMNS"] = "200"  # rich tables: do not truncate names in a narrow pseudo-terminal
    env["ANONYMISER_KEY"] = TEST_MASKING_KEY
    env.update(extra)
    return env


def run_cli(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    creates = any(args[i : i + 2] == ("snapshot", "create") for i in range(len(args)))
    if creates and not (Path(cwd) / "rules").exists():
        (Path(cwd) / "rules").mkdir(parents=True)
        (Path(cwd) / "rules" / "cli.yaml").write_text(KEEP_ALL_RULES)
    return subprocess.run(
        [*CLI, *map(str, args)],
        cwd=cwd,
        env=env or _clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr


def create_version(source: str, store: Path, version: str, *, cwd: Path) -> None:
    """`snapshot create fullset` of `source` as `version`, which must succeed."""
    assert_ok(
        run_cli(
            "snapshot",
            "create",
            "fullset",
            "--source",
            source,
            "--store",
            store,
            "--version",
            version,
            cwd=cwd,
        )
    )


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], exit_code: int, *needles: str
) -> str:
    """Non-zero exit with `exit_code`, exactly one stderr line 'error: ...' naming `needles`
    (besides the timestamped progress lines of --log-format plain, the default off a terminal)."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == exit_code, f"exit {result.returncode} != {exit_code}\n{output}"
    lines = [
        line for line in result.stderr.splitlines() if line.strip() and not PLAIN_EVENT.match(line)
    ]
    assert len(lines) == 1, f"expected one stderr line, got:\n{result.stderr}"
    assert lines[0].startswith("error:"), lines[0]
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def table_rows(dsn: str, qualified: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT * FROM {qualified} ORDER BY 1").fetchall()


def all_rows(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    return {name: table_rows(dsn, name) for name in TABLES}


def user_tables(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT schemaname || '.' || tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def execute(dsn: str, statement: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement.encode())


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parquet_files(store: Path) -> list[Path]:
    return sorted(store.rglob("*.parquet"))


def tree(root: Path) -> dict[str, bytes]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


@dataclass
class Published:
    """A store holding fullset version v1 of SCHEMA_SQL, created once for the module."""

    source: str
    store: Path
    cwd: Path


@pytest.fixture(scope="module")
def published(
    pg_cluster: EphemeralCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Published]:
    name = f"cli_source_{uuid.uuid4().hex[:10]}"
    source = pg_cluster.create_database(name)
    try:
        execute(source, SCHEMA_SQL)
        root = tmp_path_factory.mktemp("published")
        store = root / "store"
        result = run_cli(
            "snapshot",
            "create",
            "fullset",
            "--source",
            source,
            "--store",
            store,
            "--version",
            "v1",
            cwd=root,
        )
        assert_ok(result)
        yield Published(source=source, store=store, cwd=root)
    finally:
        pg_cluster.drop_database(name)


@pytest.fixture
def loaded_source(source_dsn: str) -> str:
    execute(source_dsn, SCHEMA_SQL)
    return source_dsn


@pytest.fixture
def store_copy(published: Published, tmp_path: Path) -> Path:
    """A private copy of the published store, for tests that damage it."""
    copy = tmp_path / "store"
    shutil.copytree(published.store, copy)
    return copy


# -- help and version ------------------------------------------------------------------------


def test_version_flag_prints_package_version(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)
    assert_ok(result)
    assert result.stdout.strip() == f"anonymiser {__version__}"


def test_console_script_is_installed_and_runs(tmp_path: Path) -> None:
    script = shutil.which("anonymiser")
    if script is None:
        pytest.skip("the anonymiser console script is not on PATH")
    result = subprocess.run(
        [script, "--version"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert_ok(result)
    assert __version__ in result.stdout


def test_top_level_help_shows_an_example(tmp_path: Path) -> None:
    result = run_cli("--help", cwd=tmp_path)
    assert_ok(result)
    assert "snapshot" in result.stdout
    assert "Example" in result.stdout


# -- the happy path --------------------------------------------------------------------------


def test_create_list_show_restore_round_trip_keeps_rows_serials_and_fks(
    published: Published, target_dsn: str, tmp_path: Path
) -> None:
    listed = run_cli("snapshot", "list", "--store", published.store, cwd=tmp_path)
    assert_ok(listed)
    assert re.search(r"fullset\s*│\s*v1\s*│", listed.stdout), listed.stdout
    assert "yes" in listed.stdout  # masked column: the rules were applied (all keep)

    shown = run_cli("snapshot", "show", "fullset", "--store", published.store, cwd=tmp_path)
    assert_ok(shown)
    for table in TABLES:
        assert table in shown.stdout
    assert "masked: yes" in shown.stdout

    restored = run_cli(
        "snapshot",
        "restore",
        "fullset",
        "--target",
        target_dsn,
        "--store",
        published.store,
        cwd=tmp_path,
    )
    assert_ok(restored)
    assert "restored fullset version v1" in restored.stdout
    assert all_rows(target_dsn) == all_rows(published.source)
    with psycopg.connect(target_dsn) as conn:  # the serial continues, the FK is back
        inserted = conn.execute(
            "INSERT INTO customers (name) VALUES ('new') RETURNING id"
        ).fetchone()
        assert inserted == (4,)
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("INSERT INTO orders (customer_id) VALUES (424242)")


def test_show_json_is_the_manifest_with_a_sha256_per_file(
    published: Published, tmp_path: Path
) -> None:
    result = run_cli(
        "snapshot",
        "show",
        "fullset",
        "--version",
        "v1",
        "--json",
        "--store",
        published.store,
        cwd=tmp_path,
    )
    assert_ok(result)
    manifest = json.loads(result.stdout)
    assert (manifest["dataset"], manifest["version"]) == ("fullset", "v1")
    assert {f"{t['schema']}.{t['name']}" for t in manifest["tables"]} == set(TABLES)
    entries = [
        *manifest["schema_files"].values(),
        *(f for t in manifest["tables"] for f in t["files"]),
    ]
    assert entries
    version_dir = published.store / "fullset" / "v1"
    for entry in entries:
        data = (version_dir / entry["path"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), entry["path"]
        assert entry["bytes"] == len(data)
    rows = {f"{t['schema']}.{t['name']}": t["rows"] for t in manifest["tables"]}
    assert rows == {"public.customers": 3, "public.orders": 3, "public.tags": 2}


def test_settings_come_from_environment_when_flags_are_absent(
    loaded_source: str, target_dsn: str, tmp_path: Path
) -> None:
    store = tmp_path / "env-store"
    env = _clean_env(
        ANONYMISER_STORE=str(store), ANONYMISER_SOURCE=loaded_source, ANONYMISER_TARGET=target_dsn
    )
    assert_ok(
        run_cli("snapshot", "create", "fullset", "--version", "from-env", cwd=tmp_path, env=env)
    )
    assert (store / "fullset" / "from-env" / "manifest.json").is_file()
    listed = run_cli("snapshot", "list", cwd=tmp_path, env=env)
    assert_ok(listed)
    assert "from-env" in listed.stdout
    assert_ok(run_cli("snapshot", "restore", "fullset", cwd=tmp_path, env=env))
    assert all_rows(target_dsn) == all_rows(loaded_source)
    assert not (tmp_path / "anonymiser-store").exists()  # the default store was not used


def test_flags_win_over_environment(published: Published, tmp_path: Path) -> None:
    env = _clean_env(ANONYMISER_STORE=str(tmp_path / "not-this-one"))
    result = run_cli("snapshot", "list", "--store", published.store, cwd=tmp_path, env=env)
    assert_ok(result)
    assert "v1" in result.stdout


def test_create_defaults_to_local_store_and_utc_version_and_rules_folder(
    loaded_source: str, tmp_path: Path
) -> None:
    result = run_cli("snapshot", "create", "fullset", "--source", loaded_source, cwd=tmp_path)
    assert_ok(result)
    assert "published fullset version" in result.stdout
    assert "NOT masked" not in result.stderr
    versions = [
        p.parent.name for p in (tmp_path / "anonymiser-store" / "fullset").glob("*/manifest.json")
    ]
    assert len(versions) == 1
    assert re.fullmatch(r"\d{8}T\d{6}Z", versions[0]), versions


def test_restore_picks_the_latest_version(
    loaded_source: str, target_dsn: str, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    create_version(loaded_source, store, "v1", cwd=tmp_path)
    execute(loaded_source, "INSERT INTO tags VALUES ('c', 'only in v2')")
    create_version(loaded_source, store, "v2", cwd=tmp_path)
    result = run_cli(
        "snapshot", "restore", "fullset", "--target", target_dsn, "--store", store, cwd=tmp_path
    )
    assert_ok(result)
    assert "version v2" in result.stdout
    assert ("c", "only in v2") in table_rows(target_dsn, "public.tags")
    shown = run_cli("snapshot", "show", "fullset", "--json", "--store", store, cwd=tmp_path)
    assert json.loads(shown.stdout)["version"] == "v2"


def test_list_ignores_a_version_without_manifest(
    published: Published, store_copy: Path, tmp_path: Path
) -> None:
    (store_copy / "fullset" / "half-done" / "data").mkdir(parents=True)
    result = run_cli("snapshot", "list", "--store", store_copy, cwd=tmp_path)
    assert_ok(result)
    assert "v1" in result.stdout
    assert "half-done" not in result.stdout


# -- connection and configuration errors -----------------------------------------------------


def test_unreachable_source_is_one_line_connection_error(tmp_path: Path) -> None:
    port = closed_port()
    dsn = f"host=127.0.0.1 port={port} dbname=app user=app password=not-a-real-password"
    result = run_cli(
        "snapshot",
        "create",
        "fullset",
        "--source",
        dsn,
        "--store",
        tmp_path / "store",
        cwd=tmp_path,
    )
    line = assert_one_line_error(
        result, ConnectionFailed.exit_code, "source", "127.0.0.1", str(port)
    )
    assert "not-a-real-password" not in result.stdout + result.stderr
    assert "cannot connect" in line
    assert not list((tmp_path / "store").rglob("manifest.json"))


def test_unreachable_target_is_one_line_connection_error(
    published: Published, tmp_path: Path
) -> None:
    port = closed_port()
    result = run_cli(
        "snapshot",
        "restore",
        "fullset",
        "--target",
        f"host=127.0.0.1 port={port} dbname=qa",
        "--store",
        published.store,
        cwd=tmp_path,
    )
    assert_one_line_error(result, ConnectionFailed.exit_code, "target", str(port))


def test_unknown_user_is_one_line_connection_error(source_dsn: str, tmp_path: Path) -> None:
    dsn = make_conninfo(source_dsn, user="nobody_here")
    result = run_cli(
        "snapshot",
        "create",
        "fullset",
        "--source",
        dsn,
        "--store",
        tmp_path / "store",
        cwd=tmp_path,
    )
    assert_one_line_error(result, ConnectionFailed.exit_code, "nobody_here")


@pytest.mark.parametrize("dsn", ["host=127.0.0.1 port", "nonsense=1"])
def test_unparseable_dsn_is_a_config_error(tmp_path: Path, dsn: str) -> None:
    result = run_cli(
        "snapshot",
        "create",
        "fullset",
        "--source",
        dsn,
        "--store",
        tmp_path / "store",
        cwd=tmp_path,
    )
    assert_one_line_error(result, ConfigError.exit_code, "connection string")


def test_missing_source_names_flag_and_environment_variable(tmp_path: Path) -> None:
    result = run_cli("snapshot", "create", "fullset", "--store", tmp_path / "store", cwd=tmp_path)
    assert_one_line_error(result, ConfigError.exit_code, "--source", "ANONYMISER_SOURCE")


def test_missing_target_names_flag_and_environment_variable(
    published: Published, tmp_path: Path
) -> None:
    result = run_cli("snapshot", "restore", "fullset", "--store", published.store, cwd=tmp_path)
    assert_one_line_error(result, ConfigError.exit_code, "--target", "ANONYMISER_TARGET")


@pytest.mark.parametrize(
    "command",
    [
        ("snapshot", "list"),
        ("snapshot", "show", "fullset"),
        ("snapshot", "restore", "fullset", "--target", "host=127.0.0.1 dbname=unused"),
    ],
)
def test_store_that_does_not_exist_is_a_store_error(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    missing = tmp_path / "no-such-store"
    result = run_cli(*command, "--store", missing, cwd=tmp_path)
    assert_one_line_error(result, StoreError.exit_code, "no-such-store", "does not exist")
    assert not missing.exists()


@pytest.mark.parametrize(
    "command",
    [
        ("snapshot", "show", "nosuch"),
        ("snapshot", "restore", "nosuch", "--target", "host=127.0.0.1 dbname=unused"),
    ],
)
def test_unknown_dataset_in_store_is_not_found(
    published: Published, tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = run_cli(*command, "--store", published.store, cwd=tmp_path)
    line = assert_one_line_error(result, NotFound.exit_code, "nosuch")
    assert "fullset" in line  # says which datasets the store does hold


@pytest.mark.parametrize(
    "command",
    [
        ("snapshot", "show", "fullset", "--version", "v9"),
        (
            "snapshot",
            "restore",
            "fullset",
            "--version",
            "v9",
            "--target",
            "host=127.0.0.1 dbname=unused",
        ),
    ],
)
def test_unknown_version_is_not_found(
    published: Published, tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = run_cli(*command, "--store", published.store, cwd=tmp_path)
    assert_one_line_error(result, NotFound.exit_code, "v9", "fullset")


def test_create_of_undefined_dataset_is_a_config_error(source_dsn: str, tmp_path: Path) -> None:
    empty = tmp_path / "datasets"
    empty.mkdir()
    result = run_cli(
        "snapshot",
        "create",
        "nosuch",
        "--source",
        source_dsn,
        "--datasets",
        empty,
        "--store",
        tmp_path / "store",
        cwd=tmp_path,
    )
    assert_one_line_error(result, ConfigError.exit_code, "nosuch", "datasets")
    assert not list((tmp_path / "store").rglob("*.parquet"))


@pytest.mark.parametrize(
    "command",
    [
        ("snapshot", "create", "fullset", "--version", "../x", "--source", "host=127.0.0.1"),
        ("snapshot", "show", "fullset", "--version", "../x"),
        ("snapshot", "show", "../x"),
    ],
)
def test_invalid_version_or_dataset_name_is_refused(
    published: Published, tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = run_cli(*command, "--store", published.store, cwd=tmp_path)
    assert_one_line_error(result, ConfigError.exit_code, "../x", "name")
    assert not (published.store.parent / "x").exists()


@pytest.mark.parametrize(
    "command",
    [
        ("snapshot", "show", "[/x]", "--store", "."),
        ("snapshot", "list", "--store", "no[/]where"),
    ],
)
def test_error_text_with_square_brackets_is_still_one_line(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = run_cli(*command, cwd=tmp_path)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert result.returncode in (ConfigError.exit_code, StoreError.exit_code)


def test_error_message_quotes_bracketed_names_verbatim(tmp_path: Path) -> None:
    result = run_cli("snapshot", "show", "a[bold]b", "--store", tmp_path, cwd=tmp_path)
    assert_one_line_error(result, ConfigError.exit_code, "'a[bold]b'")


# -- immutability, non-empty targets, damaged snapshots ---------------------------------------


def test_second_create_of_same_version_fails_and_keeps_the_first(
    loaded_source: str, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    create_version(loaded_source, store, "v1", cwd=tmp_path)
    before = tree(store)
    execute(loaded_source, "INSERT INTO tags VALUES ('z', 'changed')")
    result = run_cli(
        "snapshot",
        "create",
        "fullset",
        "--source",
        loaded_source,
        "--store",
        store,
        "--version",
        "v1",
        cwd=tmp_path,
    )
    assert_one_line_error(result, StoreError.exit_code, "v1", "immutable")
    assert tree(store) == before


def test_non_empty_target_is_refused_unchanged_and_replaced_with_clean(
    published: Published, target_dsn: str, tmp_path: Path
) -> None:
    execute(target_dsn, "CREATE TABLE tags (code text PRIMARY KEY); INSERT INTO tags VALUES ('x')")
    result = run_cli(
        "snapshot",
        "restore",
        "fullset",
        "--target",
        target_dsn,
        "--store",
        published.store,
        cwd=tmp_path,
    )
    line = assert_one_line_error(result, TargetNotEmpty.exit_code, "not empty", "--clean")
    assert "tags" in line
    assert user_tables(target_dsn) == ["public.tags"]
    assert table_rows(target_dsn, "public.tags") == [("x",)]

    result = run_cli(
        "snapshot",
        "restore",
        "fullset",
        "--clean",
        "--target",
        target_dsn,
        "--store",
        published.store,
        cwd=tmp_path,
    )
    assert_ok(result)
    assert all_rows(target_dsn) == all_rows(published.source)


def test_restore_twice_with_clean_is_repeatable(
    published: Published, target_dsn: str, tmp_path: Path
) -> None:
    args = ("snapshot", "restore", "fullset", "--target", target_dsn, "--store", published.store)
    assert_ok(run_cli(*args, cwd=tmp_path))
    execute(target_dsn, "DELETE FROM orders")
    assert_ok(run_cli(*args, "--clean", cwd=tmp_path))
    assert all_rows(target_dsn) == all_rows(published.source)


def test_tampered_data_file_fails_restore_naming_it(
    store_copy: Path, target_dsn: str, tmp_path: Path
) -> None:
    victim = parquet_files(store_copy)[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    result = run_cli(
        "snapshot",
        "restore",
        "fullset",
        "--target",
        target_dsn,
        "--store",
        store_copy,
        cwd=tmp_path,
    )
    relative = victim.relative_to(store_copy / "fullset" / "v1").as_posix()
    assert_one_line_error(result, IntegrityError.exit_code, relative, "does not match")
    assert user_tables(target_dsn) == []


def test_missing_data_file_fails_restore_naming_it(
    store_copy: Path, target_dsn: str, tmp_path: Path
) -> None:
    victim = parquet_files(store_copy)[-1]
    victim.unlink()
    result = run_cli(
        "snapshot",
        "restore",
        "fullset",
        "--target",
        target_dsn,
        "--store",
        store_copy,
        cwd=tmp_path,
    )
    relative = victim.relative_to(store_copy / "fullset" / "v1").as_posix()
    assert_one_line_error(result, IntegrityError.exit_code, relative, "missing")
    assert user_tables(target_dsn) == []


def test_corrupt_manifest_is_one_line_integrity_error(store_copy: Path, tmp_path: Path) -> None:
    (store_copy / "fullset" / "v1" / "manifest.json").write_text("{ not json")
    result = run_cli("snapshot", "show", "fullset", "--store", store_copy, cwd=tmp_path)
    assert_one_line_error(result, IntegrityError.exit_code, "manifest.json")


# -- demo ------------------------------------------------------------------------------------


def test_demo_without_arguments_snapshots_2024_restores_it_and_reports_checks(
    tmp_path: Path,
) -> None:
    # no arguments, as in the README; run from an empty folder, so the store is ./demo-store
    result = run_cli("demo", cwd=tmp_path, timeout=300)
    assert_ok(result)
    rows = [line for line in result.stdout.splitlines() if re.match(r"^\s*│\s*\w+\.\w+\s*│", line)]
    assert len(rows) >= 14, result.stdout
    subset = False
    for line in rows:
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        _table, source, snapshot, restored = cells
        assert snapshot == restored, line
        assert int(snapshot) <= int(source), line
        subset = subset or int(snapshot) < int(source)
    assert subset, "the 2024 dataset should be smaller than the source"
    assert "checks passed: 4/4" in result.stdout  # the verification gate's, then restore's
    assert re.search(r"verification passed: .*foreign_key \d+/\d+.*leak \d+/\d+", result.stdout)
    masked = re.search(r"(\d+) masked columns", result.stdout)
    assert masked and int(masked.group(1)) >= 15, result.stdout  # the demo rules mask PII
    assert "The server was stopped" in result.stdout
    manifests = list((tmp_path / "demo-store" / "2024").glob("*/manifest.json"))
    assert len(manifests) == 1
    manifest = json.loads(manifests[0].read_text())
    assert manifest["dataset"] == "2024"
    assert manifest["masking"]["applied"] is True  # the repo's rules/, under a throwaway key
    assert "throwaway key" in result.stdout
