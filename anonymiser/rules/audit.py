"""`rules audit`: one row per column of how it is masked and why, for a compliance reviewer.

The report is built from the objects the masker runs: the loaded RuleSet and, when the
source catalog is read, the lint result (its mask plan gives each column's namespace, its
problems the columns lacking rules and the rules lacking columns). Rendering is in
anonymiser.rules.audit_render; nothing here talks to a database.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anonymiser import __version__
from anonymiser.catalog import Catalog, Table
from anonymiser.config import DEFAULT_RULES_DIR
from anonymiser.datasets import Dataset
from anonymiser.reporting import param_text
from anonymiser.rules.lint import MaskPlan, lint
from anonymiser.rules.loader import load_rules
from anonymiser.rules.model import Problem, Rule, RuleSet
from anonymiser.rules.plan import unique_columns
from anonymiser.rules.suggest import classify_name
from anonymiser.stages.publish import utc_now

__all__ = ["AuditReport", "AuditRow", "audit_rules", "build_audit", "classify", "redact_params"]

# a parameter whose name looks like it could carry a secret is never printed; no strategy
# takes a key (keys come from the environment), so this only ever hides a mistake
_SECRET_NAME = re.compile(r"key|secret|passw|token|credential|auth", re.IGNORECASE)
REDACTED = "[redacted]"
NOT_PERSONAL = "not personal"


@dataclass(frozen=True)
class AuditRow:
    """One column: where it is, how it is masked, why, and what the reviewer should check."""

    table: str
    column: str
    pg_type: str  # "" when the source catalog was not read
    keys: str  # "PK", "FK -> public.users.id", "unique", joined with ", "
    strategy: str  # "" for a column without a rule
    params: str  # rendered, secret-looking values redacted
    namespace: str
    reason: str
    classification: str
    status: str  # "ok", or what lint says is wrong with this column's rule
    file: str = ""  # rule file and line, for the reviewer to open
    line: int = 0


@dataclass
class AuditReport:
    rows: list[AuditRow]
    rules_hash: str
    rules_dir: str
    rules_files: int
    generated_at: str
    tool_version: str = __version__
    dataset: str = ""  # "" = every table the rules name
    source_read: bool = False
    problems: list[Problem] = field(default_factory=list)  # from lint; empty without a source

    @property
    def missing(self) -> list[AuditRow]:
        """Columns of the source without a rule (the snapshot would refuse to start)."""
        return [r for r in self.rows if not r.strategy]

    @property
    def stale(self) -> list[Problem]:
        """Rules naming a table or column the source does not have."""
        return [p for p in self.problems if p.code in ("no-table", "no-column")]

    @property
    def other_problems(self) -> list[Problem]:
        return [p for p in self.problems if p.code not in ("no-rule", "no-table", "no-column")]

    @property
    def tables(self) -> int:
        return len({r.table for r in self.rows})

    def by_strategy(self) -> list[tuple[str, int]]:
        counts = Counter(r.strategy or "(no rule)" for r in self.rows)
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    def by_classification(self) -> list[tuple[str, int]]:
        counts = Counter(r.classification for r in self.rows)
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def redact_params(value: Any) -> Any:
    """`value` with every secret-looking key's value replaced, at any depth."""
    if isinstance(value, dict):
        return {
            k: REDACTED if _SECRET_NAME.search(str(k)) else redact_params(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_params(v) for v in value]
    return value


def _render_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={param_text(v)}" for k, v in sorted(redact_params(params).items()))


def classify(rule: Rule | None, column: str) -> str:
    """The PII class of a column: what its name says (the rules suggester's classifier),
    else what its rule says. A personal-looking column that is kept says so, for review."""
    found = classify_name(column)
    if rule is None:
        return found or "unclassified (no rule)"
    if rule.strategy == "keep":
        return f"kept: looks like {found}" if found else NOT_PERSONAL
    if found:
        return found
    return "free text" if rule.strategy == "presidio" else "personal (masked by rule)"


def _key_roles(catalog: Catalog, table: Table, column: str) -> str:
    roles = []
    if column in table.primary_key:
        roles.append("PK")
    for fk in sorted(table.foreign_keys, key=lambda f: f.name):
        if column in fk.columns:
            ref = fk.ref_columns[fk.columns.index(column)]
            roles.append(f"FK -> {fk.ref_table}.{ref}")
    if column not in table.primary_key and column in unique_columns(table):
        roles.append("unique")
    return ", ".join(roles)


def _row(
    table: str,
    column: str,
    rule: Rule | None,
    catalog: Catalog | None,
    plan: MaskPlan | None,
    status: str,
) -> AuditRow:
    found = catalog.tables.get(table) if catalog else None
    col = next((c for c in found.columns if c.name == column), None) if found else None
    planned = plan.columns.get((table, column)) if plan else None
    namespace = rule.namespace if rule and rule.namespace else ""
    if planned is not None and planned.masks:
        namespace = planned.namespace  # declared, the FK parent's, or the column's own
    return AuditRow(
        table=table,
        column=column,
        pg_type=col.pg_type if col else "",
        keys=_key_roles(catalog, found, column) if catalog and found and col else "",
        strategy=rule.strategy if rule else "",
        params=_render_params(rule.params) if rule else "",
        namespace=namespace,
        reason=rule.reason if rule else "",
        classification=classify(rule, column),
        status=status,
        file=rule.file if rule else "",
        line=rule.line if rule else 0,
    )


def build_audit(
    rules: RuleSet,
    catalog: Catalog | None = None,
    dataset: Dataset | None = None,
    *,
    generated_at: str = "",
) -> AuditReport:
    """The audit of `rules`; with the source `catalog`: types, key roles and coverage too."""
    problems = list(rules.problems)
    plan: MaskPlan | None = None
    if catalog is not None:
        result = lint(rules, catalog, dataset)
        problems, plan = result.problems, result.plan
    status: dict[str, list[str]] = {}
    for p in problems:
        if p.is_error and p.code != "no-rule":
            status.setdefault(p.rule, []).append(p.message)
    rows: list[AuditRow] = []
    for name, table_rules in sorted(rules.tables.items()):
        if dataset is not None and not dataset.includes(name):
            continue
        for column, rule in table_rules.columns.items():  # in rule file order
            why = status.get(rule.label) or status.get(name) or []
            rows.append(_row(name, column, rule, catalog, plan, "; ".join(why) or "ok"))
    if catalog is not None:
        rows.extend(
            _row(*_split(catalog, p.rule), None, catalog, plan, "no rule")
            for p in problems
            if p.code == "no-rule"
        )
        # the catalog's column order; stale rules (no such column) last
        rows.sort(key=lambda r: (r.table, _attnum(catalog, r)))
    return AuditReport(
        rows=rows,
        rules_hash=rules.digest(),
        rules_dir=rules.root,
        rules_files=len(rules.files),
        generated_at=generated_at or utc_now(),
        dataset=dataset.name if dataset else "",
        source_read=catalog is not None,
        problems=problems,
    )


def _attnum(catalog: Catalog, row: AuditRow) -> int:
    table = catalog.tables.get(row.table)
    col = next((c for c in table.columns if c.name == row.column), None) if table else None
    return col.attnum if col else 1 << 30


def _split(catalog: Catalog, label: str) -> tuple[str, str]:
    """(table, column) of a "schema.table.column" lint label; table names may hold dots."""
    table = max((t for t in catalog.tables if label.startswith(t + ".")), key=len)
    return table, label[len(table) + 1 :]


def audit_rules(
    rules_dir: Path | None = None, source: str | None = None, dataset: Dataset | None = None
) -> AuditReport:
    """Load the rules (default ./rules) and audit them; with `source`, read its catalog
    (one short read-only transaction) for types, key roles and coverage."""
    from anonymiser.rules.check import read_source_catalog

    rules = load_rules(rules_dir or DEFAULT_RULES_DIR)
    catalog = read_source_catalog(source) if source else None
    return build_audit(rules, catalog, dataset)
