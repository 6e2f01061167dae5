"""End-to-end tests of `rules audit` and `snapshot diff`, and of the audit step of the
snapshot workflow."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import yaml

from anonymiser.demo import demo_rules_dir
from anonymiser.rules import load_rules
from tests.cli.test_cli import (
    assert_ok,
    assert_one_line_error,
    create_version,
    execute,
    run_cli,
)
from tests.cli.test_rules_cli import RULES, rules_folder, staff_source  # noqa: F401 (fixture)

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "snapshot.yml"


def test_rules_audit_prints_markdown_of_the_rules_without_a_source(tmp_path: Path) -> None:
    result = run_cli("rules", "audit", "--rules", demo_rules_dir(), cwd=tmp_path)
    assert_ok(result)
    assert result.stdout.startswith("# Masking rules audit")
    assert f"| rules hash | {load_rules(demo_rules_dir()).digest()} |" in result.stdout
    assert r"| public.trainees | ni\_number | pattern | format=ni\_number |" in result.stdout


def test_rules_audit_with_source_writes_html_naming_the_column_without_a_rule(
    staff_source: str,  # noqa: F811 (fixture)
    tmp_path: Path,
) -> None:
    rules_folder(
        tmp_path, RULES.replace("      grade:   {strategy: keep", "      grad:    {strategy: keep")
    )
    output = tmp_path / "audit.html"
    result = run_cli(
        "rules",
        "audit",
        "--source",
        staff_source,
        "--format",
        "html",
        "--output",
        output,
        cwd=tmp_path,
    )
    assert_ok(result)
    assert "wrote the audit of 7 columns in 1 tables" in result.stdout
    page = output.read_text()
    assert "no rule: public.staff.grade (integer)" in page
    assert "public.staff.grad: no such column in public.staff (did you mean grade?)" in page


def test_rules_audit_with_an_unknown_format_exits_2_in_one_line(tmp_path: Path) -> None:
    result = run_cli("rules", "audit", "--rules", demo_rules_dir(), "--format", "pdf", cwd=tmp_path)
    assert_one_line_error(result, 2, "unknown audit format 'pdf'", "md, html")


def test_rules_audit_into_a_missing_folder_exits_2_in_one_line(tmp_path: Path) -> None:
    result = run_cli(
        "rules",
        "audit",
        "--rules",
        demo_rules_dir(),
        "--output",
        tmp_path / "no" / "a.md",
        cwd=tmp_path,
    )
    assert_one_line_error(result, 2, "cannot write the audit report", "a.md")


def test_snapshot_workflow_audit_step_runs_with_the_flags_it_passes(tmp_path: Path) -> None:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["snapshot"]["steps"]
    script = next(s["run"] for s in steps if s.get("name") == "Audit report")
    words = shlex.split(script.split("anonymiser:run", 1)[1])
    assert words[:2] == ["rules", "audit"]
    shutil.copytree(demo_rules_dir(), tmp_path / "rules")
    (tmp_path / "report").mkdir()
    assert_ok(run_cli(*words, cwd=tmp_path))
    assert (tmp_path / "report" / "audit.html").read_text().startswith("<!DOCTYPE html>")


def diff(store: Path, *extra: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("snapshot", "diff", "fullset", "--from", "v1", "--store", store, *extra, cwd=cwd)


def test_snapshot_diff_between_two_cli_versions(
    staff_source: str,  # noqa: F811 (fixture)
    tmp_path: Path,
) -> None:
    store = tmp_path / "store"
    rules_folder(tmp_path)
    create_version(staff_source, store, "v1", cwd=tmp_path)
    execute(staff_source, "INSERT INTO staff (email) VALUES ('late@example.gov.uk')")
    rules_folder(tmp_path, RULES.replace("phone:   {strategy: redact", "phone:   {strategy: hash"))
    create_version(staff_source, store, "v2", cwd=tmp_path)

    text = diff(store, "--to", "v2", cwd=tmp_path)
    assert_ok(text)
    assert "  ~ public.staff.phone: strategy: redact -> hash" in text.stdout
    assert "masking key fingerprint: unchanged" in text.stdout
    as_json = diff(store, "--to", "v2", "--format", "json", cwd=tmp_path)
    assert_ok(as_json)
    rows = json.loads(as_json.stdout)["rows"]
    assert rows == [{"table": "public.staff", "old": 50, "new": 51, "delta": 1, "percent": 2.0}]
    # an edited manifest: refused in one line (exit 6), unless --allow-unsigned
    path = store / "fullset" / "v2" / "manifest.json"
    path.write_text(path.read_text().replace('"rows": 51', '"rows": 52'))
    assert_one_line_error(diff(store, "--to", "v2", cwd=tmp_path), 6, "v2")
    assert_ok(diff(store, "--to", "v2", "--allow-unsigned", cwd=tmp_path))


def test_snapshot_diff_of_an_unknown_version_or_format_exits_4_or_2_in_one_line(
    staff_source: str,  # noqa: F811 (fixture)
    tmp_path: Path,
) -> None:
    store = tmp_path / "store"
    rules_folder(tmp_path)
    create_version(staff_source, store, "v1", cwd=tmp_path)
    assert_one_line_error(diff(store, "--to", "v7", cwd=tmp_path), 4, "no complete version 'v7'")
    result = diff(store, "--to", "v1", "--format", "xml", cwd=tmp_path)
    assert_one_line_error(result, 2, "unknown diff format 'xml'", "text, md, json")
