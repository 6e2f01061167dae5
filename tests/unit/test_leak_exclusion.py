"""Originals masking wrote are excluded by the output search itself, as by a search of its own."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from anonymiser import spanhash, textsearch
from anonymiser.verify import patterns as leak_patterns
from anonymiser.verify.leaks import LeakPatterns, matches

SOURCES = [("public.people", "email", "fake"), ("public.people", "notes", "redact")]


def loaded(originals: list[list[str]]) -> LeakPatterns:
    patterns = LeakPatterns()
    for number, values in enumerate(originals):
        patterns.add(SOURCES[number % 2], pa.array(values, pa.string()))
    return patterns


def reference(
    originals: list[list[str]], columns: list[tuple[list[str | None], list[bool]]]
) -> tuple[set[tuple[int, int, int]], list[int], np.ndarray]:
    """The exclusion first (every value masking wrote, searched apart), then the search."""
    patterns = loaded(originals)
    written = [v for values, wrote in columns for v, w in zip(values, wrote, strict=True) if w]
    patterns.freeze(pa.array(written, pa.string()))
    hits = set()
    for number, (values, _) in enumerate(columns):
        rows, found, _ = matches(patterns, pa.array(values, pa.string()))
        hits |= {(number, r, f) for r, f in zip(rows.tolist(), found.tolist(), strict=True)}
    return hits, patterns.counts, patterns.excluded


def merged(
    originals: list[list[str]], columns: list[tuple[list[str | None], list[bool]]]
) -> tuple[set[tuple[int, int, int]], list[int], np.ndarray]:
    """One search: each column's written values exclude as they are read; the occurrences of
    originals excluded later are dropped at the end."""
    patterns = loaded(originals)
    patterns.freeze()
    found_all = []
    for number, (values, wrote) in enumerate(columns):
        rows, found, _ = matches(
            patterns, pa.array(values, pa.string()), produced=np.array(wrote, dtype=bool)
        )
        found_all += [(number, r, f) for r, f in zip(rows.tolist(), found.tolist(), strict=True)]
    patterns.settle()
    hits = {(n, r, f) for n, r, f in found_all if not patterns.excluded[f]}
    return hits, patterns.counts, patterns.excluded


@pytest.mark.parametrize(("anchor", "chunk"), [(3, 40), (24, 1 << 18)])
def test_exclusion_during_the_search_finds_and_counts_what_a_separate_exclusion_does(
    monkeypatch: pytest.MonkeyPatch, anchor: int, chunk: int
) -> None:
    # short anchors and chunks exercise the long-original and chunk-boundary paths
    monkeypatch.setattr(textsearch, "ANCHOR", anchor)
    monkeypatch.setattr(leak_patterns, "ANCHOR", anchor)
    monkeypatch.setattr(spanhash, "CHUNK_BYTES", chunk)
    rng = random.Random(anchor)
    exercised = [0, 0]  # trials with an original excluded, with a leak left
    words = ["ann", "bo", "x1", "zoë", "jo.ann@a.b", "7", "cy-2", "Ann", " ann "]
    for _ in range(60):
        phrase = lambda: " ".join(rng.choices(words, k=rng.randint(1, 3)))  # noqa: E731
        originals = [[phrase() for _ in range(rng.randint(1, 6))] for _ in range(3)]
        columns = []
        for _ in range(rng.randint(1, 5)):
            size = rng.randint(1, 12)
            values = [None if rng.random() < 0.1 else phrase() for _ in range(size)]
            kept = rng.random() < 0.4  # a kept column: masking wrote none of it
            columns.append((values, [not kept and rng.random() < 0.7 for _ in values]))
        hits, counts, excluded = merged(originals, columns)
        expected, expected_counts, expected_excluded = reference(originals, columns)
        assert hits == expected
        assert counts == expected_counts
        assert excluded.tolist() == expected_excluded.tolist()
        exercised[0] += bool(excluded.any())
        exercised[1] += bool(hits)
    assert min(exercised) >= 10


def test_original_found_before_a_later_column_shows_masking_wrote_it_is_not_a_leak() -> None:
    patterns = loaded([["olivia.hart@example.org", "jane.doe@corp.example"]])
    patterns.freeze()
    kept = pa.array(["mail olivia.hart@example.org", "jane.doe@corp.example"])
    rows, found, _ = matches(patterns, kept)  # read first: both look like leaks for now
    assert sorted(found.tolist()) == [0, 1]
    # a masked column read later holds the first as a pseudonym, and the second in a row
    # masking left as it was (an original left in place, not a pseudonym)
    masked = pa.array(["olivia.hart@example.org", "jane.doe@corp.example"])
    matches(patterns, masked, produced=np.array([True, False]))
    patterns.settle()
    assert patterns.excluded.tolist() == [True, False]
    assert patterns.counts == [1]
    assert [
        r for r, f in zip(rows.tolist(), found.tolist(), strict=True) if not patterns.excluded[f]
    ] == [1]


def test_a_column_that_is_not_searched_still_excludes_what_masking_wrote_in_it() -> None:
    patterns = loaded([["1234.5678"]])
    patterns.freeze()
    rows, _, _ = matches(
        patterns, pa.array([1234.5678], pa.float64()), produced=np.array([True]), search=False
    )
    patterns.settle()
    assert len(rows) == 0 and patterns.excluded.tolist() == [True]
