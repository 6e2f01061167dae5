"""Subset root filters: accepted expressions, and injection attempts refused before any SQL runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from anonymiser.datasets import load_dataset
from anonymiser.errors import ConfigError
from anonymiser.subset.filters import FilterError, parse_filter


@pytest.mark.parametrize(
    ("text", "canonical", "columns"),
    [
        ("year >= 2024", "year >= 2024", {"year"}),
        (
            "kind = 'accredited' AND last_active_year BETWEEN 2024 AND 2026",
            "kind = 'accredited' AND last_active_year BETWEEN 2024 AND 2026",
            {"kind", "last_active_year"},
        ),
        ("logged_at >= '2024-08-01'", "logged_at >= '2024-08-01'", {"logged_at"}),
        ("name LIKE 'St %' -- trailing comment", "name LIKE 'St %'", {"name"}),
        ("lower(email) LIKE '%@x.org'", "pg_catalog.lower(email) LIKE '%@x.org'", {"email"}),
        ("code IN ('a', 'b') OR code IS NULL", "code IN ('a', 'b') OR code IS NULL", {"code"}),
        ("d::date > current_date - 30", "CAST(d AS date) > CURRENT_DATE - 30", {"d"}),
        ('"Odd Name" <> 1', '"Odd Name" <> 1', {"Odd Name"}),
        ("x = ANY (ARRAY[1, 2])", "x = ANY(ARRAY[1, 2])", {"x"}),
        ("extract(year from d) = 2024", "EXTRACT(YEAR FROM d) = 2024", {"d"}),
    ],
)
def test_allowed_filter_is_rewritten_from_its_parse_tree(
    text: str, canonical: str, columns: set[str]
) -> None:
    checked = parse_filter(text)
    assert checked.sql == canonical
    assert checked.columns == columns


INJECTIONS = {
    "second statement": ("1 = 1; DROP TABLE providers", "not several statements"),
    "statement after comment": ("1 = 1 /* x */; DELETE FROM users", "not several statements"),
    "comment hides nothing": ("1 = 1 --\n; DROP TABLE x", "not several statements"),
    "union": ("true UNION SELECT 1", "one boolean expression"),
    "union with parentheses": ("1=1) UNION (SELECT 1", "not a valid SQL expression"),
    "order by": ("true ORDER BY 1", "one boolean expression"),
    "limit": ("true LIMIT 1", "one boolean expression"),
    "subquery into another table": ("id IN (SELECT id FROM users)", "subqueries"),
    "exists": ("EXISTS (SELECT 1 FROM pg_authid)", "subqueries"),
    "subquery into another schema": ("(SELECT count(*) FROM other.t) > 0", "subqueries"),
    "other table's column": ("users.id = 1", "own columns"),
    "other schema's column": ("public.users.id = 1", "own columns"),
    "pg_sleep": ("pg_sleep(10) IS NULL", "function pg_sleep"),
    "qualified pg_sleep": ("pg_catalog.pg_sleep(10) IS NULL", "function pg_catalog.pg_sleep"),
    "pg_read_file": ("pg_read_file('/etc/passwd') <> ''", "function pg_read_file"),
    "dblink": ("dblink('host=x', 'select 1') IS NULL", "function dblink"),
    "set_config": ("set_config('role', 'admin', false) = ''", "function set_config"),
    "lo_import": ("lo_import('/etc/passwd') > 0", "function lo_import"),
    "user function": ("public.evil(id)", "function public.evil"),
    "copy to program": ("true; COPY x TO PROGRAM 'rm -rf /'", "not several statements"),
    "regclass cast": ("'pg_authid'::regclass IS NOT NULL", "cast to regclass"),
    "user type cast": ("x::public.t IS NULL", "cast to public.t"),
    "aggregate": ("count(*) > 0", "function count"),
    "window": ("lower(x) OVER () = ''", "aggregates and window functions"),
    "parameter": ("id = $1", "parameters"),
    "qualified operator": ("id OPERATOR(public.=) 1", "schema-qualified operators"),
    "unknown operator": ("a @> b", "operator @>"),
    "empty": ("   ", "empty"),
    "NUL byte": ("true\x00; DROP TABLE x", "NUL"),
    "star": ("t.* IS NULL", "own columns"),
    "syntax error": ("year >= ", "not a valid SQL expression"),
}


@pytest.mark.parametrize(("text", "why"), INJECTIONS.values(), ids=INJECTIONS.keys())
def test_injection_attempt_is_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filter(text)
    assert why in str(info.value)


def _write(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(body)
    return path


def test_refused_filter_error_names_the_file_and_the_root(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "evil",
        'name: evil\nsubset:\n  roots:\n    - table: public.providers\n      where: "true"\n'
        '    - table: users\n      where: "pg_sleep(1) IS NULL"\n',
    )
    with pytest.raises(ConfigError) as info:
        load_dataset("evil", tmp_path)
    message = str(info.value)
    assert "evil.yaml" in message
    assert "root 2 (public.users)" in message
    assert "function pg_sleep is not allowed" in message
    assert "\n" not in message


def test_subset_definition_loads_roots_and_follow_relations(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "2024",
        'name: "2024"\nsubset:\n  roots:\n    - {table: providers, where: "year >= 2024"}\n'
        "    - {table: public.users}\n  follow:\n"
        "    - {from: providers, to: courses, via: provider_id, limit: 5}\n",
    )
    dataset = load_dataset("2024", tmp_path)
    assert dataset.is_subset
    assert [r.table for r in dataset.roots] == ["public.providers", "public.users"]
    assert dataset.roots[1].where is None
    follow = dataset.follow[0]
    assert (follow.parent, follow.child, follow.via, follow.limit) == (
        "public.providers",
        "public.courses",
        ("provider_id",),
        5,
    )


@pytest.mark.parametrize(
    ("subset", "why"),
    [
        ("subset: [1, 2]", "'subset' must be a mapping"),
        ("subset:\n  roots: []", "non-empty list"),
        ("subset:\n  roots:\n    - {table: t, where: x, extra: 1}", "root 1"),
        (
            "subset:\n  roots:\n    - {table: t}\n  follow:\n    - {from: a, to: b, limit: 0}",
            "limit",
        ),
        ("subset:\n  roots:\n    - {table: t}\n  follow:\n    - {from: a, to: b, via: 3}", "via"),
    ],
)
def test_malformed_subset_is_refused_naming_the_file(tmp_path: Path, subset: str, why: str) -> None:
    _write(tmp_path, "bad", f"name: bad\n{subset}\n")
    with pytest.raises(ConfigError, match=why) as info:
        load_dataset("bad", tmp_path)
    assert "bad.yaml" in str(info.value)


def test_project_definitions_load() -> None:
    folder = Path(__file__).resolve().parents[2] / "snapshots"
    for name in ("fullset", "2024", "pre-2024", "2025"):
        dataset = load_dataset(name, folder)
        assert dataset.name == name
        assert dataset.is_subset == (name != "fullset")
