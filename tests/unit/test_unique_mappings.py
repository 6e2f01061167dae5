"""Collision-free mappings for unique columns: whole-set detection, deterministic resolution."""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from anonymiser.errors import SnapshotError
from anonymiser.maskers import ColumnSpec, MaskContext, Strategy, register
from anonymiser.maskers._fixedpoints import remask_fixed_points
from anonymiser.stages import mappings
from anonymiser.stages.mappings import (
    MappingFile,
    apply_mapping,
    distinct_values,
    mapped_in_order,
    resolve_injective,
)

SPACE = 1_500_000  # 1M distinct inputs into 1.5M outputs: about a quarter collide at first


@register
class TinySpace(Strategy):
    """Test only: a keyed integer in [0, space): collides often, round by round differently."""

    name = "test_tiny_space"
    summary = "test only: keyed integer in a small range"
    may_collide = True

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        space = np.uint64(getattr(self, "space", SPACE))
        out = (ctx.digests(values) % space).astype(np.int64)
        return pa.array(out, pa.int64(), mask=pc.is_null(values).to_numpy(zero_copy_only=False))


@register
class CaseScatter(Strategy):
    """Test only: "x<n>" in upper or lower case, both by digest: collides under lower() often."""

    name = "test_case_scatter"
    summary = "test only"
    may_collide = True

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        digests = ctx.digests(values)
        text = pc.binary_join_element_wise(
            "x", pa.array((digests % np.uint64(400)).astype(str)), ""
        )
        upper = pa.array(((digests >> np.uint64(32)) & np.uint64(1)).astype(bool))
        return pc.if_else(upper, pc.utf8_upper(text), text)


INT64 = pa.int64()


def spec(arrow_type: pa.DataType = INT64) -> ColumnSpec:
    return ColumnSpec("public.t", "c", "bigint", "int8", "N", arrow_type, unique=True)


def as_dict(original: pa.Array, masked: pa.Array) -> dict[object, object]:
    return dict(zip(original.to_pylist(), masked.to_pylist(), strict=True))


@pytest.mark.slow
def test_one_million_distinct_inputs_get_distinct_outputs_deterministically() -> None:
    strategy = TinySpace({}, spec())
    ctx = MaskContext(b"k" * 32, "public.t.c")
    inputs = pa.array(np.arange(1_000_000, dtype=np.int64))
    started = time.monotonic()
    first = resolve_injective(strategy, inputs, ctx, fold=False, label="public.t.c")
    seconds = time.monotonic() - started
    assert len(first.masked) == 1_000_000
    assert pc.count_distinct(first.masked).as_py() == 1_000_000  # unique output
    assert first.collisions > 100_000  # the strategy really collided, a lot
    assert first.rounds > 2
    # the same inputs in another order give the same mapping: no dependence on file order
    shuffled = inputs.take(pa.array(np.random.default_rng(7).permutation(1_000_000)))
    second = resolve_injective(strategy, shuffled, ctx, fold=False, label="public.t.c")
    assert as_dict(first.original, first.masked) == as_dict(second.original, second.masked)
    # inputs that never collided keep their first-round output
    plain = strategy.mask(inputs, ctx).to_numpy()
    kept = np.asarray(first.masked) == plain
    assert kept.sum() >= 1_000_000 - first.collisions
    assert seconds < 60, f"took {seconds:.1f}s"


def test_another_key_gives_another_mapping() -> None:
    strategy = TinySpace({}, spec())
    inputs = pa.array(np.arange(10_000, dtype=np.int64))
    a = resolve_injective(strategy, inputs, MaskContext(b"a" * 32, "n"), fold=False, label="t")
    b = resolve_injective(strategy, inputs, MaskContext(b"b" * 32, "n"), fold=False, label="t")
    assert a.masked.to_pylist() != b.masked.to_pylist()


