"""The rules hash (normalised) and the rules audit report built from rule files alone."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from anonymiser.errors import ConfigError
from anonymiser.reporting import md_cell
from anonymiser.rules import load_rules
from anonymiser.rules.audit import build_audit
from anonymiser.rules.audit_render import render_audit
from anonymiser.rules.model import normalised_digest
from tests.unit.test_rules_loader import write

DEMO_RULES = Path(__file__).resolve().parents[2] / "rules"

SPLIT_A = """# people first
tables:
  public.people:
    defaults: {reason: "direct identifier", locale: en_GB}
    columns:
      email: {strategy: fake, provider: email}
      id:    {strategy: keep, reason: "surrogate key"}
"""
SPLIT_B = """tables:
  public.notes:
    columns:
      body: {reason: "free text", strategy: presidio}
"""
JOINED = """tables:
  public.notes:
    columns:
      body:
        strategy: presidio
        reason: free text      # a comment changes nothing
  public.people:
    columns:
      id: {reason: surrogate key, strategy: keep}
      email: {provider: email, locale: en_GB, strategy: fake, reason: direct identifier}
"""


def test_rules_hash_is_the_same_across_file_layout_key_order_comments_and_defaults(
    tmp_path: Path,
) -> None:
    write(tmp_path / "split", "a.yaml", SPLIT_A)
    write(tmp_path / "split", "sub/b.yml", SPLIT_B)
    write(tmp_path / "joined", "all.yaml", JOINED)
    split, joined = load_rules(tmp_path / "split"), load_rules(tmp_path / "joined")
    assert not split.problems and not joined.problems
    assert split.digest() == joined.digest()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("reason: free text", "reason: free text, reviewed"),
        ("provider: email", "provider: safe_email"),
        ("locale: en_GB", "locale: de_DE"),
        ("strategy: presidio", "strategy: redact"),
        ("strategy: keep}", "strategy: keep, namespace: people.id}"),
    ],
)
def test_rules_hash_changes_when_a_reason_parameter_strategy_or_namespace_changes(
    tmp_path: Path, old: str, new: str
) -> None:
    write(tmp_path / "a", "all.yaml", JOINED)
    assert old in JOINED
    write(tmp_path / "b", "all.yaml", JOINED.replace(old, new))
    assert load_rules(tmp_path / "a").digest() != load_rules(tmp_path / "b").digest()


def test_rules_copy_holds_the_normalised_rules_and_hashes_to_the_digest(tmp_path: Path) -> None:
    write(tmp_path, "all.yaml", JOINED)
    rules = load_rules(tmp_path)
    doc = json.loads(rules.copy_document())
    assert doc["rules_hash"] == rules.digest() == normalised_digest(doc["tables"])
    assert doc["tables"]["public.people"]["email"] == {
        "strategy": "fake",
        "provider": "email",
        "locale": "en_GB",
        "reason": "direct identifier",
    }


def test_audit_of_the_demo_rules_lists_every_rule_with_strategy_and_reason() -> None:
    rules = load_rules(DEMO_RULES)
    report = build_audit(rules)
    text = render_audit(report, "md")
    written = {(t, c) for t, tr in rules.tables.items() for c in tr.columns}
    assert {(r.table, r.column) for r in report.rows} == written
    assert len(report.rows) == len(written)
    assert f"| rules hash | {rules.digest()} |" in text
    assert f"| columns | {len(written)} |" in text
    for table, column in written:
        assert f"| {md_cell(table)} | {md_cell(column)} | " in text
    email = next(r for r in report.rows if (r.table, r.column) == ("public.trainees", "email"))
    assert (email.strategy, email.params, email.classification) == (
        "fake",
        "provider=email",
        "email address",
    )
    assert "| public.trainees | email | fake | provider=email |" in text
    # without the source nothing claims types or coverage were checked
    assert "not read" in text and "| type |" not in text


def test_audit_classifies_a_kept_personal_looking_column_for_review(tmp_path: Path) -> None:
    write(
        tmp_path,
        "t.yaml",
        "tables:\n  public.t:\n    columns:\n"
        "      contact_email: {strategy: keep, reason: shared mailbox}\n"
        "      grade: {strategy: keep, reason: pay band}\n"
        "      created_at: {strategy: date_shift, days: 9, reason: could single out}\n",
    )
    rows = {r.column: r.classification for r in build_audit(load_rules(tmp_path)).rows}
    assert rows == {
        "contact_email": "kept: looks like email address",
        "grade": "not personal",
        "created_at": "personal (masked by rule)",
    }


SECRET_RULES = """tables:
  public.t:
    columns:
      a:
        strategy: hash
        api_key: hunter2-top-secret
        reason: "pipes | and <script>alert(1)</script> & more"
      b:
        strategy: json
        reason: nested
        paths:
          "$.x": {strategy: constant, value: fine, password: pa55word-nested}
"""


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_audit_never_prints_secret_looking_parameters(tmp_path: Path, fmt: str) -> None:
    write(tmp_path, "t.yaml", SECRET_RULES)
    text = render_audit(build_audit(load_rules(tmp_path)), fmt)
    assert "hunter2" not in text and "pa55word" not in text
    shown = "api_key=[redacted]"
    assert (md_cell(shown) if fmt == "md" else shown) in text
    assert "fine" in text  # the harmless parameter next to the secret is shown


def test_markdown_escapes_pipes_and_markup_in_values(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", SECRET_RULES)
    text = render_audit(build_audit(load_rules(tmp_path)), "md")
    assert "pipes \\| and &lt;script>alert(1)&lt;/script> &amp; more" in text
    assert "<script>" not in text
    row = next(line for line in text.splitlines() if line.startswith("| public.t | a |"))
    assert len(re.findall(r"(?<!\\)\|", row)) == 8  # 7 cells: no pipe of a value splits one


def test_html_escapes_injected_markup_and_loads_nothing_from_outside(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", SECRET_RULES)
    text = render_audit(build_audit(load_rules(tmp_path)), "html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert text.count("<script>") == 1  # the page's own, inline
    assert "http://" not in text and "https://" not in text and " src=" not in text
    assert "default-src 'none'" in text


def test_unknown_audit_format_is_a_config_error_naming_the_choices() -> None:
    report = build_audit(load_rules(DEMO_RULES))
    with pytest.raises(ConfigError, match="choose one of md, html"):
        render_audit(report, "pdf")


def test_markdown_cell_escapes_links_emphasis_and_code() -> None:
    assert md_cell("[x](http://a) *b* _c_ `d`") == r"\[x\](http://a) \*b\* \_c\_ \`d\`"
