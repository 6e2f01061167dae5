"""`rules suggest`: draft a complete rule set from the source schema and a sample of its values.

Every copied column gets a rule. A column whose name looks personal, or whose sampled values
Presidio (offline, when the presidio strategy is installed) finds personal data in, gets a
masking strategy with a reason; every other column gets `keep` with a reason marked REVIEW.
A foreign key column gets the rule of the column it references, so joins survive. Each rule
is validated against the column type before it is written; the draft must still be reviewed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg import sql

from anonymiser.catalog import Catalog, Column, Table
from anonymiser.errors import ConfigError, SnapshotError
from anonymiser.maskers import RuleError, all_strategies, get_strategy
from anonymiser.pg.connect import connect, first_line
from anonymiser.rules.plan import column_spec, fk_parent, root_table, unique_columns

__all__ = ["SuggestReport", "classify_name", "suggest_rules"]

Suggestion = tuple[str, dict[str, Any], str]  # strategy, params, reason

# column name pattern -> what it suggests the column holds, and the rule to draft; first wins
_BY_NAME: list[tuple[re.Pattern[str], str, Suggestion]] = [
    (
        re.compile(r"e_?mail"),
        "email address",
        ("fake", {"provider": "email"}, "name suggests an email address"),
    ),
    (
        re.compile(r"first_?name|forename|given_?name"),
        "person name",
        ("fake", {"provider": "first_name"}, "name suggests a first name"),
    ),
    (
        re.compile(r"last_?name|surname|family_?name"),
        "person name",
        ("fake", {"provider": "last_name"}, "name suggests a surname"),
    ),
    (
        re.compile(r"^(full_?|display_?|contact_?|user_?)?name$"),
        "person name",
        ("fake", {"provider": "name"}, "name suggests a person's name (an organisation's? keep)"),
    ),
    (
        re.compile(r"phone|mobile|^tel"),
        "phone number",
        ("fake", {"provider": "phone_number"}, "name suggests a phone number"),
    ),
    (
        re.compile(r"ni_?number|nino|national_?insurance"),
        "national identifier",
        ("pattern", {"format": "ni_number"}, "name suggests a National Insurance number"),
    ),
    (
        re.compile(r"^trn$|teacher_?ref"),
        "national identifier",
        ("pattern", {"format": "trn"}, "name suggests a teacher reference number"),
    ),
    (
        re.compile(r"post_?code|zip"),
        "postcode",
        ("generalise", {"kind": "postcode"}, "name suggests a postcode: keep the district only"),
    ),
    (
        re.compile(r"birth|dob"),
        "date of birth",
        ("date_shift", {"days": 180}, "name suggests a date of birth"),
    ),
    (
        re.compile(r"address|street|city|town"),
        "address",
        ("redact", {}, "name suggests an address"),
    ),
    (
        re.compile(r"password|secret|token|api_?key"),
        "credential",
        ("hash", {}, "name suggests a credential"),
    ),
    (re.compile(r"ip_?addr|^ip$"), "IP address", ("null", {}, "name suggests an IP address")),
    (
        re.compile(r"note|comment|description|message|remark|free_?text"),
        "free text",
        ("presidio", {}, "free text may hold personal data"),
    ),
]


def classify_name(column: str) -> str | None:
    """What a column's name says it holds ("email address", "free text", ...), or None.

    The one name classifier: `rules suggest` drafts from it and `rules audit` labels with it.
    """
    found = _match_name(column)
    return found[0] if found else None


def _match_name(column: str) -> tuple[str, Suggestion] | None:
    name = column.lower()
    for pattern, category, suggestion in _BY_NAME:
        if pattern.search(name):
            return category, suggestion
    return None


# Presidio entity found in samples -> suggestion
_BY_ENTITY: dict[str, Suggestion] = {
    "EMAIL_ADDRESS": ("fake", {"provider": "email"}, "sampled values hold email addresses"),
    "PHONE_NUMBER": ("fake", {"provider": "phone_number"}, "sampled values hold phone numbers"),
    "UK_NINO": ("pattern", {"format": "ni_number"}, "sampled values hold NI numbers"),
    "UK_POSTCODE": ("generalise", {"kind": "postcode"}, "sampled values hold postcodes"),
    "PERSON": ("fake", {"provider": "name"}, "sampled values hold person names"),
}
_KEY_NAME = re.compile(r"(^id$|_id$|^uuid$)")


@dataclass
class SuggestReport:
    tables: int = 0
    columns: int = 0
    masked: int = 0
    kept: int = 0
    detector: str = "name heuristics"
    files: tuple[str, ...] = ()


def _presidio() -> Any | None:
    """An offline Presidio analyzer from the presidio strategy, or None when not installed."""
    if "presidio" not in all_strategies():
        return None
    try:
        from anonymiser.maskers.presidio import analyzer

        return analyzer()
    except Exception:  # presidio or spaCy missing or broken: name heuristics only
        return None


def _sample(conn: psycopg.Connection, table: Table, column: Column, n: int) -> list[str]:
    if n <= 0:
        return []
    query = sql.SQL("SELECT {c}::text FROM {t} WHERE {c} IS NOT NULL LIMIT {n}").format(
        c=sql.Identifier(column.name), t=sql.Identifier(table.schema, table.name), n=n
    )
    return [row[0] for row in conn.execute(query).fetchall()]


def _fits(table: Table, column: Column, suggestion: Suggestion) -> bool:
    strategy, params, _ = suggestion
    try:
        get_strategy(strategy)(params, column_spec(table, column, unique_columns(table)))
    except RuleError:
        return False
    return True


def _fallback(table: Table, column: Column) -> Suggestion:
    """A masking rule that fits any column: NULL where allowed, else a keyed hash or redact."""
    choices: list[tuple[str, dict[str, Any]]] = [("null", {}), ("hash", {}), ("redact", {})]
    for strategy, params in choices:
        if _fits(table, column, (strategy, params, "")):
            return (strategy, params, "")
    return ("keep", {}, "")


def _suggest_column(
    table: Table, column: Column, samples: list[str], analyzer: Any | None
) -> Suggestion:
    name = column.name.lower()
    if _KEY_NAME.search(name) and column.category in ("N", "U"):
        return ("keep", {}, "key, not personal (REVIEW)")
    by_name = _match_name(name)
    wanted: Suggestion | None = by_name[1] if by_name else None
    if wanted is None and analyzer is not None and column.category == "S":
        found: dict[str, int] = {}
        for text in samples:
            for result in analyzer.analyze(text, language="en", score_threshold=0.5):
                found[result.entity_type] = found.get(result.entity_type, 0) + 1
        if found:
            top = max(sorted(found), key=lambda e: found[e])
            wanted = _BY_ENTITY.get(
                top, ("presidio", {}, f"sampled values hold {top.lower()} entities")
            )
    if wanted is None:
        return ("keep", {}, f"REVIEW: no PII found in {len(samples)} sampled values")
    if _fits(table, column, wanted):
        return wanted
    strategy, params, _ = _fallback(table, column)
    why = (
        f"{wanted[0]} does not fit {column.pg_type}"
        if wanted[0] in all_strategies()
        else f"strategy {wanted[0]} is not installed"
    )
    return (strategy, params, f"{wanted[2]} ({why}; REVIEW)")


def suggest_rules(source: str, output: Path, *, sample: int = 200) -> SuggestReport:
    """Write one drafted rule file per table into `output`; never overwrites a file."""
    from anonymiser.rules.check import read_source_catalog

    catalog = read_source_catalog(source)
    tables = sorted(
        {
            root_table(catalog, t).qualified: root_table(catalog, t) for t in catalog.data_tables()
        }.values(),
        key=lambda t: t.qualified,
    )
    analyzer = _presidio()
    report = SuggestReport(
        detector="Presidio on samples and name heuristics"
        if analyzer
        else "name heuristics (presidio strategy not installed)"
    )
    drafted: dict[str, dict[str, Suggestion]] = {}
    conn = connect(source, role="source")
    try:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for table in tables:
            drafted[table.qualified] = {
                c.name: _suggest_column(table, c, _sample(conn, table, c, sample), analyzer)
                for c in table.copy_columns
            }
        conn.execute("ROLLBACK")
    except psycopg.Error as exc:
        raise SnapshotError(f"sampling the source failed: {first_line(exc)}") from None
    finally:
        conn.close()
    _follow_foreign_keys(catalog, tables, drafted)
    return _write(output, tables, drafted, report)


def _follow_foreign_keys(
    catalog: Catalog, tables: list[Table], drafted: dict[str, dict[str, Suggestion]]
) -> None:
    """An FK column takes its parent's rule, or the join breaks after masking."""
    for table in tables:
        for column in table.copy_columns:
            parent = fk_parent(catalog, table, column.name)
            if parent is None:
                continue
            ref_rule = drafted.get(parent[0].qualified, {}).get(parent[1])
            if ref_rule is not None and ref_rule[0] != "keep":
                drafted[table.qualified][column.name] = (
                    ref_rule[0],
                    ref_rule[1],
                    f"references {parent[0].qualified}.{parent[1]}: same rule keeps the join",
                )


def _write(
    output: Path,
    tables: list[Table],
    drafted: dict[str, dict[str, Suggestion]],
    report: SuggestReport,
) -> SuggestReport:
    output.mkdir(parents=True, exist_ok=True)
    files = []
    for table in tables:
        path = output / f"{table.schema}.{table.name}.yaml".replace("/", "_")
        if path.exists():
            raise ConfigError(f"{path} exists: suggest never overwrites; choose another --output")
        columns = {}
        for name, (strategy, params, reason) in drafted[table.qualified].items():
            columns[name] = {"strategy": strategy, **params, "reason": reason}
            report.columns += 1
            if strategy == "keep":
                report.kept += 1
            else:
                report.masked += 1
        generated = [c.name for c in table.columns if c.is_generated]
        header = "# drafted by `anonymiser rules suggest`: review every rule before use\n"
        if generated:
            header += f"# generated columns need no rule (recomputed): {', '.join(generated)}\n"
        body = yaml.safe_dump(
            {"tables": {table.qualified: {"columns": columns}}},
            sort_keys=False,
            allow_unicode=True,
            width=100,
        )
        path.write_text(header + body, encoding="utf-8")
        files.append(str(path))
        report.tables += 1
    report.files = tuple(files)
    return report