def test_case_folding_unique_index_needs_outputs_distinct_after_lower() -> None:
    strategy = CaseScatter({}, spec(pa.string()))
    inputs = pa.array([f"user{i}@example.org" for i in range(150)])
    ctx = MaskContext(b"k" * 32, "n")
    plain = resolve_injective(strategy, inputs, ctx, fold=False, label="t")
    assert pc.count_distinct(plain.masked).as_py() == 150
    # distinct as written, yet "X12" and "x12" would break a unique index on lower(email)
    assert pc.count_distinct(pc.utf8_lower(plain.masked)).as_py() < 150
    folded = resolve_injective(strategy, inputs, ctx, fold=True, label="t")
    assert pc.count_distinct(pc.utf8_lower(folded.masked)).as_py() == 150


def test_a_strategy_whose_output_space_is_too_small_is_refused_naming_the_column() -> None:
    strategy = TinySpace({}, spec())
    strategy.space = 10  # type: ignore[attr-defined]
    inputs = pa.array(np.arange(50, dtype=np.int64))
    with pytest.raises(SnapshotError, match=r"public\.t\.c: 40 values still collide"):
        resolve_injective(
            strategy, inputs, MaskContext(b"k" * 32, "n"), fold=False, label="public.t.c"
        )


def test_null_outputs_never_count_as_collisions() -> None:
    class Nulls(TinySpace):
        def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
            return pa.nulls(len(values), pa.int64())

    mapping = resolve_injective(
        Nulls({}, spec()), pa.array([1, 2, 3]), MaskContext(b"k" * 32, "n"), fold=False, label="t"
    )
    assert mapping.masked.null_count == 3 and mapping.collisions == 0


def test_values_outside_the_mapping_fall_back_to_the_strategy(tmp_path: Path) -> None:
    strategy = TinySpace({}, spec())
    ctx = MaskContext(b"k" * 32, "n")
    mapping = resolve_injective(strategy, pa.array([1, 2, 3]), ctx, fold=False, label="t")
    out = apply_mapping(pa.array([3, None, 99, 1]), mapping, strategy, ctx)
    lookup = as_dict(mapping.original, mapping.masked)
    assert out.to_pylist() == [
        lookup[3],
        None,
        strategy.mask(pa.array([99]), ctx)[0].as_py(),
        lookup[1],
    ]


def test_distinct_values_read_every_file_batch_by_batch(tmp_path: Path) -> None:
    for n, values in enumerate(([3, 1, None, 3], [2, 1], [])):
        pq.write_table(pa.table({"c": pa.array(values, pa.int32())}), tmp_path / f"{n}.parquet")
    sources = [(tmp_path / f"{n}.parquet", "c") for n in (2, 1, 0)]
    distinct = distinct_values(sources, pa.int64())
    assert distinct.type == pa.int64() and sorted(distinct.to_pylist()) == [1, 2, 3]


def test_distinct_values_collapsing_often_keep_first_appearance_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # made distinct every few values: the result is still every value once, in the order
    # of its first appearance (mapped_in_order relies on it)
    monkeypatch.setattr(mappings, "_COLLAPSE_AT", 3)
    rng = random.Random(7)
    files = [[rng.randrange(40) for _ in range(rng.randrange(1, 9))] for _ in range(30)]
    for n, values in enumerate(files):
        pq.write_table(pa.table({"c": pa.array(values, pa.int64())}), tmp_path / f"{n}.parquet")
    sources = [(tmp_path / f"{n}.parquet", "c") for n in range(len(files))]
    expected = list(dict.fromkeys(v for values in files for v in values))
    assert distinct_values(sources, pa.int64()).to_pylist() == expected


def test_a_column_read_in_mapping_order_gets_what_the_lookup_gives() -> None:
    strategy = TinySpace({}, spec())
    ctx = MaskContext(b"k" * 32, "n")
    mapping = resolve_injective(strategy, pa.array([5, 9, 2, 7, 4]), ctx, fold=False, label="t")
    first, second = pa.array([5, None, 9]), pa.array([2, 7, None, 4])
    for batch, start in ((first, 0), (second, 2)):
        expected = apply_mapping(batch, mapping, strategy, ctx).to_pylist()
        assert mapped_in_order(batch, mapping, start).to_pylist() == expected  # type: ignore[union-attr]
    assert mapped_in_order(second, mapping, 0) is None  # not where the column stands
    assert mapped_in_order(pa.array([4, 5]), mapping, 4) is None  # past the end


