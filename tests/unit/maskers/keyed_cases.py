"""Determinism checks shared by every keyed strategy's test file."""

from __future__ import annotations

from typing import Any

from tests.unit.maskers.conftest import column, ctx, run, run_in_fresh_process

__all__ = ["assert_keyed"]


def assert_keyed(
    strategy: str, params: dict[str, Any], values: list[Any], base_type: str = "text"
) -> None:
    """Same key+namespace+input -> same output (also in another process); other key, namespace
    or round -> other output."""
    spec = column(base_type)
    first = run(strategy, params, values, spec)
    assert run(strategy, params, values, spec) == first
    if base_type == "text":
        assert run_in_fresh_process(strategy, params, values) == first
    for other in (ctx(key=b"other" * 8), ctx(namespace="other.ns"), ctx(round=1)):
        assert run(strategy, params, values, spec, other) != first
