"""json: nested rules at JSON paths ($.a.b, $.items[*].email, $.x[0]) inside json/jsonb text."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers._jsontext import mask_at_keys
from anonymiser.maskers._nested import NestedRule, element_column
from anonymiser.maskers.base import (
    ColumnSpec,
    MaskContext,
    Param,
    RuleError,
    Strategy,
    map_unique,
    register,
)

_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\.\*|\[\*\]|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


class _AllSteps:
    """The `[*]` / `.*` step: one object, compared by identity, and still that object after
    pickling (a plan sent to another process keeps its wildcard steps)."""

    def __reduce__(self) -> str:
        return "_ALL"

    def __repr__(self) -> str:
        return "[*]"


_ALL = _AllSteps()  # [*] and .*
Step = str | int | object


def parse_path(path: str) -> list[Step]:
    """`$.a[*].b` -> ['a', ALL, 'b']; RuleError on anything else."""
    if not path.startswith("$"):
        raise RuleError(f"strategy json: path {path!r} must start with $")
    steps: list[Step] = []
    pos = 1
    while pos < len(path):
        match = _STEP.match(path, pos)
        if not match:
            raise RuleError(f"strategy json: cannot read path {path!r} at {path[pos:]!r}")
        key, index, quoted1, quoted2 = match.groups()
        if key is not None:
            steps.append(key)
        elif index is not None:
            steps.append(int(index))
        elif quoted1 is not None or quoted2 is not None:
            steps.append(quoted1 if quoted1 is not None else quoted2)
        else:
            steps.append(_ALL)
        pos = match.end()
    return steps


def _slots(node: Any, steps: list[Step]) -> list[tuple[Any, Any]]:
    """(container, key) of every scalar at `steps` below `node` (all scalars under a container)."""
    found: list[tuple[Any, Any]] = []
    if steps:
        _collect(node, steps, 0, found)
    return found


def _collect(node: Any, steps: list[Step], depth: int, found: list[tuple[Any, Any]]) -> None:
    # a list, not a generator: this runs for every document of a column
    step = steps[depth]
    if step is _ALL:
        keys: Iterable[Any] = (
            node if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else ()
        )
    elif isinstance(step, int):
        keys = (step,) if isinstance(node, list) and -len(node) <= step < len(node) else ()
    else:
        keys = (step,) if isinstance(node, dict) and step in node else ()
    last = depth + 1 == len(steps)
    for key in keys:
        child = node[key]
        if not last:
            _collect(child, steps, depth + 1, found)
        elif isinstance(child, dict | list):
            found.extend(_leaves(child))
        elif isinstance(child, str | int | float) and not isinstance(child, bool):
            found.append((node, key))


_GROUPED_FROM = 1 << 17  # rows from which _map_distinct groups (measured crossover ~100k)

# json.dumps(doc, ensure_ascii=False) builds this encoder on every call
_ENCODER = json.JSONEncoder(ensure_ascii=False)


def _parse_all(texts: list[str]) -> list[Any]:
    """json.loads of each text, in one call where possible (a fraction of the per-call cost).

    Every text is one JSON value (PostgreSQL checked it), so the array of them parses to as
    many values; if not, each is parsed alone and the bad one raises.
    """
    try:
        docs = json.loads("[" + ",".join(texts) + "]")
    except ValueError:
        docs = None
    if not isinstance(docs, list) or len(docs) != len(texts):
        docs = [json.loads(text) for text in texts]
    return docs


def _key_path(steps: list[Step]) -> tuple[str, bool] | None:
    """(key, each) of `$.key` / `$.key[*]`, the paths masked in place in the JSON text."""
    if len(steps) == 1 and isinstance(steps[0], str):
        return steps[0], False
    if len(steps) == 2 and isinstance(steps[0], str) and steps[1] is _ALL:
        return steps[0], True
    return None


def _map_distinct(values: pa.Array, func: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """map_unique for documents: on many rows Arrow's grouper hashes long text in two thirds
    of the time `dictionary_encode` takes (0.16 against 0.23 s of CPU for 1M documents of ~45
    bytes, 0.03-0.045 against 0.04-0.06 s for 256k), on fewer in twice the time."""
    if len(values) < _GROUPED_FROM:  # dictionary_encode's table still fits the CPU cache
        return map_unique(values, func)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    rows = pa.array(np.arange(len(values), dtype=np.int32))
    groups = pa.table({"v": values, "i": rows}).group_by("v", use_threads=False)
    grouped = groups.aggregate([("i", "list")])
    distinct, members = (grouped.column(k).combine_chunks() for k in (0, 1))
    sizes = np.diff(np.asarray(members.offsets))
    index = np.empty(len(values), dtype=np.int32)
    index[np.asarray(members.values)] = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
    if not distinct.null_count:
        return pc.take(func(distinct), pa.array(index))
    # the null group: its rows stay null, and func sees only values
    valid = np.asarray(distinct.is_valid())
    renumbered = (np.cumsum(valid, dtype=np.int32) - 1)[index]
    null_rows = np.asarray(values.is_null())
    return pc.take(func(distinct.filter(valid)), pa.array(renumbered, mask=null_rows))


def _text(scalar: Any) -> str:
    return scalar if isinstance(scalar, str) else json.dumps(scalar)


def _leaves(node: Any) -> Iterator[tuple[Any, Any]]:
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in items:
        if isinstance(child, dict | list):
            yield from _leaves(child)
        elif isinstance(child, str | int | float) and not isinstance(child, bool):
            yield node, key


@register
class Json(Strategy):
    """Applies a nested rule at each JSON path (`$.a.b`, `$.items[*].email`, `$.x[0]`,
    `$['odd key']`) of a json or jsonb document; everything else in the document is kept.
    A nested rule is a strategy with its parameters, and may name a `namespace` to share the
    pseudonyms of a column elsewhere; it cannot be json, array, keep or presidio.

    Example: {strategy: json, reason: "contact details in the payload",
              paths: {"$.email": {strategy: fake, provider: email}}}
    """

    name = "json"
    summary = "Apply nested rules at JSON paths inside json/jsonb; other content is kept."
    may_collide = True
    params: ClassVar[Mapping[str, Param]] = {
        "paths": Param(dict, "JSON path -> nested rule {strategy: ..., <params>}", True),
    }

    def check_column(self, column: ColumnSpec) -> str | None:
        if column.base_type not in ("json", "jsonb") or column.is_array:
            return (
                f"strategy json cannot mask {column.table}.{column.name}: it needs a json or "
                f"jsonb column and the column is {column.pg_type}"
            )
        if not self.options["paths"]:
            raise RuleError("strategy json: paths is empty")
        self.rules = [
            (
                parse_path(str(path)),
                NestedRule(rule, element_column(column, "text", str(path)), "json"),
            )
            for path, rule in self.options["paths"].items()
        ]
        return None

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        return _map_distinct(values, lambda unique: self._documents(unique, ctx))

    def _documents(self, unique: pa.Array, ctx: MaskContext) -> pa.Array:
        """In place in the JSON text where every path is `$.key` or `$.key[*]`, else parsed."""
        keys = [_key_path(steps) for steps, _ in self.rules]
        if None in keys or not len(unique):
            return self._parsed(unique, ctx)
        paths = [
            (*(key_path or ("", False)), functools.partial(rule.mask, ctx=ctx))
            for key_path, (_, rule) in zip(keys, self.rules, strict=True)
        ]
        if len({key for key, _, _ in paths}) == len(paths):  # read once for every path
            docs, slow = mask_at_keys(unique, paths)
        else:  # `$.a` and `$.a[*]`: the second reads what the first wrote
            docs, slow = unique, np.zeros(len(unique), dtype=bool)
            for path in paths:
                docs, redo = mask_at_keys(docs, [path])
                slow |= redo
        if slow.any():
            where = pa.array(slow)
            docs = pc.replace_with_mask(docs, where, self._parsed(unique.filter(where), ctx))
        return docs

    def originals(self, values: pa.Array) -> pa.Array | None:
        """The scalars at the paths whose nested rule replaces them (for the leak check), read
        in place like _documents where the paths allow, else parsed."""
        unique = pc.unique(values).drop_null()
        checked = [steps for steps, rule in self.rules if rule.strategy.leak_checked]
        keys = [key for key in map(_key_path, checked) if key is not None]
        if not checked:
            return pa.array([], pa.string())
        if len(keys) < len(checked) or len({k for k, _ in keys}) < len(keys):
            return self._parsed_originals(unique)
        found: list[pa.Array] = []

        def collect(scalars: pa.Array) -> pa.Array:
            found.append(scalars.cast(pa.string()))
            return scalars

        _, slow = mask_at_keys(unique, [(k, each, collect) for k, each in keys], write=False)
        found.append(self._parsed_originals(unique.filter(pa.array(slow))))
        return pa.concat_arrays(found)

    def _parsed_originals(self, unique: pa.Array) -> pa.Array:
        found: list[str] = []
        for doc in _parse_all(unique.to_pylist()):
            for steps, rule in self.rules:
                if rule.strategy.leak_checked:
                    found.extend(_text(c[k]) for c, k in _slots(doc, steps))
        return pa.array(found, pa.string())

    def _parsed(self, unique: pa.Array, ctx: MaskContext) -> pa.Array:
        """Every document parsed and, where a path applied, written back by Python's json."""
        texts = unique.to_pylist()
        docs = _parse_all(texts)
        changed = [False] * len(docs)
        for steps, rule in self.rules:
            slots: list[tuple[int, Any, Any]] = []
            for row, doc in enumerate(docs):
                slots.extend((row, container, key) for container, key in _slots(doc, steps))
            if not slots:
                continue
            originals = pa.array([_text(c[k]) for _, c, k in slots], pa.string())
            masked = rule.mask(originals, ctx).cast(pa.string()).to_pylist()
            for (row, container, key), new in zip(slots, masked, strict=True):
                container[key] = new
                changed[row] = True
        out = [
            _ENCODER.encode(doc) if touched else text
            for text, doc, touched in zip(texts, docs, changed, strict=True)
        ]
        return pa.array(out, unique.type)