def test_a_mapping_file_read_in_order_gives_the_mapping_s_spans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mappings, "MAPPING_GROUP_ROWS", 3)  # many small row groups
    strategy = TinySpace({}, spec())
    ctx = MaskContext(b"k" * 32, "n")
    mapping = resolve_injective(strategy, pa.array(range(20)), ctx, fold=False, label="t")
    mapping.write(tmp_path / "m.parquet")
    reader = MappingFile(tmp_path / "m.parquet")
    assert len(reader) == 20
    # batches of every size, across row-group boundaries, then back to the start
    for start, length in [(0, 0), (0, 1), (1, 5), (6, 3), (9, 11), (0, 20), (19, 1), (4, 0)]:
        got = reader.span(start, length)
        assert [a.to_pylist() for a in got] == [a.to_pylist() for a in mapping.span(start, length)]
    batch = pa.array([7, None, 8, 9])
    assert mapped_in_order(batch, reader, 7).to_pylist() == (  # type: ignore[union-attr]
        mapped_in_order(batch, mapping, 7).to_pylist()  # type: ignore[union-attr]
    )
    assert mapped_in_order(batch, reader, 6) is None  # not where the column stands
    assert mapped_in_order(pa.array(range(18, 22)), reader, 18) is None  # past the end


def _tiny(space: int) -> TinySpace:
    strategy = TinySpace({}, spec())
    strategy.space = space  # type: ignore[attr-defined]
    return strategy


def test_no_unique_input_is_masked_as_itself() -> None:
    # 30 values into a space of 40: at round 0 about one in two namespaces maps some value
    # to itself (a 7-digit TRN among millions does the same); the mapping re-masks those
    strategy = _tiny(40)
    inputs = pa.array(range(30), pa.int64())
    fixed_at_round_0 = 0
    for n in range(40):
        ctx = MaskContext(b"k" * 32, f"ns{n}")
        first = strategy.mask(inputs, ctx).to_pylist()
        fixed_at_round_0 += sum(a == b for a, b in zip(inputs.to_pylist(), first, strict=True))
        mapping = resolve_injective(strategy, inputs, ctx, fold=False, label="t")
        pairs = as_dict(mapping.original, mapping.masked)
        assert all(original != masked for original, masked in pairs.items())
        assert len(set(pairs.values())) == 30
    assert fixed_at_round_0 > 5  # the case above did arise


def test_a_value_masked_as_itself_is_masked_again_deterministically() -> None:
    strategy = _tiny(3)  # one in three values is its own pseudonym at round 0
    values = pa.array([0, 1, 2, None, 2, 1, 0] * 20, pa.int64())
    for n in range(10):
        ctx = MaskContext(b"k" * 32, f"ns{n}")
        out = remask_fixed_points(strategy, values, strategy.mask(values, ctx), ctx)
        pairs = list(zip(values.to_pylist(), out.to_pylist(), strict=True))
        assert all((v is None and m is None) or v != m for v, m in pairs)
        # the same input, the same pseudonym, whichever row and batch
        again = remask_fixed_points(strategy, values[:3], strategy.mask(values[:3], ctx), ctx)
        assert dict(pairs[:3]) == dict(zip(values[:3].to_pylist(), again.to_pylist(), strict=True))


def test_a_strategy_without_pseudonyms_is_left_as_it_masked() -> None:
    # a space of one: no round can change it; left as it is after the rounds, no error
    strategy = _tiny(1)
    values = pa.array([0, 0, 5], pa.int64())
    ctx = MaskContext(b"k" * 32, "ns")
    assert remask_fixed_points(strategy, values, strategy.mask(values, ctx), ctx).to_pylist() == [
        0,
        0,
        0,
    ]
