"""Dataset definitions (snapshots/NAME.yaml): which tables and which rows a snapshot holds.

Tables are chosen with `include` / `exclude` lists of schema.table names or shell-style
patterns. An optional `subset` picks rows: `roots` (a table and a `where` filter, checked by
anonymiser.subset.filters) and `follow` (parent -> child relations whose children are pulled
in too, optionally at most `limit` per parent row). The rows the roots pick pull in every row
they reference, transitively (anonymiser.subset.closure). The built-in `fullset` (every
table, every row) needs no file. Reference: docs/datasets.md.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from anonymiser.errors import ConfigError
from anonymiser.subset.filters import FilterError, RowFilter, parse_filter

__all__ = ["Dataset", "Follow", "Root", "load_dataset", "validate_name"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def validate_name(kind: str, value: str) -> str:
    """Dataset and version names become store folder names: keep them plain."""
    if not _NAME.fullmatch(value):
        raise ConfigError(
            f"invalid {kind} name {value!r}: use letters, digits, '.', '_' or '-' "
            "(not starting with '.' or '-')"
        )
    return value


@dataclass(frozen=True)
class Root:
    """Rows of `table` matching `where` (every row when None) start the subset."""

    table: str  # "schema.table" as written ("public." is implied when no schema is given)
    where: RowFilter | None = None
    label: str = ""  # "root 2 (public.providers)", for error messages


@dataclass(frozen=True)
class Follow:
    """Also pull in the rows of `child` that reference a picked row of `parent`."""

    parent: str
    child: str
    via: tuple[str, ...] = ()  # the child's FK columns; empty when only one FK links them
    limit: int | None = None  # at most this many children per parent row (by primary key)
    label: str = ""


@dataclass
class Dataset:
    name: str
    description: str = ""
    include: list[str] = field(default_factory=lambda: ["*"])
    exclude: list[str] = field(default_factory=list)
    source_file: str | None = None
    roots: list[Root] = field(default_factory=list)
    follow: list[Follow] = field(default_factory=list)

    @property
    def is_subset(self) -> bool:
        """Whether rows are chosen by roots (else every row of every included table)."""
        return bool(self.roots)

    def describe(self) -> dict[str, Any]:
        """The resolved definition as plain data (filters in canonical form): the manifest's."""
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "include": list(self.include),
            "exclude": list(self.exclude),
        }
        if self.roots:
            out["subset"] = {
                "roots": [
                    {"table": r.table, "where": r.where.sql if r.where else None}
                    for r in self.roots
                ],
                "follow": [
                    {"from": f.parent, "to": f.child, "via": list(f.via), "limit": f.limit}
                    for f in self.follow
                ],
            }
        return out

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
    roots, follow = _load_subset(raw.get("subset"), path)
    tables = raw.get("tables", {}) or {}
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: 'tables' must be a mapping with include/exclude lists")
    include = tables.get("include", ["*"])
    exclude = tables.get("exclude", [])
    for key, value in (("include", include), ("exclude", exclude)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: tables.{key} must be a list of schema.table patterns")
    declared = str(raw.get("name", name))  # YAML reads `name: 2024` as a number
    if declared != name:
        raise ConfigError(f"{path}: declares name {declared!r} but the file is for {name!r}")
    return Dataset(
        name=name,
        description=str(raw.get("description", "")),
        include=include,
        exclude=exclude,
        source_file=str(path),
        roots=roots,
        follow=follow,
    )


def _table_name(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: 'table' must be a schema.table name")
    return value if "." in value else f"public.{value}"


def _load_subset(raw: object, path: Path) -> tuple[list[Root], list[Follow]]:
    if raw is None:
        return [], []
    if not isinstance(raw, dict) or set(raw) - {"roots", "follow"}:
        raise ConfigError(f"{path}: 'subset' must be a mapping with 'roots' and optional 'follow'")
    raw_roots, raw_follow = raw.get("roots") or [], raw.get("follow") or []
    if not isinstance(raw_roots, list) or not raw_roots:
        raise ConfigError(f"{path}: subset.roots must be a non-empty list of {{table, where}}")
    if not isinstance(raw_follow, list):
        raise ConfigError(f"{path}: subset.follow must be a list of {{from, to, via, limit}}")
    roots = []
    for i, item in enumerate(raw_roots, 1):
        if not isinstance(item, dict) or set(item) - {"table", "where"}:
            raise ConfigError(f"{path}: subset root {i}: expected a mapping with table and where")
        table = _table_name(item.get("table"), f"{path}: subset root {i}")
        label = f"root {i} ({table})"
        text = item.get("where")
        try:
            where = None if text is None else parse_filter(str(text))
        except FilterError as exc:
            raise ConfigError(f"{path}: subset {label}: filter refused: {exc}") from None
        roots.append(Root(table=table, where=where, label=label))
    follow = []
    for i, item in enumerate(raw_follow, 1):
        if not isinstance(item, dict) or set(item) - {"from", "to", "via", "limit"}:
            raise ConfigError(
                f"{path}: subset follow {i}: expected a mapping with from, to, via, limit"
            )
        parent = _table_name(item.get("from"), f"{path}: subset follow {i} 'from'")
        child = _table_name(item.get("to"), f"{path}: subset follow {i} 'to'")
        via = item.get("via") or []
        via = [via] if isinstance(via, str) else via
        if not isinstance(via, list) or not all(isinstance(v, str) for v in via):
            raise ConfigError(f"{path}: subset follow {i}: 'via' must list the child's FK columns")
        limit = item.get("limit")
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
        ):
            raise ConfigError(f"{path}: subset follow {i}: 'limit' must be a positive integer")
        label = f"follow {i} ({parent} -> {child})"
        follow.append(Follow(parent, child, tuple(via), limit, label))
    return roots, follow
