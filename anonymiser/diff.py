"""`snapshot diff`: what changed between two versions of a dataset, for a compliance reviewer.

Read from the two manifests and the rule-set copies published with them: masking rules
(per column: strategy, parameters, reason, namespace; and the rules hash), schema (tables,
columns, types, constraints), row counts, the masking key (by fingerprint), the tool version
and the dataset definition. Versions published before snapshots kept a rules copy are
compared on their manifest's masking record (strategies and parameters, no reasons), and
the report says so. Rendering is in anonymiser.diff_render.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from anonymiser.catalog import Catalog, Table
from anonymiser.errors import IntegrityError
from anonymiser.manifest import Manifest
from anonymiser.reporting import param_text
from anonymiser.rules.model import Normalised, normalised_digest
from anonymiser.snapshot import trusted_manifest
from anonymiser.stores import Store, open_store

__all__ = ["Change", "Pair", "RowCount", "SnapshotDiff", "diff_manifests", "diff_snapshots"]

RULES_NOT_RECORDED = "rules not recorded"


@dataclass(frozen=True)
class Pair:
    """A setting in the old and the new version."""

    old: Any
    new: Any

    @property
    def changed(self) -> bool:
        return bool(self.old != self.new)


@dataclass(frozen=True)
class Change:
    """One difference: `subject` (a table, table.column or setting) added, removed or changed."""

    kind: str  # "added" | "removed" | "changed"
    subject: str
    detail: str  # one readable line: "strategy keep -> fake; reason ..."


@dataclass(frozen=True)
class RowCount:
    table: str
    old: int | None  # None: the table is not in that version
    new: int | None

    @property
    def delta(self) -> int:
        return (self.new or 0) - (self.old or 0)

    @property
    def percent(self) -> float | None:
        return None if not self.old else 100.0 * self.delta / self.old


@dataclass
class SnapshotDiff:
    dataset: str
    versions: Pair
    created: Pair
    tool_version: Pair
    key_fingerprint: Pair  # None where the version is not masked
    rules_hash: Pair
    rules_basis: str  # what the rule comparison was made from
    rules: list[Change] = field(default_factory=list)
    schema: list[Change] = field(default_factory=list)
    rows: list[RowCount] = field(default_factory=list)
    definition_note: str = ""
    definition: list[Change] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rows"] = [{**asdict(r), "delta": r.delta, "percent": r.percent} for r in self.rows]
        for name in ("tool_version", "key_fingerprint", "rules_hash"):
            out[name]["changed"] = getattr(self, name).changed
        return out


def _rules_copy(store: Store, m: Manifest) -> Normalised | None:
    """The normalised rule set published with `m`, checked against its sha256 and hash."""
    entry = m.schema_files.get("rules")
    if entry is None:
        return None
    key = f"{m.dataset}/{m.version}/{entry.path}"
    data = store.get_bytes(key)
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        raise IntegrityError(f"{store.url}: {key} does not match its sha256 in the manifest")
    try:
        tables: Normalised = json.loads(data)["tables"]
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"{store.url}: {key} is not a rules copy ({exc})") from None
    if normalised_digest(tables) != m.masking.get("rules_hash"):
        raise IntegrityError(f"{store.url}: {key} does not hash to the manifest's rules_hash")
    return tables


def _masking_record(m: Manifest) -> Normalised:
    """Strategy, parameters and namespace per column from the manifest's masking record."""
    return {
        table: {
            col: {
                "strategy": e["strategy"],
                **e.get("params", {}),
                **({"namespace": e["namespace"]} if e.get("namespace") else {}),
            }
            for col, e in cols.items()
        }
        for table, cols in m.masking.get("columns", {}).items()
    }


def _show(value: Any) -> str:
    return "-" if value is None else param_text(value)


