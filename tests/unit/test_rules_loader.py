"""Loading rule files: merging a folder, line numbers, every structural problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from anonymiser.config import key_fingerprint, load_key
from anonymiser.errors import ConfigError
from anonymiser.rules import load_rules


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_files_are_merged_and_each_rule_knows_its_file_and_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        "tables:\n  public.a:\n    columns:\n      id: {strategy: keep, reason: key}\n",
    )
    write(
        tmp_path,
        "sub/b.yml",
        "tables:\n  public.b:\n    columns:\n      x: keep\n      y:\n        strategy: hash\n"
        "        length: 8\n        reason: secret\n        namespace: shared\n",
    )
    rules = load_rules(tmp_path)
    assert rules.problems == []
    a = rules.rule("public.a", "id")
    y = rules.rule("public.b", "y")
    assert a is not None and (a.file, a.line, a.strategy, a.reason) == (
        str(tmp_path / "a.yaml"),
        4,
        "keep",
        "key",
    )
    assert y is not None and (y.params, y.namespace, y.line) == ({"length": 8}, "shared", 5)
    shorthand = rules.rule("public.b", "x")
    assert shorthand is not None and shorthand.strategy == "keep" and shorthand.reason == ""


def test_a_table_defined_in_two_files_names_both(tmp_path: Path) -> None:
    body = "tables:\n  public.t:\n    columns:\n      id: {strategy: keep, reason: k}\n"
    write(tmp_path, "one.yaml", body)
    write(tmp_path, "two.yaml", body)
    problems = load_rules(tmp_path).problems
    assert len(problems) == 1
    text = str(problems[0])
    assert "one.yaml:2" in text and "two.yaml:2" in text and "public.t" in text


def test_every_structural_problem_is_listed_with_its_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "bad.yaml",
        "tables:\n"
        "  public.t:\n"
        "    colums: {}\n"  # typo: no columns
        "  public.u:\n"
        "    columns:\n"
        "      a: {reason: no strategy}\n"
        "      b: [1, 2]\n"
        "      c: {strategy: keep, reason: x}\n"
        "      c: {strategy: keep, reason: twice}\n"
        "  nodot:\n"
        "    columns: {}\n"
        "extra: 1\n",
    )
    write(tmp_path, "broken.yaml", "tables:\n  public.v: {columns: {a: [}\n")
    problems = [str(p) for p in load_rules(tmp_path).problems]
    expected = [
        ("bad.yaml:2", "public.t", "columns"),
        ("bad.yaml:6", "public.u.a", "no strategy"),
        ("bad.yaml:7", "public.u.b", "expected"),
        ("bad.yaml:9", "public.u.c", "twice"),
        ("bad.yaml:10", "nodot", "schema"),
        ("bad.yaml:12", "extra", "unknown top-level key"),
        ("broken.yaml:2", "(file)", "not valid YAML"),
    ]
    for where, rule, words in expected:
        assert any(where in p and rule in p and words in p for p in problems), (where, problems)
    assert len(problems) == len(expected), problems


def test_table_defaults_fill_reason_strategy_and_only_declared_parameters(tmp_path: Path) -> None:
    write(
        tmp_path,
        "d.yaml",
        "tables:\n  public.t:\n    defaults: {strategy: keep, reason: catalogue, locale: de_DE}\n"
        "    columns:\n      a: {}\n      b: {strategy: fake, provider: email}\n",
    )
    rules = load_rules(tmp_path)
    a, b = rules.rule("public.t", "a"), rules.rule("public.t", "b")
    assert a is not None and (a.strategy, a.reason, a.params) == ("keep", "catalogue", {})
    assert b is not None and b.params == {"provider": "email", "locale": "de_DE"}


def test_rules_hash_ignores_file_layout_but_not_content(tmp_path: Path) -> None:
    one = "tables:\n  public.a:\n    columns:\n      id: {strategy: keep, reason: k}\n"
    two = "tables:\n  public.b:\n    columns:\n      id: {reason: k, strategy: keep}\n"
    write(tmp_path / "split", "1.yaml", one)
    write(tmp_path / "split", "2.yaml", two)
    write(tmp_path / "joined", "all.yaml", one + two.replace("tables:\n", ""))
    assert load_rules(tmp_path / "split").digest() == load_rules(tmp_path / "joined").digest()
    write(tmp_path / "other", "all.yaml", one.replace("reason: k", "reason: changed"))
    assert load_rules(tmp_path / "other").digest() != load_rules(tmp_path / "split").digest()


def test_missing_rules_folder_is_a_config_error_saying_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rules suggest"):
        load_rules(tmp_path / "nope")


def test_key_comes_from_file_or_environment_and_short_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ANONYMISER_KEY"):
        load_key(environ={})
    with pytest.raises(ConfigError, match="shorter"):
        load_key(environ={"ANONYMISER_KEY": "short"})
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file-0123456789\n")
    assert load_key(key_file, environ={"ANONYMISER_KEY": "x" * 20}) == b"from-a-file-0123456789"
    assert load_key(environ={"ANONYMISER_KEY": "x" * 20}) == b"x" * 20
    fingerprint = key_fingerprint(b"x" * 20)
    assert len(fingerprint) == 16 and "x" * 16 not in fingerprint
    assert fingerprint != key_fingerprint(b"y" * 20)
