"""Lint a rule set against the source catalog ("fail closed") and build the mask plan from it.

Every problem is collected, none stops the others: a column without a rule, a rule for a
table or column that does not exist, an unknown strategy, invalid parameters, a strategy that
does not fit the column type, a missing reason. Warnings: a foreign key column masked
differently from the column it references (the join would break), rules that are ignored.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from anonymiser.catalog import Catalog, Table, quote_ident
from anonymiser.datasets import Dataset
from anonymiser.maskers import RuleError, Strategy, get_strategy
from anonymiser.rules.model import Problem, Rule, RuleSet, RulesInvalid
from anonymiser.rules.plan import UniqueInfo, column_spec, fk_parent, root_table, unique_columns

__all__ = ["ColumnPlan", "LintResult", "MaskPlan", "lint", "plan_or_raise"]


@dataclass
class ColumnPlan:
    """One column as the mask stage runs it: rule, constructed strategy, namespace, uniqueness."""

    table: str  # qualified root table (partitions share their root's plan)
    column: str
    rule: Rule
    strategy: Strategy
    namespace: str
    unique: UniqueInfo | None = None

    @property
    def masks(self) -> bool:
        return not self.strategy.keeps_value

    @property
    def group(self) -> str:
        """Columns of one group map every input to the same output (one persisted mapping)."""
        return f"{self.namespace}\x00{self.rule.signature}"

    @property
    def needs_injective(self) -> bool:
        """Distinct inputs must stay distinct: a unique column whose values are rewritten."""
        return self.unique is not None and self.masks and self.strategy.name != "null"


@dataclass
class MaskPlan:
    columns: dict[tuple[str, str], ColumnPlan] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)  # data table -> its root table

    def for_table(self, qualified: str) -> dict[str, ColumnPlan]:
        root = self.roots.get(qualified, qualified)
        return {c: p for (t, c), p in self.columns.items() if t == root}

    def injective_groups(self) -> dict[str, list[ColumnPlan]]:
        """Groups holding a unique column: they get one collision-free mapping, persisted."""
        groups: dict[str, list[ColumnPlan]] = {}
        for plan in self.columns.values():
            groups.setdefault(plan.group, []).append(plan)
        return {g: ps for g, ps in groups.items() if any(p.needs_injective for p in ps)}

    def describe(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Per table and column: strategy, parameters, namespace (the manifest's record)."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for (table, column), plan in sorted(self.columns.items()):
            entry: dict[str, Any] = {"strategy": plan.rule.strategy, "params": plan.rule.params}
            if plan.masks:
                entry["namespace"] = plan.namespace
            if plan.needs_injective:
                entry["unique"] = "case-insensitive" if plan.unique and plan.unique.fold else True
            out.setdefault(table, {})[column] = entry
        return out


@dataclass
class LintResult:
    problems: list[Problem]
    plan: MaskPlan

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]


def plan_or_raise(rules: RuleSet, catalog: Catalog, dataset: Dataset | None = None) -> LintResult:
    """Lint, and raise RulesInvalid (listing every problem) if any is an error."""
    result = lint(rules, catalog, dataset)
    if result.errors:
        raise RulesInvalid(result.problems)
    return result


def lint(rules: RuleSet, catalog: Catalog, dataset: Dataset | None = None) -> LintResult:
    problems = list(rules.problems)
    plan = MaskPlan()
    included = [
        t for t in catalog.data_tables() if dataset is None or dataset.includes(t.qualified)
    ]
    roots: dict[str, Table] = {}
    for data_table in included:
        root = root_table(catalog, data_table)
        plan.roots[data_table.qualified] = root.qualified
        roots[root.qualified] = root
    strategies: dict[tuple[str, str], Strategy] = {}

    # rules naming things that do not exist or hold no copied rows; strategies and params
    for name, table_rules in sorted(rules.tables.items()):
        table = catalog.tables.get(name)
        if table is None:
            hint = difflib.get_close_matches(name, list(catalog.tables), n=1)
            problems.append(
                Problem(
                    "error",
                    name,
                    "no such table in the source" + (f" (did you mean {hint[0]}?)" if hint else ""),
                    table_rules.file,
                    table_rules.line,
                    "no-table",
                )
            )
            continue
        if table.parent:
            root = root_table(catalog, table)
            problems.append(
                Problem(
                    "error",
                    name,
                    f"is a partition: write its rules once, for {root.qualified}",
                    table_rules.file,
                    table_rules.line,
                )
            )
            continue
        if table.kind not in ("table", "partitioned"):
            problems.append(
                Problem(
                    "warning",
                    name,
                    f"is a {table.kind}, whose rows are not copied "
                    "(recomputed at restore from masked tables): rules ignored",
                    table_rules.file,
                    table_rules.line,
                )
            )
            continue
        unique = unique_columns(table)
        columns = {c.name: c for c in table.columns}
        for col_name, rule in sorted(table_rules.columns.items()):
            column = columns.get(col_name)
            if column is None:
                hint = difflib.get_close_matches(col_name, list(columns), n=1)
                problems.append(
                    rule.problem(
                        f"no such column in {name}"
                        + (f" (did you mean {hint[0]}?)" if hint else ""),
                        code="no-column",
                    )
                )
                continue
            if column.is_generated:
                problems.append(
                    rule.problem(
                        "is a generated column, recomputed at restore from the masked columns: "
                        "rule ignored (delete it)",
                        "warning",
                    )
                )
                continue
            if not rule.reason:
                problems.append(rule.problem("no reason: add `reason:` saying why this strategy"))
            try:
                cls = get_strategy(rule.strategy)
                strategies[(name, col_name)] = cls(rule.params, column_spec(table, column, unique))
            except RuleError as exc:
                problems.append(rule.problem(str(exc)))

    # fail closed: every copied column of every included table needs a rule
    for qualified, root in sorted(roots.items()):
        written = rules.tables.get(qualified)
        for column in root.copy_columns:
            if written is None or column.name not in written.columns:
                where = (written.file, written.line) if written else ("", 0)
                problems.append(
                    Problem(
                        "error",
                        f"{qualified}.{column.name}",
                        f"has no rule ({column.pg_type}); every column needs one, "
                        "write `strategy: keep` with a reason if it is not personal",
                        *where,
                        "no-rule",
                    )
                )

    # namespaces: declared, else the FK parent's, else the column's own
    def namespace(table: Table, column: str, seen: frozenset[tuple[str, str]]) -> str:
        rule = rules.rule(table.qualified, column)
        if rule is not None and rule.namespace:
            return rule.namespace
        parent = fk_parent(catalog, table, column)
        if parent is not None and (parent[0].qualified, parent[1]) not in seen:
            ref, ref_col = parent
            return namespace(ref, ref_col, seen | {(ref.qualified, ref_col)})
        return f"{table.qualified}.{quote_ident(column)}"

    for qualified, root in sorted(roots.items()):
        unique = unique_columns(root)
        for column in root.copy_columns:
            found = rules.rule(qualified, column.name)
            strategy = strategies.get((qualified, column.name))
            if found is None or strategy is None:
                continue
            ns = namespace(root, column.name, frozenset({(qualified, column.name)}))
            plan.columns[(qualified, column.name)] = ColumnPlan(
                qualified, column.name, found, strategy, ns, unique.get(column.name)
            )
            problems.extend(_fk_warnings(catalog, rules, root, column.name, found, ns, namespace))
    problems.extend(_namespace_warnings(plan))
    return LintResult(problems, plan)


def _fk_warnings(
    catalog: Catalog, rules: RuleSet, table: Table, column: str, rule: Rule, ns: str, namespace: Any
) -> list[Problem]:
    parent = fk_parent(catalog, table, column)
    if parent is None:
        return []
    ref, ref_col = parent
    ref_rule = rules.rule(ref.qualified, ref_col)
    if ref_rule is None:
        return []
    target = f"{ref.qualified}.{ref_col}"
    if ref_rule.signature != rule.signature:
        return [
            rule.problem(
                f"references {target} but is masked differently ({rule.strategy} vs "
                f"{ref_rule.strategy} {ref_rule.params or ''}): the foreign key will break; "
                "use the same strategy and parameters",
                "warning",
            )
        ]
    ref_ns = namespace(ref, ref_col, frozenset({(ref.qualified, ref_col)}))
    if rule.strategy != "keep" and ns != ref_ns:
        return [
            rule.problem(
                f"references {target} but declares namespace {ns!r} (the parent's is {ref_ns!r}): "
                "the foreign key will break",
                "warning",
            )
        ]
    return []


def _namespace_warnings(plan: MaskPlan) -> list[Problem]:
    by_ns: dict[str, dict[str, ColumnPlan]] = {}
    for p in plan.columns.values():
        if p.masks and p.rule.namespace:
            by_ns.setdefault(p.namespace, {}).setdefault(p.rule.signature, p)
    out = []
    for ns, variants in sorted(by_ns.items()):
        if len(variants) > 1:
            first, *others = list(variants.values())
            for other in others:
                out.append(
                    other.rule.problem(
                        f"shares namespace {ns!r} with {first.rule.label} but with another "
                        "strategy or parameters: their values will not match",
                        "warning",
                    )
                )
    return out
