"""Load and merge every YAML rule file of a folder, remembering file and line of each rule.

Shape (see docs/rules.md):

    tables:
      schema.table:
        defaults: {reason: ..., <param>: ...}     # optional, applied to the listed columns only
        columns:
          col: {strategy: ..., reason: ..., namespace: ..., <params>}
          other: keep                              # shorthand: strategy only

Structural mistakes do not stop loading: they become Problems, so `rules check` lists every
one at once. Only an unreadable folder raises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from anonymiser.errors import ConfigError
from anonymiser.maskers import all_strategies
from anonymiser.rules.model import RESERVED_KEYS, Problem, Rule, RuleSet, TableRules

__all__ = ["load_rules", "rule_files"]


class _Map(dict[Any, Any]):
    """A YAML mapping that knows its line and the line of each key."""

    line: int = 0
    key_lines: dict[Any, int]
    duplicates: list[tuple[Any, int]]


class _LineLoader(yaml.SafeLoader):  # type: ignore[misc]
    pass


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.line = node.start_mark.line + 1
    out.key_lines, out.duplicates = {}, []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            if key in out:
                out.duplicates.append((key, line))
            out[key] = loader.construct_object(value_node, deep=True)
        except TypeError:  # an unhashable key such as a list
            out.duplicates.append((repr(key), line))
            continue
        out.key_lines[key] = line
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)


def _line(mapping: Any, key: Any) -> int:
    return mapping.key_lines.get(key, mapping.line) if isinstance(mapping, _Map) else 0


def rule_files(folder: Path) -> list[Path]:
    """Every *.yaml / *.yml under `folder`, in a stable order."""
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def load_rules(folder: Path) -> RuleSet:
    """Merge every rule file under `folder`; problems are collected, not raised."""
    if not folder.is_dir():
        raise ConfigError(
            f"no rules folder {folder}: write masking rules there or pass --rules DIR "
            "(`anonymiser rules suggest` drafts a complete set)"
        )
    rules = RuleSet(root=str(folder))
    strategies = all_strategies()
    for path in rule_files(folder):
        rules.files.append(str(path))
        _load_file(path, rules, strategies)
    if not rules.files:
        rules.problems.append(
            Problem("error", str(folder), "the rules folder holds no .yaml rule files")
        )
    return rules


def _load_file(path: Path, rules: RuleSet, strategies: dict[str, Any]) -> None:
    file = str(path)

    def problem(rule: str, message: str, line: int = 0) -> None:
        rules.problems.append(Problem("error", rule, message, file, line))

    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem(
            "(file)",
            f"not valid YAML: {getattr(exc, 'problem', exc)}",
            mark.line + 1 if mark else 0,
        )
        return
    except (OSError, UnicodeDecodeError) as exc:
        problem("(file)", f"cannot read: {exc}")
        return
    if doc is None:
        return  # an empty file holds no rules
    if not isinstance(doc, dict) or "tables" not in doc:
        problem("(file)", "expected a mapping with a top-level `tables:` key", 1)
        return
    _report_duplicates(doc, problem, "(file)")
    for key in doc:
        if key != "tables":
            problem(str(key), "unknown top-level key (expected only `tables`)", _line(doc, key))
    tables = doc["tables"]
    if not isinstance(tables, dict):
        problem("tables", "must map schema.table names to their rules", _line(doc, "tables"))
        return
    _report_duplicates(tables, problem, "tables")
    for name, body in tables.items():
        _load_table(str(name), body, _line(tables, name), file, rules, strategies, problem)


def _report_duplicates(mapping: Any, problem: Any, where: str) -> None:
    for key, line in getattr(mapping, "duplicates", []):
        problem(
            f"{where}.{key}" if where != "(file)" else str(key), "written twice in this file", line
        )


def _load_table(
    name: str,
    body: Any,
    line: int,
    file: str,
    rules: RuleSet,
    strategies: dict[str, Any],
    problem: Any,
) -> None:
    if "." not in name:
        problem(name, "name the table with its schema, e.g. public." + name, line)
        return
    if name in rules.tables:
        first = rules.tables[name]
        problem(
            name,
            f"table defined twice: in {first.file}:{first.line} and here; keep one definition",
            line,
        )
        return
    if not isinstance(body, dict) or not isinstance(body.get("columns"), dict):
        problem(name, "expected `columns:` mapping each column to its rule", line)
        return
    for key in body:
        if key not in ("columns", "defaults"):
            problem(name, f"unknown key {key!r} (expected columns, defaults)", _line(body, key))
    defaults = body.get("defaults") or {}
    if not isinstance(defaults, dict):
        problem(
            name,
            "`defaults:` must be a mapping of reason/strategy/parameters",
            _line(body, "defaults"),
        )
        defaults = {}
    if "namespace" in defaults:
        problem(
            name,
            "`namespace` cannot be a table default (every column would share one mapping)",
            _line(defaults, "namespace"),
        )
    table = TableRules(name=name, file=file, line=line)
    rules.tables[name] = table
    columns = body["columns"]
    _report_duplicates(columns, problem, name)
    for column, raw in columns.items():
        label = f"{name}.{column}"
        col_line = _line(columns, column)
        if isinstance(raw, str):
            raw = {"strategy": raw}
        if not isinstance(raw, dict):
            problem(
                label,
                "expected {strategy: ..., reason: ..., <parameters>} or a strategy name",
                col_line,
            )
            continue
        _report_duplicates(raw, problem, label)
        strategy = raw.get("strategy", defaults.get("strategy"))
        if not isinstance(strategy, str) or not strategy:
            problem(
                label,
                "no strategy: write `strategy: keep` explicitly if the value is not personal",
                col_line,
            )
            continue
        reason = raw.get("reason", defaults.get("reason"))
        namespace = raw.get("namespace")
        if namespace is not None and (not isinstance(namespace, str) or not namespace.strip()):
            problem(label, "namespace must be a non-empty string", col_line)
            namespace = None
        # a default parameter applies only where the column's strategy declares it
        declared = getattr(strategies.get(strategy), "params", {})
        params = {k: v for k, v in defaults.items() if k not in RESERVED_KEYS and k in declared}
        params.update({k: v for k, v in raw.items() if k not in RESERVED_KEYS})
        table.columns[str(column)] = Rule(
            table=name,
            column=str(column),
            strategy=strategy,
            params=params,
            reason=reason.strip() if isinstance(reason, str) else "",
            namespace=namespace,
            file=file,
            line=col_line,
        )
