"""Collision-free mappings for unique columns: built over the whole table, persisted as Parquet.

A realistic fake or a hash can send two distinct inputs to one output; on a PK, UNIQUE or
unique-index column that would break the restore. So for every group of columns sharing a
namespace and a rule (a unique column, the FK columns referencing it, columns declaring the
same namespace) the distinct inputs of its unique columns are mapped once, collisions are
found over all of them, and the losers are re-masked with ctx.derive(round=n) until every
output is distinct. Who wins a collision is decided by a keyed digest of the input (then the
input itself), never by file or row order, so the mapping is a function of key, namespace
and the set of inputs. The mapping (original -> masked) is written to the work directory and
applied to every column of the group through an index of its originals (anonymiser.keyindex).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from anonymiser.errors import SnapshotError
from anonymiser.keyindex import KeyIndex, hash_rows
from anonymiser.maskers import MaskContext, Strategy
from anonymiser.maskers._fixedpoints import collision_key, remask_fixed_points, same_as_input
from anonymiser.maskers._knownpairs import first_occurrences

__all__ = [
    "MAX_ROUNDS",
    "Mapping",
    "MappingFile",
    "apply_mapping",
    "distinct_values",
    "mapped_in_order",
    "resolve_injective",
]

MAX_ROUNDS = 200
MAPPING_GROUP_ROWS = 64 * 1024  # rows of a mapping file read at a time, in order
MASK_SLICE = 256 * 1024  # values of a mapping masked at once
_COLLAPSE_AT = 1 << 20  # make the pending values distinct once this many are held


@dataclass
class Mapping:
    """original -> masked over the distinct inputs of a group, injective (modulo case if fold)."""

    original: pa.Array
    masked: pa.Array
    collisions: int = 0  # inputs that had to be re-masked at least once
    rounds: int = 1

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # a work file, read back once per table: compressing it cost more than it saved; in
        # row groups, so a column masked in the mapping's order reads it a group at a time
        pq.write_table(
            pa.table({"original": self.original, "masked": self.masked}),
            path,
            compression="none",
            row_group_size=MAPPING_GROUP_ROWS,
        )

    def __len__(self) -> int:
        return len(self.original)

    def span(self, start: int, length: int) -> tuple[pa.Array, pa.Array]:
        """(originals, masked) of the inputs [start, start + length)."""
        return self.original.slice(start, length), self.masked.slice(start, length)

    @functools.cached_property
    def index(self) -> KeyIndex:
        """The originals' index, built on the first lookup and kept with the mapping (which
        the mask stage reads once per table): Arrow's index_in would hash every original
        again for every batch."""
        return KeyIndex(self.original)

    @classmethod
    def read(cls, path: Path) -> Mapping:
        table = pq.read_table(path)
        return cls(table["original"].combine_chunks(), table["masked"].combine_chunks())


class MappingFile:
    """A group's mapping in the work directory, read as a table's columns need it.

    A column masked in the order its mapping was built (the unique column itself) needs only
    the inputs at hand: `span` reads the file a row group at a time and holds those groups
    only (at 10M demo rows the trainees' mappings are ~430 MB, held whole for the whole table
    before). Lookups out of order need the whole mapping (Mapping.read).
    """

    def __init__(self, path: Path) -> None:
        self._file = pq.ParquetFile(path)
        self._rows = int(self._file.metadata.num_rows)
        self._ends = np.cumsum(
            [self._file.metadata.row_group(g).num_rows for g in range(self._file.num_row_groups)]
        )
        self._held: pa.Table | None = None  # row groups [first, last] of the file
        self._held_start = 0

    def __len__(self) -> int:
        return self._rows

    def span(self, start: int, length: int) -> tuple[pa.Array, pa.Array]:
        """(originals, masked) of the inputs [start, start + length) (within the mapping)."""
        if not length:
            schema = self._file.schema_arrow
            return pa.array([], schema.field("original").type), pa.array(
                [], schema.field("masked").type
            )
        held = self._held
        if (
            held is None
            or start < self._held_start
            or start + length > self._held_start + len(held)
        ):
            first = int(np.searchsorted(self._ends, start, side="right"))
            last = int(np.searchsorted(self._ends, start + length, side="left"))
            last = min(max(last, first), len(self._ends) - 1)
            self._held = held = self._file.read_row_groups(range(first, last + 1))
            self._held_start = int(self._ends[first - 1]) if first else 0
        at = start - self._held_start
        return (
            _as_array(held["original"].slice(at, length)),
            _as_array(held["masked"].slice(at, length)),
        )


def mapping_file(root: Path, group: str) -> Path:
    """Where a group's mapping lives in the work directory (name from a hash of the group)."""
    return root / f"{hashlib.sha256(group.encode()).hexdigest()[:24]}.parquet"


