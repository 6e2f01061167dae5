"""The original -> pseudonym pairs of a snapshot's structured columns, as Arrow arrays.

The mask stage collects them column by column for free-text scrubbing (anonymiser.maskers.
_known searches texts for them); at 1M demo rows there are ~1.4M, so they are never Python
dictionaries: they are resolved to one pseudonym per normal form with Arrow and NumPy.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.hashtable import hash_order
from anonymiser.spanhash import value_hashes

__all__ = ["KnownPairs", "first_occurrences", "normal_form"]

# str.split()'s whitespace among ASCII characters: tab to carriage return, the information
# separators 0x1c-0x1f, space
_ASCII_SPACE = "[\t-\r\x1c-\x1f ]+"


def normal_form(text: str) -> str:
    """How a value is compared: case folded, runs of whitespace as one space, trimmed."""
    return " ".join(text.casefold().split())


class KnownPairs:
    """Original -> pseudonym pairs of the structured columns of one snapshot, by entity kind.

    Added column by column as Arrow arrays. Where one kind is given an original twice, its
    first pseudonym stands; where two originals share a normal form (case and spacing
    aside), the one given last does. Once resolved (one pseudonym per normal form) the
    pairs are held only so: nothing more can be added.
    """

    def __init__(self) -> None:
        self._parts: list[tuple[str, pa.Array, pa.Array]] = []
        self._resolved: tuple[pa.Array, pa.Array] | None = None

    @classmethod
    def from_mapping(cls, known: Mapping[str, Mapping[str, str]]) -> KnownPairs:
        """Pairs from {kind: {original: pseudonym}}."""
        pairs = cls()
        for kind, mapping in known.items():
            originals = pa.array(list(mapping), pa.string())
            pairs.add(kind, originals, pa.array(list(mapping.values()), pa.string()))
        return pairs

    def add(self, kind: str, originals: pa.Array, pseudonyms: pa.Array) -> None:
        """originals[i] was masked as pseudonyms[i] in a column of entity `kind`."""
        if self._resolved is not None:
            raise ValueError("known pairs already resolved: add every column first")
        if len(originals) != len(pseudonyms):
            raise ValueError(f"{len(originals)} originals for {len(pseudonyms)} pseudonyms")
        self._parts.append((kind, _text(originals), _text(pseudonyms)))

    def resolved(self) -> tuple[pa.Array, pa.Array]:
        """(normal forms, pseudonyms): one pseudonym per normal form, as documented above."""
        if self._resolved is None:
            # handed over: _resolve lets them go before it puts the groups together (at 1M
            # rows they are ~100 MiB, at 10M ~550 MiB)
            parts, self._parts = self._parts, []
            self._resolved = _resolve(parts)
        return self._resolved

    def reorder(self, order: np.ndarray) -> tuple[pa.Array, pa.Array]:
        """The resolved pairs taken in `order` (an index's), and held so from now on: the
        index and these pairs then share one copy."""
        keys, pseudonyms = self.resolved()
        if np.array_equal(order, np.arange(len(order))):
            return keys, pseudonyms  # in that order already (resolved in groups of hashes)
        self._resolved = None
        keys = keys.take(order)  # one array at a time: the old copy goes as the new comes
        pseudonyms = pseudonyms.take(order)
        self._resolved = (keys, pseudonyms)
        return self._resolved


def _resolve(given: list[tuple[str, pa.Array, pa.Array]]) -> tuple[pa.Array, pa.Array]:
    """(normal forms, pseudonyms) of the pairs as added (`given` is let go of on the way)."""
    if not given:
        return pa.array([], pa.string()), pa.array([], pa.string())
    ranks: dict[str, int] = {}
    for kind, _, _ in given:
        ranks.setdefault(kind, len(ranks))
    # kind by kind (in the order first added), each kind's columns in the order added
    parts = sorted(given, key=lambda part: ranks[part[0]])
    given.clear()
    groups = -(-sum(len(o) for _, o, _ in parts) // _RESOLVED_AT_ONCE)
    if groups == 1:
        return _resolved(parts)
    # the pairs of one normal form (and so of one original) all fall in one group of its
    # hash, and keep their order there: each group resolves on its own. The groups are
    # ranges of the hash that the known values' index sorts by (value_hashes), so each is
    # put in hash order and, one after the other, they are in the index's order
    group_of = [_group(o, groups) for _, o, _ in parts]
    resolved = []
    for group in range(groups):
        rows = [pa.array(np.flatnonzero(of == group)) for of in group_of]
        mine = [(k, o.take(r), p.take(r)) for (k, o, p), r in zip(parts, rows, strict=True)]
        normals, pseudonyms = _resolved(mine)
        order = pa.array(hash_order(value_hashes(normals)))
        resolved.append((normals.take(order), pseudonyms.take(order)))
    del parts, group_of, mine  # the pairs as added go before the groups are put together
    normals_of, pseudonyms_of = zip(*resolved, strict=True)
    del resolved
    return pa.concat_arrays(normals_of), pa.concat_arrays(pseudonyms_of)


# pairs resolved at once: the dictionary encoding and sorts take ~150 bytes a pair meanwhile
# (the 14M pairs of 10M demo rows at once would have been the mask stage's peak)
_RESOLVED_AT_ONCE = 1 << 20


def _group(originals: pa.Array, groups: int) -> np.ndarray:
    """The group (of `groups`) of each original, by the top bits of its normal form's hash
    (_RESOLVED_AT_ONCE at a time: a normal form is a copy or three)."""
    hashes = np.concatenate(
        [np.zeros(0, dtype=np.uint64)]
        + [
            value_hashes(_normal_forms(pc.fill_null(originals.slice(first, _RESOLVED_AT_ONCE), "")))
            for first in range(0, len(originals), _RESOLVED_AT_ONCE)
        ]
    )
    group: np.ndarray = ((hashes >> np.uint64(32)) * np.uint64(groups)) >> np.uint64(32)
    return group


def _resolved(parts: list[tuple[str, pa.Array, pa.Array]]) -> tuple[pa.Array, pa.Array]:
    """(normal forms, pseudonyms) of pairs given by kind rank (parts sorted so)."""
    ranks: dict[str, int] = {}
    for kind, _, _ in parts:
        ranks.setdefault(kind, len(ranks))
    rows: list[np.ndarray] = []  # per part, the rows of its pairs that stand
    for rank in range(len(ranks)):
        mine = [(o, p) for kind, o, p in parts if ranks[kind] == rank]
        given = [
            np.flatnonzero(
                pc.fill_null(pc.and_(_nonempty(o), _nonempty(p)), False).to_numpy(
                    zero_copy_only=False
                )
            )
            for o, p in mine
        ]
        if len(mine) > 1:  # each original's first pair (one column has each once)
            sizes = np.cumsum([0, *(len(g) for g in given)])
            firsts = first_occurrences(
                pa.concat_arrays([o.take(g) for (o, _), g in zip(mine, given, strict=True)])
            )
            given = [
                g[firsts[(firsts >= lo) & (firsts < hi)] - lo]
                for g, lo, hi in zip(given, sizes[:-1], sizes[1:], strict=True)
            ]
        rows += given
    normals = pa.concat_arrays(
        [pa.array([], pa.string())]
        + [_normal_forms(o.take(r)) for (_, o, _), r in zip(parts, rows, strict=True)]
    )
    # per normal form, the last of those pairs
    codes = pc.dictionary_encode(normals).indices.to_numpy()
    order = np.argsort(codes, kind="stable")
    last = np.ones(len(order), dtype=bool)
    last[:-1] = codes[order[1:]] != codes[order[:-1]]
    kept = np.sort(order[last])
    del codes, order, last
    kept = kept[_nonempty(normals.take(kept)).to_numpy(zero_copy_only=False)]
    # `kept` is ascending and the parts are back to back: each part's share in order
    sizes = np.cumsum([0, *(len(r) for r in rows)])
    bounds = np.searchsorted(kept, sizes)
    pseudonyms = [
        p.take(r[kept[lo:hi] - first])
        for (_, _, p), r, first, lo, hi in zip(
            parts, rows, sizes[:-1], bounds[:-1], bounds[1:], strict=True
        )
    ]
    return normals.take(kept), pa.concat_arrays([pa.array([], pa.string()), *pseudonyms])


def _text(values: pa.Array) -> pa.Array:
    """The values as one text array."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values if values.type == pa.string() else values.cast(pa.string())


def _nonempty(values: pa.Array) -> pa.Array:
    return pc.greater(pc.binary_length(values), 0)


def first_occurrences(values: pa.Array) -> np.ndarray:
    """Positions, ascending, of the first occurrence of each distinct value (no nulls)."""
    # dictionary encoding numbers values in the order they first occur: a value occurs for
    # the first time where its number is above every number before it
    codes = pc.dictionary_encode(values).indices.to_numpy()
    first = np.ones(len(codes), dtype=bool)
    first[1:] = codes[1:] > np.maximum.accumulate(codes)[:-1]
    return np.flatnonzero(first)


def _normal_forms(values: pa.Array) -> pa.Array:
    """normal_form() of each value: vectorised for ASCII values, in Python for the others."""
    ascii_ = pc.string_is_ascii(values).to_numpy(zero_copy_only=False)
    spaced = pc.replace_substring_regex(pc.ascii_lower(values), _ASCII_SPACE, " ")
    out = pc.utf8_trim(spaced, " ")
    if ascii_.all():
        return out
    other = np.flatnonzero(~ascii_)
    folded = pa.array([normal_form(v) for v in values.take(other).to_pylist()], pa.string())
    positions = np.full(len(values), -1)
    positions[other] = np.arange(len(other))
    merged = pa.concat_arrays([out, folded])
    at = np.where(ascii_, np.arange(len(values)), len(values) + positions)
    return merged.take(at)
