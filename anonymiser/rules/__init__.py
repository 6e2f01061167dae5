"""Masking rules: the model, loading of rule files, lint against the catalog, the mask plan."""

from anonymiser.rules.check import check_rules, read_source_catalog
from anonymiser.rules.lint import ColumnPlan, LintResult, MaskPlan, lint, plan_or_raise
from anonymiser.rules.loader import load_rules, rule_files
from anonymiser.rules.model import Problem, Rule, RuleSet, RulesInvalid, TableRules

__all__ = [
    "ColumnPlan",
    "LintResult",
    "MaskPlan",
    "Problem",
    "Rule",
    "RuleSet",
    "RulesInvalid",
    "TableRules",
    "check_rules",
    "lint",
    "load_rules",
    "plan_or_raise",
    "read_source_catalog",
    "rule_files",
]