def _as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def distinct_values(sources: list[tuple[Path, str]], arrow_type: pa.DataType) -> pa.Array:
    """Distinct non-null values of some columns across Parquet files, in no particular order;
    read in batches.

    The columns are unique ones, so a batch rarely repeats a value: batches are kept as read
    and made distinct together once they pass _COLLAPSE_AT values (a unique of each batch
    first cost as much again, and sorting the result half as much: nothing needs the order).
    """
    pending: list[pa.Array] = []
    size = distinct = 0  # values held; how many of them were made distinct last time
    for path, column in sources:
        for batch in pq.ParquetFile(path).iter_batches(columns=[column]):
            pending.append(_as_array(batch.column(0)).cast(arrow_type))
            size += len(pending[-1])
            # once the values read since outnumber those already distinct (and _COLLAPSE_AT):
            # making every value distinct again after each batch would be quadratic
            if size - distinct > max(_COLLAPSE_AT, distinct) and len(pending) > 1:
                pending = [_distinct(pending, arrow_type)]
                size = distinct = len(pending[0])
    if not pending:
        return pa.array([], type=arrow_type)
    return _distinct(pending, arrow_type)


def _distinct(chunks: list[pa.Array], arrow_type: pa.DataType) -> pa.Array:
    """The distinct non-null values of the chunks, in the order they first appear.

    By 64-bit hashes (8 bytes a value, sorted): a value whose hash no other shares is
    distinct as it is, and only those sharing a hash are made distinct by value. Arrow's
    unique would build a hash table and a copy of every value at once (~200 bytes a value:
    the largest part of reading a mapping's inputs)."""
    chunks = [c if not c.null_count else pc.drop_null(c) for c in chunks]
    values = pa.chunked_array(chunks, arrow_type)
    hashes = np.concatenate([np.zeros(0, dtype=np.uint64)] + [hash_rows([c]) for c in chunks])
    order = np.argsort(hashes)
    ordered = hashes[order]
    del hashes
    repeats = np.zeros(len(order), dtype=bool)
    same_next = ordered[1:] == ordered[:-1]
    repeats[1:] |= same_next
    repeats[:-1] |= same_next
    del ordered, same_next
    kept = order[~repeats]
    if repeats.any():  # of the values sharing a hash, each one's first appearance
        shared = np.sort(order[repeats])
        firsts = first_occurrences(_as_array(values.take(pa.array(shared))))
        kept = np.concatenate([kept, shared[firsts]])
    # in the order of first appearance, as pc.unique gives them (mapped_in_order reads a
    # column in its mapping's order)
    return _as_array(values.take(pa.array(np.sort(kept))))


def _masked_in_slices(strategy: Strategy, values: pa.Array, ctx: MaskContext) -> pa.Array:
    """strategy.mask(values), MASK_SLICE values at a time: a strategy's temporaries (digests,
    picks, joins: ~300 bytes a value for a fake email) then stay those of a slice, whatever
    the column's size. A value's pseudonym depends on it alone, not on its neighbours."""
    if len(values) <= MASK_SLICE:
        return _as_array(strategy.mask(values, ctx))
    return pa.concat_arrays(
        [
            _as_array(strategy.mask(values.slice(first, MASK_SLICE), ctx))
            for first in range(0, len(values), MASK_SLICE)
        ]
    )


def _repeated_among(keys: pa.Array, at: np.ndarray) -> np.ndarray:
    """Per position of `at`: whether keys[at] holds its (non-null) value more than once.

    By 64-bit hashes first (8 bytes a key, sorted), then only the keys sharing a hash are
    counted by value: Arrow's value_counts over millions of keys built a hash table of them
    all (~150 bytes a key at once, the largest part of building a mapping)."""
    hashes = hash_rows([keys])[at]
    order = np.argsort(hashes)
    ordered = hashes[order]
    del hashes
    same_next = np.flatnonzero(ordered[1:] == ordered[:-1])
    shared = np.zeros(len(at), dtype=bool)
    shared[order[same_next]] = shared[order[same_next + 1]] = True
    maybe = np.flatnonzero(shared)
    if len(maybe):
        values = keys.take(pa.array(at[maybe]))
        counts = pc.value_counts(values)
        repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
        shared[maybe] = pc.is_in(values, value_set=repeated).to_numpy(zero_copy_only=False)
    return shared


