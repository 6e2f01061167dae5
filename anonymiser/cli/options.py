"""What the commands share: the consoles, the common options, the running command's reporter."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from anonymiser.config import ENV_SOURCE, ENV_STORE
from anonymiser.manifest import Manifest
from anonymiser.progress import Reporter, make_reporter

__all__ = [
    "ENV_LOG_FORMAT",
    "AllowUnsignedOpt",
    "DatasetsOpt",
    "JobsOpt",
    "LogFormat",
    "OnlyDatasetOpt",
    "RulesOpt",
    "Session",
    "SigningKeyOpt",
    "SourceOpt",
    "StoreOpt",
    "VersionOpt",
    "err",
    "out",
    "requested_format",
    "session_reporter",
    "signing_key",
    "verification_summary",
]

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

StoreOpt = Annotated[
    str,
    typer.Option(
        "--store", envvar=ENV_STORE, help="Store: a path, file:// URL or s3://bucket/prefix."
    ),
]
VersionOpt = Annotated[
    str | None, typer.Option("--version", help="Snapshot version (default: latest).")
]
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=1, max=64, help="Parallel workers.")]
SigningKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--signing-key-file",
        help="File holding the manifest signing key (default: $ANONYMISER_SIGNING_KEY).",
    ),
]
AllowUnsignedOpt = Annotated[
    bool,
    typer.Option(
        "--allow-unsigned", help="Accept an unsigned or wrongly signed manifest (logged)."
    ),
]


def signing_key(key_file: Path | None) -> bytes | None:
    """The manifest signing key of --signing-key-file (anonymiser.signing.load_signing_key)."""
    from anonymiser.signing import load_signing_key

    return load_signing_key(key_file)


RulesOpt = Annotated[
    Path | None, typer.Option("--rules", help="Masking rules folder (default ./rules).")
]
SourceOpt = Annotated[
    str | None,
    typer.Option("--source", envvar=ENV_SOURCE, help="Source database DSN (read only)."),
]

DatasetsOpt = Annotated[
    Path | None,
    typer.Option("--datasets", help="Dataset definitions folder (default ./snapshots)."),
]
OnlyDatasetOpt = Annotated[
    str | None, typer.Option("--dataset", help="Only the tables of this dataset.")
]


ENV_LOG_FORMAT = "ANONYMISER_LOG_FORMAT"


class LogFormat(StrEnum):
    """--log-format (anonymiser.progress.LOG_FORMATS)."""

    auto = "auto"
    plain = "plain"
    json = "json"


class Session:
    """The running command's reporter: set by the root options, used by commands and main()."""

    reporter: Reporter | None = None


def session_reporter() -> Reporter:
    """The running command's reporter (Session), made from --log-format if not set yet."""
    if Session.reporter is None:  # an error before the root options were parsed
        Session.reporter = make_reporter(requested_format())
    return Session.reporter


def requested_format() -> str:
    """--log-format from the command line or the environment, read without click."""
    args = sys.argv[1:]
    for index, arg in enumerate(args):
        if arg.startswith("--log-format="):
            return arg.split("=", 1)[1]
        if arg == "--log-format" and index + 1 < len(args):
            return args[index + 1]
    return os.environ.get(ENV_LOG_FORMAT, "auto")


def verification_summary(m: Manifest) -> str:
    """One line: how many verification checks of each kind passed (or that there were none)."""
    checks = m.verification.get("checks", [])
    if not m.verification:
        return "verification: none recorded (made before the verification gate)"
    kinds: dict[str, list[int]] = {}
    for check in checks:
        passed = kinds.setdefault(check["name"], [0, 0])
        passed[0] += 0 if check["failures"] else 1
        passed[1] += 1
    verdict = "passed" if m.verification.get("passed") else "FAILED"
    detail = ", ".join(f"{name} {ok}/{total}" for name, (ok, total) in sorted(kinds.items()))
    return f"verification {verdict}: {detail or 'no checks'}"
