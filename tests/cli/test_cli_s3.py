"""The command line against an S3 store: create, list, verify, prune, delete, and the exit
codes of refusals (unsigned, production)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from tests.conftest import TEST_MASKING_KEY, MakeDatabase, write_keep_rules
from tests.integration.test_s3_snapshots import load_source

CLI = [sys.executable, "-m", "anonymiser.cli"]


def cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COLUMNS": "200", "ANONYMISER_KEY": TEST_MASKING_KEY, **env}
    return subprocess.run(
        [*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=environment
    )


def test_s3_snapshot_lifecycle_through_the_cli(
    make_database: MakeDatabase, make_s3_store: Callable[..., str], tmp_path: Path
) -> None:
    source = load_source(make_database("source"))
    write_keep_rules(source, tmp_path / "rules")  # the CLI masks: keep every column
    target = make_database("target")
    url = make_s3_store() + "?addressing=path"
    for version in ("v1", "v2", "v3"):
        made = cli(
            "snapshot",
            "create",
            "fullset",
            "--source",
            source,
            "--store",
            url,
            "--version",
            version,
            cwd=tmp_path,
        )
        assert made.returncode == 0, made.stderr
        assert "NOT signed" not in made.stderr
    listed = cli("snapshot", "list", "fullset", "--store", url, cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.count("yes") >= 3, listed.stdout
    verified = cli("snapshot", "verify", "fullset", "--store", url, cwd=tmp_path)
    assert verified.returncode == 0 and "verified fullset version v3" in verified.stdout
    pruned = cli("snapshot", "prune", "fullset", "--keep", "2", "--store", url, cwd=tmp_path)
    assert pruned.returncode == 0 and "v1" in pruned.stdout, pruned.stderr
    deleted = cli("snapshot", "delete", "fullset", "--version", "v2", "--store", url, cwd=tmp_path)
    assert deleted.returncode == 0, deleted.stderr
    missing = cli("snapshot", "delete", "fullset", "--version", "v2", "--store", url, cwd=tmp_path)
    assert missing.returncode == 4 and missing.stderr.startswith("error:")

    wrong_key = cli(
        "snapshot",
        "restore",
        "fullset",
        "--target",
        target,
        "--store",
        url,
        cwd=tmp_path,
        ANONYMISER_SIGNING_KEY="not-the-job-key-0123456789",
    )
    assert wrong_key.returncode == 6 and "signed with another key" in wrong_key.stderr
    assert "Traceback" not in wrong_key.stderr

    dbname = conninfo_to_dict(target)["dbname"]
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {dbname} SET anonymiser.environment = 'production'")
    refused = cli(
        "snapshot", "restore", "fullset", "--target", target, "--store", url, cwd=tmp_path
    )
    assert refused.returncode == 8 and "refusing to restore into production" in refused.stderr
    forced = cli(
        "-v",
        "snapshot",
        "restore",
        "fullset",
        "--target",
        target,
        "--store",
        url,
        "--allow-production",
        cwd=tmp_path,
    )
    assert forced.returncode == 0, forced.stderr
    assert "--allow-production given" in forced.stderr


def test_create_without_a_key_warns_and_restore_needs_allow_unsigned(
    make_database: MakeDatabase, make_s3_store: Callable[..., str], tmp_path: Path
) -> None:
    source = load_source(make_database("source"))
    write_keep_rules(source, tmp_path / "rules")  # the CLI masks: keep every column
    target = make_database("target")
    url = make_s3_store()
    made = cli(
        "snapshot",
        "create",
        "fullset",
        "--source",
        source,
        "--store",
        url,
        cwd=tmp_path,
        ANONYMISER_SIGNING_KEY="",
    )
    assert made.returncode == 0 and "NOT signed" in made.stderr, made.stderr
    refused = cli(
        "snapshot", "restore", "fullset", "--target", target, "--store", url, cwd=tmp_path
    )
    assert refused.returncode == 6 and "not signed" in refused.stderr
    key_file = tmp_path / "key"
    key_file.write_text("file-key-0123456789abcdef\n")
    allowed = cli(
        "snapshot",
        "restore",
        "fullset",
        "--target",
        target,
        "--store",
        url,
        "--allow-unsigned",
        "--signing-key-file",
        str(key_file),
        cwd=tmp_path,
    )
    assert allowed.returncode == 0, allowed.stderr
