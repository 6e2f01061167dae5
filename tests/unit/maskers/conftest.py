"""Shared helpers for strategy tests: column specs, contexts, and a run in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pyarrow as pa
import pytest

from anonymiser.maskers import ColumnSpec, MaskContext, get_strategy
from anonymiser.maskers._fixedpoints import remask_fixed_points

KEY = b"k" * 32
_ARROW = {
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "bytea": pa.binary(),
    "bool": pa.bool_(),
}
_CATEGORY = {"int2": "N", "int4": "N", "int8": "N", "date": "D", "timestamp": "D",
             "timestamptz": "D", "uuid": "U", "bytea": "U", "json": "U", "jsonb": "U"}  # fmt: skip


def column(base_type: str = "text", max_length: int | None = None, **extra: Any) -> ColumnSpec:
    """A ColumnSpec of `base_type` (arrays as '_text'), varchar(n) when max_length is given."""
    array = base_type.startswith("_")
    pg_type = (f"character varying({max_length})" if max_length else base_type) + (
        "[]" if array else ""
    )
    return ColumnSpec(
        table="public.people",
        name="col",
        pg_type=pg_type.lstrip("_"),
        base_type="varchar" if max_length and not array else base_type,
        category="A" if array else _CATEGORY.get(base_type, "S"),
        arrow_type=_ARROW.get(base_type, pa.string()),
        max_length=max_length,
        **extra,
    )


def ctx(
    namespace: str = "people.col", key: bytes = KEY, round: int = 0, **extra: Any
) -> MaskContext:
    return MaskContext(key, namespace, round, **extra)


def run(
    strategy: str,
    params: dict[str, Any],
    values: list[Any],
    spec: ColumnSpec | None = None,
    context: MaskContext | None = None,
) -> list[Any]:
    spec = spec or column()
    masker = get_strategy(strategy)(params, spec)
    array = pa.array(values, spec.arrow_type)
    out = masker.mask(array, context or ctx())
    assert len(out) == len(array)
    assert out.type == array.type
    return out.to_pylist()


def column_pseudonyms(
    rule: dict[str, Any], values: list[Any], context: MaskContext, base_type: str = "text"
) -> tuple[list[Any], list[Any]]:
    """(the rule's strategy's own output, what the mask stage publishes for a column of it):
    the second has every value masked as itself masked again (remask_fixed_points)."""
    spec = column(base_type)
    params = dict(rule)
    masker = get_strategy(params.pop("strategy"))(params, spec)
    array = pa.array(values, spec.arrow_type)
    first = masker.mask(array, context)
    return first.to_pylist(), remask_fixed_points(masker, array, first, context).to_pylist()


def run_in_fresh_process(strategy: str, params: dict[str, Any], values: list[str]) -> list[Any]:
    """The same masking in another Python process (no shared caches, other hash seed)."""
    code = (
        "import json, sys\n"
        "from tests.unit.maskers.conftest import run\n"
        "strategy, params, values = json.loads(sys.stdin.read())\n"
        "print(json.dumps(run(strategy, params, values)))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    env = {**os.environ, "PYTHONPATH": root, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps([strategy, params, values]),
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        check=True,
    )
    result: list[Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def fresh_process() -> Any:
    return run_in_fresh_process