def _fields_changed(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = ["strategy", *sorted((set(old) | set(new)) - {"strategy"})]
    return "; ".join(
        f"{k}: {_show(old.get(k))} -> {_show(new.get(k))}" for k in keys if old.get(k) != new.get(k)
    )


def _describe_rule(rule: dict[str, Any]) -> str:
    params = ", ".join(
        f"{k}={_show(v)}" for k, v in sorted(rule.items()) if k not in ("strategy", "reason")
    )
    reason = f" ({rule['reason']})" if rule.get("reason") else ""
    return f"{rule.get('strategy')}{' ' + params if params else ''}{reason}"


def _rule_changes(old: Normalised, new: Normalised) -> list[Change]:
    out = []
    for table in sorted(set(old) | set(new)):
        before, after = old.get(table, {}), new.get(table, {})
        for column in sorted(set(before) | set(after)):
            subject = f"{table}.{column}"
            if column not in before:
                out.append(Change("added", subject, _describe_rule(after[column])))
            elif column not in after:
                out.append(Change("removed", subject, _describe_rule(before[column])))
            elif before[column] != after[column]:
                out.append(
                    Change("changed", subject, _fields_changed(before[column], after[column]))
                )
    return out


def _constraints(table: Table) -> dict[str, list[str]]:
    """Each kind of constraint of a table as sorted readable lines, so sets compare."""
    return {
        "primary key": [", ".join(table.primary_key)] if table.primary_key else [],
        "unique": sorted(", ".join(k) for k in table.unique_keys),
        "foreign key": sorted(
            f"({', '.join(f.columns)}) -> {f.ref_table} ({', '.join(f.ref_columns)})"
            for f in table.foreign_keys
        ),
        "check": sorted(table.checks),
        "index": sorted(i.definition for i in table.indexes if not i.primary),
    }


def _table_changes(name: str, old: Table, new: Table) -> list[Change]:
    out = []
    before = {c.name: c for c in old.columns}
    after = {c.name: c for c in new.columns}
    for col in [c for c in before if c not in after]:
        out.append(Change("removed", f"{name}.{col}", f"column ({before[col].pg_type})"))
    for col in [c for c in after if c not in before]:
        null = " NOT NULL" if after[col].not_null else ""
        out.append(Change("added", f"{name}.{col}", f"column ({after[col].pg_type}{null})"))
    for col in [c for c in after if c in before]:
        a, b = before[col], after[col]
        if a.pg_type != b.pg_type:
            out.append(Change("changed", f"{name}.{col}", f"type {a.pg_type} -> {b.pg_type}"))
        if a.not_null != b.not_null:
            state = "NOT NULL" if b.not_null else "nullable"
            out.append(Change("changed", f"{name}.{col}", f"now {state}"))
    was, now = _constraints(old), _constraints(new)
    for kind in was:
        for line in sorted(set(was[kind]) - set(now[kind])):
            out.append(Change("removed", name, f"{kind} {line}"))
        for line in sorted(set(now[kind]) - set(was[kind])):
            out.append(Change("added", name, f"{kind} {line}"))
    return out


def _schema_changes(old: Catalog, new: Catalog) -> list[Change]:
    out = []
    for name in sorted(set(old.tables) | set(new.tables)):
        if name not in new.tables:
            out.append(Change("removed", name, old.tables[name].kind))
        elif name not in old.tables:
            columns = len(new.tables[name].columns)
            out.append(Change("added", name, f"{new.tables[name].kind}, {columns} columns"))
        else:
            out.extend(_table_changes(name, old.tables[name], new.tables[name]))
    return out


def _masked(m: Manifest, field_name: str) -> Any:
    return m.masking.get(field_name) if m.masking.get("applied") else None


def diff_manifests(
    old: Manifest, new: Manifest, old_rules: Normalised | None, new_rules: Normalised | None
) -> SnapshotDiff:
    """The differences between two versions, given their manifests and rules copies."""
    if old_rules is not None and new_rules is not None:
        basis = "the rule sets published with both versions"
    else:
        missing = [
            m.version + ("" if m.masking.get("applied") else " (not masked)")
            for m, r in ((old, old_rules), (new, new_rules))
            if r is None
        ]
        basis = (
            f"{RULES_NOT_RECORDED} in {' and '.join(missing)}: compared the strategies and "
            "parameters of the manifests' masking records, with the namespace each masked "
            "column used (reasons are not recorded there)"
        )
        old_rules, new_rules = _masking_record(old), _masking_record(new)
    rows_old = {t.qualified: t.rows for t in old.tables}
    rows_new = {t.qualified: t.rows for t in new.tables}
    result = SnapshotDiff(
        dataset=new.dataset,
        versions=Pair(old.version, new.version),
        created=Pair(old.created_at, new.created_at),
        tool_version=Pair(old.tool_version, new.tool_version),
        key_fingerprint=Pair(_masked(old, "key_fingerprint"), _masked(new, "key_fingerprint")),
        rules_hash=Pair(_masked(old, "rules_hash"), _masked(new, "rules_hash")),
        rules_basis=basis,
        rules=_rule_changes(old_rules, new_rules),
        schema=_schema_changes(old.get_catalog(), new.get_catalog()),
        rows=[
            RowCount(t, rows_old.get(t), rows_new.get(t))
            for t in sorted(set(rows_old) | set(rows_new))
        ],
    )
    if not old.dataset_definition or not new.dataset_definition:
        missing = [m.version for m in (old, new) if not m.dataset_definition]
        result.definition_note = f"dataset definition not recorded in {' and '.join(missing)}"
    else:
        a, b = old.dataset_definition, new.dataset_definition
        result.definition = [
            Change("changed", key, f"{_show(a.get(key))} -> {_show(b.get(key))}")
            for key in sorted(set(a) | set(b))
            if a.get(key) != b.get(key)
        ]
    return result


def diff_snapshots(
    store: Store | str | Path,
    dataset: str,
    old: str,
    new: str,
    *,
    signing_key: bytes | None = None,
    allow_unsigned: bool = False,
) -> SnapshotDiff:
    """What changed in `dataset` from version `old` to version `new` (NotFound if unknown).

    Both manifests' signatures are checked first (key default: ANONYMISER_SIGNING_KEY), as
    restore and verify do: a diff is evidence for a reviewer.
    """
    source = open_store(store)
    a, b = (
        trusted_manifest(source, dataset, v, signing_key=signing_key, allow_unsigned=allow_unsigned)
        for v in (old, new)
    )
    return diff_manifests(a, b, _rules_copy(source, a), _rules_copy(source, b))
