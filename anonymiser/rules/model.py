"""The rule model: one Rule per column, grouped by table, with where each was written.

Rules are data a reviewer reads; the mask stage, the manifest and `rules check` all work from
these same objects, so what is reviewed is what runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from anonymiser.errors import ConfigError

__all__ = [
    "RESERVED_KEYS",
    "RULES_COPY",
    "Problem",
    "Rule",
    "RuleSet",
    "RulesInvalid",
    "TableRules",
    "normalised_digest",
]

# keys of a column rule that are not strategy parameters
RESERVED_KEYS = frozenset({"strategy", "reason", "namespace"})

# where a snapshot's run folder keeps the rule set it was masked with (manifest schema_files)
RULES_COPY = "rules/rules.json"

Normalised = dict[str, dict[str, dict[str, Any]]]


def normalised_digest(normalised: Normalised) -> str:
    """sha256 of canonical JSON of a normalised rule set: the manifest's `rules_hash`."""
    text = json.dumps(normalised, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Problem:
    """One finding of loading or linting, printable as one line naming file, line and rule."""

    level: str  # "error" | "warning"
    rule: str  # "schema.table.column", "schema.table" or a file-level key
    message: str
    file: str = ""
    line: int = 0
    code: str = ""  # machine-readable kind where a caller sorts them: no-rule, no-table, no-column

    @property
    def is_error(self) -> bool:
        return self.level == "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file and self.line else ""
        where = where or (f"{self.file}: " if self.file else "")
        return f"{where}{self.level}: {self.rule}: {self.message}"


class RulesInvalid(ConfigError):
    """The rule set has errors; `problems` lists every one (warnings too)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.is_error]
        first = str(errors[0]) if errors else ""
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(
            f"masking rules have {len(errors)} problem(s), nothing was extracted: {first}{more}; "
            "run `anonymiser rules check` to list them all"
        )

    @property
    def details(self) -> list[str]:
        return [str(p) for p in self.problems]


@dataclass(frozen=True)
class Rule:
    """How one column is masked, and why."""

    table: str  # qualified, as written in the rule file
    column: str
    strategy: str
    params: dict[str, Any]
    reason: str
    namespace: str | None = None  # declared shared mapping; None = derived (own or FK parent's)
    file: str = ""
    line: int = 0

    @property
    def label(self) -> str:
        return f"{self.table}.{self.column}"

    @property
    def signature(self) -> str:
        """Strategy and parameters: equal signatures in one namespace give equal outputs."""
        return json.dumps([self.strategy, self.params], sort_keys=True, default=str)

    def problem(self, message: str, level: str = "error", code: str = "") -> Problem:
        return Problem(level, self.label, message, self.file, self.line, code)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"strategy": self.strategy, **self.params, "reason": self.reason}
        if self.namespace:
            out["namespace"] = self.namespace
        return out


@dataclass
class TableRules:
    name: str  # qualified
    file: str
    line: int
    columns: dict[str, Rule] = field(default_factory=dict)


@dataclass
class RuleSet:
    """Every rule file of a folder, merged; `problems` holds what was wrong while loading."""

    root: str
    tables: dict[str, TableRules] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def rule(self, table: str, column: str) -> Rule | None:
        rules = self.tables.get(table)
        return rules.columns.get(column) if rules else None

    def normalised(self) -> Normalised:
        """The merged rules as plain sorted data (table defaults applied, file, line, comments,
        key order and whitespace gone): what the rules hash covers."""
        return {
            name: {col: rule.to_dict() for col, rule in sorted(t.columns.items())}
            for name, t in sorted(self.tables.items())
        }

    def digest(self) -> str:
        """sha256 of the normalised rules: same rules, same hash, whatever the file layout."""
        return normalised_digest(self.normalised())

    def copy_document(self) -> bytes:
        """The rule set as a snapshot keeps it (RULES_COPY): its hash and normalised tables."""
        doc = {"rules_hash": self.digest(), "tables": self.normalised()}
        return (json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n").encode()
