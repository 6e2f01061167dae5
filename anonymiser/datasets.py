"""Dataset definitions (snapshots/NAME.yaml): which tables a snapshot holds.

This version supports whole-table selection (`include` / `exclude` lists of schema.table
names or shell-style patterns). The built-in `fullset` (every table) needs no file.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from anonymiser.errors import ConfigError

__all__ = ["Dataset", "load_dataset", "validate_name"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def validate_name(kind: str, value: str) -> str:
    """Dataset and version names become store folder names: keep them plain."""
    if not _NAME.fullmatch(value):
        raise ConfigError(
            f"invalid {kind} name {value!r}: use letters, digits, '.', '_' or '-' "
            "(not starting with '.' or '-')"
        )
    return value


@dataclass
class Dataset:
    name: str
    description: str = ""
    include: list[str] = field(default_factory=lambda: ["*"])
    exclude: list[str] = field(default_factory=list)
    source_file: str | None = None

    def includes(self, qualified: str) -> bool:
        def hit(patterns: list[str]) -> bool:
            return any(fnmatch.fnmatchcase(qualified, p) for p in patterns)

        return hit(self.include) and not hit(self.exclude)


def load_dataset(name: str, datasets_dir: Path | None) -> Dataset:
    validate_name("dataset", name)
    path = (datasets_dir or Path("snapshots")) / f"{name}.yaml"
    if not path.is_file():
        if name == "fullset":
            return Dataset(name="fullset", description="every table, every row")
        raise ConfigError(f"unknown dataset {name!r}: no definition file {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with name/description/tables")
    tables = raw.get("tables", {}) or {}
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: 'tables' must be a mapping with include/exclude lists")
    include = tables.get("include", ["*"])
    exclude = tables.get("exclude", [])
    for key, value in (("include", include), ("exclude", exclude)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: tables.{key} must be a list of schema.table patterns")
    declared = raw.get("name", name)
    if declared != name:
        raise ConfigError(f"{path}: declares name {declared!r} but the file is for {name!r}")
    return Dataset(
        name=name,
        description=str(raw.get("description", "")),
        include=include,
        exclude=exclude,
        source_file=str(path),
    )
