"""The operator's side of the CLI: exit codes as documented, --log-format plain/json/terminal
output with no secret in it, the create lock, help examples and shell completion."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import typer

from anonymiser import errors
from anonymiser.cli import app
from anonymiser.maskers.base import RuleError
from anonymiser.pg.locks import CREATE_LOCK
from anonymiser.rules.model import RulesInvalid
from tests.cli.test_cli import (
    CLI,
    KEEP_ALL_RULES,
    PLAIN_EVENT,
    SCHEMA_SQL,
    _clean_env,
    assert_ok,
    assert_one_line_error,
    closed_port,
    execute,
    run_cli,
)
from tests.conftest import TEST_MASKING_KEY, TEST_SIGNING_KEY

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Pa55-w0rd-never-shown"

# -- exit codes: the documented table is the code's ---------------------------------------------

ERROR_CLASSES: dict[str, type[errors.AnonymiserError]] = {
    **{name: getattr(errors, name) for name in errors.__all__},
    "RulesInvalid": RulesInvalid,
    "RuleError": RuleError,
}


def exit_code_table(path: Path) -> dict[int, set[str]]:
    """code -> the error classes named in backticks in its row, from the 'Exit codes' table."""
    text = path.read_text()
    section = text[text.index("## Exit codes") :]
    rows: dict[int, set[str]] = {}
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].isdigit():
            rows[int(cells[0])] = set(re.findall(r"`([A-Z]\w+)`", cells[2]))
    return rows


@pytest.mark.parametrize("doc", ["README.md", "docs/ops-runbook.md"])
def test_documented_exit_codes_are_the_error_classes_codes(doc: str) -> None:
    table = exit_code_table(ROOT / doc)
    assert {0, 1, 2, 70} <= set(table), f"{doc}: the exit code table misses 0, 1, 2 or 70"
    named = set().union(*table.values())
    missing = set(errors.__all__) - named
    assert not missing, f"{doc}: exit code table does not name {sorted(missing)}"
    for code, classes in table.items():
        for name in classes:
            assert ERROR_CLASSES[name].exit_code == code, f"{doc}: {name} is not exit {code}"


def test_readme_and_runbook_document_the_same_exit_codes() -> None:
    assert exit_code_table(ROOT / "README.md") == exit_code_table(ROOT / "docs/ops-runbook.md")


def create_fullset(source: str, cwd: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """`anonymiser OPTIONS snapshot create fullset` of `source` into cwd/store."""
    store = cwd / "store"
    return run_cli(
        *options, "snapshot", "create", "fullset", "--source", source, "--store", store, cwd=cwd
    )


@pytest.fixture
def loaded_source(source_dsn: str) -> str:
    execute(source_dsn, SCHEMA_SQL)
    return source_dsn


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_create_while_another_run_holds_the_lock_exits_11(
    loaded_source: str, tmp_path: Path, log_format: str
) -> None:
    with psycopg.connect(loaded_source, autocommit=True) as holder:
        # the very lock anonymiser.pg.locks takes for `snapshot create fullset`
        holder.execute(
            "SELECT pg_advisory_lock(hashtext(%s), hashtext(%s))", (CREATE_LOCK, "fullset")
        )
        result = create_fullset(loaded_source, tmp_path, "--log-format", log_format)
    assert result.returncode == errors.LockHeld.exit_code == 11, result.stderr
    if log_format == "plain":
        assert_one_line_error(result, 11, "another `snapshot create fullset` is running")
    else:
        (event,) = [json.loads(line) for line in result.stderr.splitlines()]
        assert (event["event"], event["error"], event["exit_code"]) == ("error", "LockHeld", 11)
    assert not list((tmp_path / "store").rglob("*.parquet"))


def test_usage_error_is_exit_2_and_a_json_event_in_json_mode(tmp_path: Path) -> None:
    plain = run_cli("snapshot", "list", "--no-such-flag", cwd=tmp_path)
    assert plain.returncode == 2 and "No such option" in plain.stderr
    as_json = run_cli("--log-format", "json", "snapshot", "list", "--no-such-flag", cwd=tmp_path)
    assert as_json.returncode == 2
    (event,) = [json.loads(line) for line in as_json.stderr.splitlines()]
    assert event["event"] == "error" and event["exit_code"] == 2
    assert "--no-such-flag" in event["message"]


def test_log_format_comes_from_the_environment(tmp_path: Path) -> None:
    env = _clean_env(ANONYMISER_LOG_FORMAT="json")
    result = run_cli("snapshot", "show", "fullset", "--store", tmp_path, cwd=tmp_path, env=env)
    assert result.returncode == errors.NotFound.exit_code
    assert json.loads(result.stderr)["error"] == "NotFound"


# -- output formats and secrets -----------------------------------------------------------------


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def run_on_terminal(*args: str | Path, cwd: Path, env: dict[str, str]) -> Run:
    """Run the CLI with stderr on a pseudo-terminal (where --log-format auto draws bars)."""
    master, replica = pty.openpty()
    proc = subprocess.Popen(
        [*CLI, *map(str, args)],
        cwd=cwd,
        env={**env, "TERM": "xterm-256color"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=replica,
    )
    os.close(replica)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.stdout is not None
    stdout = proc.stdout.read().decode()
    return Run(proc.wait(timeout=120), stdout, b"".join(chunks).decode(errors="replace"))


def run_in_format(log_format: str, *args: str | Path, cwd: Path, env: dict[str, str]) -> Run:
    if log_format == "terminal":
        return run_on_terminal(*args, cwd=cwd, env={**env, "ANONYMISER_LOG_FORMAT": "auto"})
    result = run_cli("--log-format", log_format, *args, cwd=cwd, env=env)
    return Run(result.returncode, result.stdout, result.stderr)


def json_events(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


def assert_no_secret(run: Run) -> None:
    output = run.stdout + run.stderr
    for secret in (PASSWORD, TEST_MASKING_KEY, TEST_SIGNING_KEY):
        assert secret not in output, f"a secret was printed:\n{output}"
    assert "Traceback" not in output


@pytest.mark.parametrize("log_format", ["plain", "json", "terminal"])
def test_create_and_restore_report_progress_and_never_print_a_secret(
    loaded_source: str, target_dsn: str, tmp_path: Path, log_format: str
) -> None:
    source = f"{loaded_source} password={PASSWORD}"
    target = f"{target_dsn} password={PASSWORD}"
    env = _clean_env()
    store = tmp_path / "store"
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "cli.yaml").write_text(KEEP_ALL_RULES)
    created = run_in_format(
        log_format,
        "snapshot", "create", "fullset", "--source", source, "--store", store,
        "--version", "v1", "--jobs", "2",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr
    assert_no_secret(created)
    restored = run_in_format(
        log_format,
        "snapshot", "restore", "fullset", "--target", target, "--store", store,
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert_no_secret(restored)
    failed = run_in_format(
        log_format,
        "snapshot", "create", "fullset", "--store", store,
        "--source", f"host=127.0.0.1 port={closed_port()} dbname=app password={PASSWORD}",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert failed.returncode == errors.ConnectionFailed.exit_code
    assert_no_secret(failed)
    if log_format == "json":
        events = json_events(created.stderr)
        stages = [(e["event"], e["stage"]) for e in events if e["event"].startswith("stage")]
        assert stages == [
            (kind, stage)
            for stage in ("extract", "mask", "verify", "publish")
            for kind in ("stage_start", "stage_end")
        ]
        tables = {(e["stage"], e["table"]): e["rows"] for e in events if e["event"] == "table"}
        assert tables[("extract", "public.orders")] == tables[("mask", "public.orders")] == 3
        assert tables[("publish", "public.customers")] == 3
        for event in events:
            assert {"time", "event", "dataset", "version", "stage", "table"} <= set(event)
            assert (event["dataset"], event["version"]) == ("fullset", "v1")
        end = [e for e in json_events(restored.stderr) if e["event"] == "stage_end"]
        assert [e["stage"] for e in end] == ["fetch", "restore"]
        assert end[-1]["rows"] == 8 and end[-1]["tables"] == 3 and end[-1]["seconds"] >= 0
        (error,) = json_events(failed.stderr)
        assert (error["event"], error["exit_code"]) == ("error", 3)
    elif log_format == "plain":
        lines = created.stderr.splitlines()
        assert all(PLAIN_EVENT.match(line) for line in lines), created.stderr
        assert any(" stage_end " in line and "stage=publish" in line for line in lines)
        assert failed.stderr.strip().startswith("error:")
    else:
        assert "publish done" in created.stderr and "restore done" in restored.stderr
        assert "error:" in failed.stderr


def test_quiet_prints_no_progress(loaded_source: str, tmp_path: Path) -> None:
    result = create_fullset(loaded_source, tmp_path, "--quiet")
    assert_ok(result)
    assert result.stderr == "" and "published fullset" in result.stdout


# -- help and completion ------------------------------------------------------------------------


def command_paths() -> list[tuple[str, ...]]:
    """Every leaf command of the CLI, e.g. ("snapshot", "create")."""
    found: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, (*path, name))
        else:
            found.append(path)

    walk(typer.main.get_command(app), ())
    return sorted(found)


def test_command_tree_is_walked() -> None:
    assert {("snapshot", "create"), ("rules", "check"), ("demo",)} <= set(command_paths())


@pytest.mark.parametrize("command", command_paths(), ids=" ".join)
def test_every_command_help_shows_an_example(tmp_path: Path, command: tuple[str, ...]) -> None:
    result = run_cli(*command, "--help", cwd=tmp_path)
    assert_ok(result)
    assert "Example: anonymiser " + " ".join(command) in result.stdout


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o"), ("zsh", "#compdef anonymiser"), ("fish", "complete --command")],
)
def test_show_completion_works_without_a_terminal(tmp_path: Path, shell: str, marker: str) -> None:
    result = run_cli("--show-completion", shell, cwd=tmp_path)
    assert_ok(result)
    assert marker in result.stdout and "_ANONYMISER_COMPLETE" in result.stdout


def test_completion_script_completes_subcommands(tmp_path: Path) -> None:
    env = _clean_env(
        _ANONYMISER_COMPLETE="complete_bash", COMP_WORDS="anonymiser snapshot re", COMP_CWORD="2"
    )
    result = run_cli(cwd=tmp_path, env=env)
    assert_ok(result)
    assert result.stdout.split() == ["restore"]


# -- SIGTERM ----------------------------------------------------------------------------------


def test_a_terminated_demo_stops_its_throwaway_cluster_and_says_so_in_one_line(
    tmp_path: Path,
) -> None:
    # the cluster's folder must be reachable by the server's user (root runs it as postgres):
    # a folder of its own under the system's temporary folder, not pytest's private one
    scratch = Path(tempfile.mkdtemp(prefix="anonymiser-sigterm-"))
    scratch.chmod(0o755)
    try:
        env = _clean_env(TMPDIR=str(scratch))
        child = subprocess.Popen(
            [*CLI, "demo", "--store", str(tmp_path / "store")],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while not list(scratch.glob("anonymiser-pg-*/data/postmaster.pid")):
            assert child.poll() is None and time.monotonic() < deadline, "no cluster started"
            time.sleep(0.1)
        child.send_signal(signal.SIGTERM)
        stdout, stderr = child.communicate(timeout=120)
        result = subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
        assert_one_line_error(result, 143, "terminated (SIGTERM)")
        assert not list(scratch.glob("anonymiser-pg-*")), "the cluster's files are left"
        running = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert str(scratch) not in running, "its server still runs"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
