"""The masking strategies reference (docs/strategies.md), generated from the strategy registry.

Everything comes from the strategy classes: `summary`, the class docstring (its `Example:` line
is a rule in YAML flow style), the declared Params, and the column types the strategy accepts,
found by running its own column check on sample columns. Regenerate after changing a strategy:

    python -m anonymiser.maskers.reference > docs/strategies.md
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import yaml

from anonymiser.maskers.base import ColumnSpec, Param, RuleError, Strategy, all_strategies

__all__ = ["example_rule", "package_strategies", "render_reference", "sample_columns"]

REGENERATE = "python -m anonymiser.maskers.reference > docs/strategies.md"


@dataclass(frozen=True)
class _Sample:
    pg_type: str
    base_type: str
    category: str
    arrow_type: pa.DataType


_SAMPLES = [
    _Sample("text", "text", "S", pa.string()),
    _Sample("varchar(64)", "varchar", "S", pa.string()),
    _Sample("smallint", "int2", "N", pa.int16()),
    _Sample("integer", "int4", "N", pa.int32()),
    _Sample("bigint", "int8", "N", pa.int64()),
    _Sample("numeric", "numeric", "N", pa.string()),
    _Sample("double precision", "float8", "N", pa.float64()),
    _Sample("boolean", "bool", "B", pa.bool_()),
    _Sample("date", "date", "D", pa.string()),
    _Sample("timestamp", "timestamp", "D", pa.string()),
    _Sample("timestamptz", "timestamptz", "D", pa.string()),
    _Sample("uuid", "uuid", "U", pa.string()),
    _Sample("bytea", "bytea", "U", pa.binary()),
    _Sample("json", "json", "U", pa.string()),
    _Sample("jsonb", "jsonb", "U", pa.string()),
    _Sample("text[]", "_text", "A", pa.string()),
    _Sample("integer[]", "_int4", "A", pa.string()),
]


def sample_columns() -> list[ColumnSpec]:
    """One nullable, non-unique column of each common PostgreSQL type."""
    return [
        ColumnSpec(
            table="public.sample",
            name="col",
            pg_type=s.pg_type.replace("varchar", "character varying"),
            base_type=s.base_type,
            category=s.category,
            arrow_type=s.arrow_type,
            max_length=64 if s.base_type == "varchar" else None,
        )
        for s in _SAMPLES
    ]


def _docstring(cls: type[Strategy]) -> tuple[str, str]:
    """(description, example YAML) from the class docstring."""
    text = inspect.cleandoc(cls.__doc__ or "")
    description, _, example = text.partition("Example:")
    return " ".join(description.split()), example.strip()


def example_rule(cls: type[Strategy]) -> dict[str, Any]:
    """The rule of the docstring's `Example:` line (empty when there is none)."""
    rule = yaml.safe_load(_docstring(cls)[1] or "{}")
    if not isinstance(rule, dict):
        raise ValueError(f"strategy {cls.name}: the docstring's Example: is not a YAML mapping")
    return rule


def _params_of(rule: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rule.items() if k not in ("strategy", "reason", "namespace")}


def _accepted(cls: type[Strategy], params: dict[str, Any]) -> list[str]:
    accepted = []
    for spec in sample_columns():
        try:
            cls(params, spec)
        except RuleError:
            continue
        accepted.append(next(s.pg_type for s in _SAMPLES if s.base_type == spec.base_type))
    return accepted


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "mapping"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _param_rows(params: dict[str, Param]) -> list[str]:
    if not params:
        return ["No parameters."]
    rows = ["| parameter | type | default | description |", "|---|---|---|---|"]
    for name, p in params.items():
        default = (
            "**required**" if p.required else ("none" if p.default is None else f"`{p.default!r}`")
        )
        doc = p.doc.replace("|", "\\|")
        rows.append(f"| `{name}` | {_type_name(p.kind)} | {default} | {doc} |")
    return rows


def _section(cls: type[Strategy]) -> list[str]:
    description, _ = _docstring(cls)
    rule = example_rule(cls)
    lines = [f"## {cls.name}", "", f"{cls.summary}", ""]
    if description:
        lines += [description, ""]
    lines += [*_param_rows(dict(cls.params)), ""]
    if cls.name == "keep":
        lines += ["**Column types:** all.", ""]
    else:
        accepted = _accepted(cls, _params_of(rule))
        lines += [f"**Column types** (with the example's parameters): {', '.join(accepted)}.", ""]
    if cls.may_collide:
        lines += [
            "On a unique column, collisions are detected and re-masked (never duplicated).",
            "",
        ]
    if rule:
        shown = yaml.safe_dump({"my_column": rule}, sort_keys=False, width=200).strip()
        lines += ["```yaml", shown, "```", ""]
    return lines


def package_strategies() -> dict[str, type[Strategy]]:
    """The strategies of anonymiser.maskers (tests register their own in the same registry)."""
    return {
        name: cls
        for name, cls in all_strategies().items()
        if cls.__module__.startswith("anonymiser.maskers.")
    }


def render_reference() -> str:
    """The whole of docs/strategies.md."""
    strategies = package_strategies()
    lines = [
        "# Masking strategies",
        "",
        f"<!-- Generated from anonymiser/maskers by `{REGENERATE}`; do not edit by hand. -->",
        "",
        "Every column of every table has a rule: a `strategy`, its parameters, and a `reason`.",
        "The rule file format, namespaces, keys and unique columns are in [rules.md](rules.md).",
        "Column types are checked before any data is read, so a rule that does not fit fails",
        "`anonymiser rules check` and `snapshot create` at once.",
        "",
        "| strategy | summary |",
        "|---|---|",
        *(f"| [{name}](#{name}) | {cls.summary} |" for name, cls in strategies.items()),
        "",
    ]
    for cls in strategies.values():
        lines += _section(cls)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render_reference(), end="")
