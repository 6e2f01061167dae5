"""Values masked as themselves, masked again: a keyed pseudonym never publishes its input.

A fake, hash or pattern value drawn from a space the originals fill densely (a 7-digit TRN
among millions, one digit in an IP address) is now and then the very value it replaces. Every
place a pseudonymising strategy masks values (a column, a JSON path, an array element, a
Presidio finding) passes its result through remask_fixed_points, so they all re-mask the same
way: the same input in the same namespace gets the same pseudonym wherever it stands.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers.base import MaskContext, Strategy

__all__ = ["FIXED_POINT_ROUNDS", "collision_key", "remask_fixed_points", "same_as_input"]

FIXED_POINT_ROUNDS = 20  # re-maskings of a value masked as itself before it is left so


def collision_key(values: pa.Array, fold: bool) -> pa.Array:
    """What two values are compared by: the values, or lower-cased text if fold."""
    if fold and (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return pc.utf8_lower(values)
    return values


def same_as_input(
    values: pa.Array,
    masked: pa.Array,
    fold: bool = False,
    masked_key: pa.Array | None = None,
) -> np.ndarray:
    """Per row: the masked value is the input itself (case aside if fold); False where either
    is NULL, or the two types do not compare. `masked_key`: collision_key(masked, fold), if
    the caller has it already."""
    if masked.type != values.type:
        try:
            values = values.cast(masked.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return np.zeros(len(values), dtype=bool)
    if masked_key is None:
        masked_key = collision_key(masked, fold)
    same = pc.equal(collision_key(values, fold), masked_key)
    return np.asarray(pc.fill_null(same, False).to_numpy(zero_copy_only=False), dtype=bool)


def remask_fixed_points(
    strategy: Strategy,
    values: pa.Array,
    masked: pa.Array,
    ctx: MaskContext,
    *,
    fold: bool = False,
) -> pa.Array:
    """`masked`, but where a value was masked as itself (case aside if fold), masked again
    (ctx.derive(round=n)), so that no row keeps its original by chance: the verify stage's
    leak check would find it.

    Only for strategies that pseudonymise (Strategy.pseudonymises); a value still masked as
    itself after FIXED_POINT_ROUNDS rounds (an output space of one) is left so. Without fixed
    points the cost is one comparison of the two arrays.
    """
    if not strategy.pseudonymises or not len(values):
        return masked
    values, masked = _as_array(values), _as_array(masked)
    same = same_as_input(values, masked, fold)
    for rnd in range(1, FIXED_POINT_ROUNDS + 1):
        if not same.any():
            break
        at = np.flatnonzero(same)
        subset = values.take(pa.array(at))
        again = _as_array(strategy.mask(subset, ctx.derive(round=ctx.round + rnd)))
        masked = _as_array(pc.replace_with_mask(masked, pa.array(same), again.cast(masked.type)))
        same[at] = same_as_input(subset, again, fold)
    return masked


def _as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