def resolve_injective(
    strategy: Strategy, inputs: pa.Array, ctx: MaskContext, *, fold: bool, label: str
) -> Mapping:
    """Mask distinct `inputs` so that no two outputs are equal (equal after lower() if fold)."""
    pending = np.arange(len(inputs))
    done_index: list[np.ndarray] = []
    done_masked: list[pa.Array] = []
    settled: list[pa.Array] = []  # collision keys already taken
    collided = np.zeros(len(inputs), dtype=bool)
    for rnd in range(MAX_ROUNDS):
        if not len(pending):
            break
        every = len(pending) == len(inputs)  # the first round: no copy of the inputs
        subset = inputs if every else inputs.take(pa.array(pending))
        masked = _masked_in_slices(strategy, subset, ctx.derive(round=rnd))
        keys = collision_key(masked, fold)
        valid = pc.is_valid(keys).to_numpy(zero_copy_only=False)
        free = valid.copy()
        if strategy.pseudonymises:  # a value masked as itself is re-masked, as a collision is
            free &= ~same_as_input(subset, masked, fold, masked_key=keys)
        if settled:
            taken_keys = pa.concat_arrays(settled)
            if len(keys) < len(taken_keys):
                # the hash table on the few keys of this round, not on every settled one
                taken_keys = taken_keys.filter(pc.is_in(taken_keys, value_set=keys))
            taken = pc.is_in(keys, value_set=taken_keys).to_numpy(zero_copy_only=False)
            free &= ~taken.astype(bool)
        free_at = np.flatnonzero(free)
        shared = _repeated_among(keys, free_at)
        accepted = [free_at[~shared], np.flatnonzero(~valid)]  # NULL outputs never collide
        if shared.any():
            contested = free_at[shared]
            # the winner of each collision: smallest keyed digest of the input, then the input
            # (not its position: the inputs come in no particular order)
            contenders = subset.take(pa.array(contested))
            order = pa.table(
                {
                    "key": keys.take(pa.array(contested)),
                    "digest": ctx.digests(contenders),
                    "input": contenders,
                    "local": contested,
                }
            ).sort_by([("key", "ascending"), ("digest", "ascending"), ("input", "ascending")])
            sorted_keys = order["key"].combine_chunks()
            first = np.ones(len(order), dtype=bool)
            if len(order) > 1:
                first[1:] = pc.not_equal(sorted_keys[1:], sorted_keys[:-1]).to_numpy(
                    zero_copy_only=False
                )
            accepted.append(order["local"].to_numpy()[first])
        take = np.sort(np.concatenate(accepted))
        done_index.append(pending[take])
        # take is sorted and unique: all of them (most of the first round) need no copy
        done_masked.append(masked if len(take) == len(masked) else masked.take(pa.array(take)))
        taken_valid = take[valid[take]]
        settled.append(keys if len(taken_valid) == len(keys) else keys.take(pa.array(taken_valid)))
        del subset, masked, keys
        keep = np.ones(len(pending), dtype=bool)
        keep[take] = False
        pending = pending[keep]
        collided[pending] = True
    if len(pending):
        raise SnapshotError(
            f"{label}: {len(pending)} values still collide after {MAX_ROUNDS} rounds of "
            f"re-masking with strategy {strategy.name}; its output space is too small for "
            f"{len(inputs)} distinct values of a unique column: widen it (e.g. a longer hash)"
        )
    index = np.concatenate(done_index) if done_index else np.zeros(0, dtype=np.int64)
    order = np.argsort(index, kind="stable")
    masked_all = (
        pa.concat_arrays(done_masked).take(pa.array(order))
        if done_masked
        else pa.array([], type=inputs.type)
    )
    return Mapping(inputs, masked_all, int(collided.sum()), len(done_index))


def apply_mapping(
    values: pa.Array, mapping: Mapping, fallback: Strategy, ctx: MaskContext
) -> pa.Array:
    """Masked values through `mapping`; values it does not hold go through `fallback` at round 0.

    Those are values of a column sharing the namespace that are not among the unique
    columns' values (an audit copy of an email, an FK child with a dangling value).
    """
    index = mapping.index.index_in(values)  # cast to the originals' type first
    out = mapping.masked.take(index)
    missing = pc.and_(pc.is_null(index), pc.is_valid(values))
    if pc.any(missing).as_py():
        unmapped = values.filter(missing)
        extra = remask_fixed_points(fallback, unmapped, fallback.mask(unmapped, ctx), ctx)
        out = pc.replace_with_mask(out, missing, extra.cast(out.type))
    return _as_array(out)


def mapped_in_order(
    values: pa.Array, mapping: Mapping | MappingFile, start: int
) -> pa.Array | None:
    """The masked values if the non-null `values` are the mapping's inputs from `start` on, in
    order, else None (then apply_mapping looks them up).

    A unique column read in the order its mapping was built (distinct_values keeps the order
    of first appearance) is its mapping's inputs, batch after batch: comparing is a fraction
    of the cost of a lookup, and needs no index of the mapping.
    """
    present = values.drop_null() if values.null_count else values
    if start + len(present) > len(mapping):
        return None
    original, masked = mapping.span(start, len(present))
    if present.type != original.type:
        present = present.cast(original.type)
    if len(present) and not pc.all(pc.equal(present, original)).as_py():
        return None
    if values.null_count:
        return pc.replace_with_mask(pa.nulls(len(values), masked.type), values.is_valid(), masked)
    return _as_array(masked)
