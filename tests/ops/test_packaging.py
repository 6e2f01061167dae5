"""The container image and the GitHub workflows: linted, and holding what ops rely on."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def tool(name: str) -> str:
    """A linter installed with the test extra (next to this Python, or on PATH)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: install the project's test extra")
    return found


def workflow(name: str) -> dict[Any, Any]:
    loaded = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_slim_non_root_pinned_with_pg_client_and_anonymiser_entrypoint() -> None:
    text = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert bases and all("slim" in base for base in bases), bases
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0"), users
    assert re.search(r'^ENTRYPOINT \["anonymiser"\]', text, re.MULTILINE)
    assert "postgresql-client-" in text
    assert "--constraint requirements.lock" in text


def test_lock_file_pins_every_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = {
        re.split(r"==", line)[0].strip().lower().replace("_", "-")
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    for requirement in project["dependencies"]:
        name = re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pinned, f"{name} is not pinned in requirements.lock"


def test_workflows_pass_actionlint() -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert files
    result = subprocess.run(
        [tool("actionlint"), "-no-color", *files], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_readme_test_command_over_the_supported_matrix() -> None:
    ci = workflow("ci.yml")
    job = ci["jobs"]["test"]
    matrix = job["strategy"]["matrix"]
    assert matrix["postgres"] == ["14", "15", "16", "17"]
    assert matrix["python"] == ["3.11", "3.12", "3.13"]
    runs = [step.get("run", "") for step in job["steps"]]
    assert any("./run.sh test" in run for run in runs)
    assert "./run.sh test" in (ROOT / "README.md").read_text()


def test_snapshot_workflow_is_yearly_dispatchable_oidc_and_keeps_the_audit_report() -> None:
    snap = workflow("snapshot.yml")
    triggers = snap[True] if True in snap else snap["on"]  # YAML 1.1 reads `on` as True
    assert triggers["schedule"][0]["cron"].split()[2:4] != ["*", "*"], "not yearly"
    inputs = triggers["workflow_dispatch"]["inputs"]
    assert {"dataset", "version"} <= set(inputs)
    assert snap["permissions"]["id-token"] == "write"
    steps = snap["jobs"]["snapshot"]["steps"]
    uses = [step.get("uses", "") for step in steps]
    assert any(u.startswith("aws-actions/configure-aws-credentials") for u in uses)
    assert any(u.startswith("actions/upload-artifact") for u in uses)
    runs = "\n".join(step.get("run", "") for step in steps)
    assert "docker build" in runs and "docker run" in runs
    assert "secrets.ANONYMISER_KEY" in (WORKFLOWS / "snapshot.yml").read_text()
