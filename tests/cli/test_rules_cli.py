"""End-to-end tests of `rules check`, `rules suggest` and the masking flags of `snapshot create`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anonymiser.config import key_fingerprint
from tests.cli.test_cli import _clean_env, assert_ok, execute, run_cli

SCHEMA = """
CREATE TABLE staff (
    id         serial PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    surname    text,
    phone      text,
    notes      text,
    grade      int
);
INSERT INTO staff (email, surname, phone, notes, grade)
SELECT 'staff' || g || '@example.gov.uk', 'Surname' || g, '07700 900' || lpad(g::text, 3, '0'),
       'likes tea', g % 5
FROM generate_series(1, 50) g;
"""
RULES = """tables:
  public.staff:
    columns:
      id:      {strategy: keep, reason: surrogate key}
      email:   {strategy: fake, provider: email, reason: direct identifier}
      surname: {strategy: fake, provider: last_name, reason: direct identifier}
      phone:   {strategy: redact, reason: direct identifier}
      notes:   {strategy: redact, reason: free text}
      grade:   {strategy: keep, reason: "pay grade band, not identifying"}
"""


@pytest.fixture
def staff_source(source_dsn: str) -> str:
    execute(source_dsn, SCHEMA)
    return source_dsn


def rules_folder(root: Path, text: str = RULES) -> Path:
    folder = root / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "staff.yaml").write_text(text)
    return folder


def test_rules_check_passes_on_complete_rules(staff_source: str, tmp_path: Path) -> None:
    rules_folder(tmp_path)
    result = run_cli("rules", "check", "--source", staff_source, cwd=tmp_path)
    assert_ok(result)
    assert "6 columns covered" in result.stdout


def test_rules_check_prints_each_problem_on_one_line_and_exits_1(
    staff_source: str, tmp_path: Path
) -> None:
    folder = rules_folder(
        tmp_path / "elsewhere",
        RULES.replace(
            '      grade:   {strategy: keep, reason: "pay grade band, not identifying"}\n', ""
        ).replace("{strategy: redact, reason: free text}", "{strategy: nope, reason: x}"),
    )
    result = run_cli("rules", "check", "--source", staff_source, "--rules", folder, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert any("staff.yaml:2" in line and "public.staff.grade" in line for line in lines), lines
    assert any("staff.yaml:8" in line and "unknown strategy 'nope'" in line for line in lines)
    assert "2 error(s)" in result.stderr


def test_create_without_a_key_is_refused_in_one_line(staff_source: str, tmp_path: Path) -> None:
    rules_folder(tmp_path)
    env = {k: v for k, v in _clean_env().items() if k != "ANONYMISER_KEY"}
    result = run_cli(
        "snapshot", "create", "fullset", "--source", staff_source, cwd=tmp_path, env=env
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: no masking key")
    assert not (tmp_path / "anonymiser-store").exists()


def test_create_with_key_file_masks_and_records_only_the_fingerprint(
    staff_source: str, tmp_path: Path
) -> None:
    rules_folder(tmp_path)
    key_file = tmp_path / "masking.key"
    key_file.write_text("a-key-from-a-file-0123456789\n")
    env = {k: v for k, v in _clean_env().items() if k != "ANONYMISER_KEY"}
    result = run_cli(
        "snapshot",
        "create",
        "fullset",
        "--source",
        staff_source,
        "--store",
        tmp_path / "s",
        "--version",
        "v1",
        "--key-file",
        key_file,
        cwd=tmp_path,
        env=env,
    )
    assert_ok(result)
    text = (tmp_path / "s" / "fullset" / "v1" / "manifest.json").read_text()
    masking = json.loads(text)["masking"]
    assert masking["applied"] is True
    assert masking["key_fingerprint"] == key_fingerprint(b"a-key-from-a-file-0123456789")
    assert "a-key-from-a-file" not in text
    assert masking["columns"]["public.staff"]["email"]["strategy"] == "fake"


def test_create_with_incomplete_rules_lists_every_problem_and_extracts_nothing(
    staff_source: str, tmp_path: Path
) -> None:
    rules_folder(tmp_path, RULES.replace("reason: direct identifier}", "}"))
    result = run_cli(
        "snapshot",
        "create",
        "fullset",
        "--source",
        staff_source,
        "--store",
        tmp_path / "s",
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert sum("no reason" in line for line in lines) == 3 + 1  # three lines + the summary
    assert lines[-1].startswith("error: masking rules have 3 problem(s), nothing was extracted")
    assert not list((tmp_path / "s").rglob("*.parquet"))


def test_suggest_drafts_rules_that_pass_check(staff_source: str, tmp_path: Path) -> None:
    draft = tmp_path / "draft"
    result = run_cli(
        "rules",
        "suggest",
        "--source",
        staff_source,
        "--sample",
        "20",
        "--output",
        draft,
        cwd=tmp_path,
    )
    assert_ok(result)
    text = (draft / "public.staff.yaml").read_text()
    assert "provider: email" in text and "provider: last_name" in text
    assert "no PII found in 20 sampled values" in text  # grade
    checked = run_cli("rules", "check", "--source", staff_source, "--rules", draft, cwd=tmp_path)
    assert_ok(checked)
    again = run_cli("rules", "suggest", "--source", staff_source, "--output", draft, cwd=tmp_path)
    assert again.returncode == 2 and "never overwrites" in again.stderr
