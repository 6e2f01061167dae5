"""The strategies reference is generated from the registry, complete, and committed up to date."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from anonymiser.maskers.base import Strategy
from anonymiser.maskers.reference import (
    REGENERATE,
    example_rule,
    package_strategies,
    render_reference,
)
from anonymiser.rules import load_rules

DOC = Path(__file__).resolve().parents[3] / "docs" / "strategies.md"


def test_committed_reference_matches_the_registry() -> None:
    assert DOC.read_text() == render_reference(), (
        f"docs/strategies.md is out of date with anonymiser/maskers: run `{REGENERATE}`"
    )


@pytest.mark.parametrize("strategy", list(package_strategies().values()), ids=lambda c: c.name)
def test_every_strategy_documents_itself_and_its_parameters(strategy: type[Strategy]) -> None:
    assert strategy.summary.strip()
    assert strategy.__doc__ and "Example:" in strategy.__doc__
    for name, param in strategy.params.items():
        assert param.doc.strip(), f"{strategy.name}.{name} has no description"


@pytest.mark.parametrize("strategy", list(package_strategies().values()), ids=lambda c: c.name)
def test_every_example_is_a_rule_that_loads_and_fits_some_column_type(
    strategy: type[Strategy], tmp_path: Path
) -> None:
    rule = example_rule(strategy)
    assert rule["strategy"] == strategy.name and rule["reason"]
    (tmp_path / "t.yaml").write_text(
        yaml.safe_dump({"tables": {"public.t": {"columns": {"c": rule}}}})
    )
    loaded = load_rules(tmp_path)
    assert loaded.tables["public.t"].columns["c"].strategy == strategy.name
    section = render_reference().split(f"## {strategy.name}\n", 1)[1].split("\n## ", 1)[0]
    types_line = next(line for line in section.splitlines() if line.startswith("**Column types"))
    assert not types_line.rstrip().endswith(":"), f"{strategy.name}: the example fits no column"
