"""Originals split into parts by hash, each part searched on its own, find what one part does."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from anonymiser.verify.candidates import Candidates, Column
from anonymiser.verify.leaks import LeakPatterns, matches
from anonymiser.verify.matching import distinct
from anonymiser.verify.patterns import ENTRY_BYTES, normalised
from anonymiser.verify.spills import part_of

SOURCES = [("public.people", "email", "fake"), ("public.people", "notes", "redact")]
WORDS = ["ann", "zoë", "jo.ann@a.b", 'say "hi"', "line\nbreak", "cy-2", "07700 900123", "x1"]


def search(
    originals: list[list[str]],
    columns: list[tuple[list[str | None], list[bool]]],
    parts: int,
    inside: list[str] | None = None,
) -> tuple[set[tuple[int, int, int]], list[int], set[int]]:
    """(column, row, spill row) of the leaks, the counts and the excluded spill rows, of every
    part searched and settled in turn, as check_leaks did (`inside`: values a json or array
    rule wrote)."""
    patterns = LeakPatterns()
    for number, values in enumerate(originals):
        patterns.add(SOURCES[number % 2], pa.array(values, pa.string()))
    if inside:
        patterns.add_produced(normalised(pa.array(inside, pa.string()), 1))
    hits: set[tuple[int, int, int]] = set()
    counts = [0] * len(SOURCES)
    excluded: set[int] = set()
    for part in range(parts):
        patterns.freeze(part=part, parts=parts)
        found_all = []
        for number, (values, wrote) in enumerate(columns):
            rows, found, _ = matches(
                patterns, pa.array(values, pa.string()), produced=np.array(wrote, dtype=bool)
            )
            found_all += [
                (number, r, f) for r, f in zip(rows.tolist(), found.tolist(), strict=True)
            ]
        patterns.settle()
        counts = [a + b for a, b in zip(counts, patterns.counts, strict=True)]
        hits |= {
            (n, r, int(patterns.entry[f])) for n, r, f in found_all if not patterns.excluded[f]
        }
        excluded |= set(patterns.entry[patterns.excluded].tolist())
    return hits, counts, excluded


def search_once(
    originals: list[list[str]],
    columns: list[tuple[list[str | None], list[bool]]],
    parts: int,
    folder: Path,
    inside: list[str],
) -> tuple[set[tuple[int, int, int]], list[int], set[int]]:
    """search()'s answer from one pass over the columns: their candidate spans spilled by
    part, then resolved a part at a time (as check_leaks does)."""
    patterns = LeakPatterns(folder)
    for number, values in enumerate(originals):
        patterns.add(SOURCES[number % 2], pa.array(values, pa.string()))
    if inside:
        patterns.add_produced(normalised(pa.array(inside, pa.string()), 1))
    candidates = Candidates(patterns, folder, parts)
    held = []  # per column: the distinct value each row holds
    for number, (values, wrote) in enumerate(columns):
        column = Column(str(number), False, True, frozenset())
        array = pa.array(values, pa.string())
        held.append(distinct(array)[1])
        candidates.add(column, "part", 0, array, np.array(wrote, dtype=bool))
    candidates.add_produced()
    candidates.finish()
    hits: set[tuple[int, int, int]] = set()
    counts = [0] * len(SOURCES)
    excluded: set[int] = set()
    for part in range(parts):
        patterns.freeze(part=part, parts=parts, lookup=True)
        batch, entry, at, rows = candidates.resolve(part)
        patterns.settle()
        counts = [a + b for a, b in zip(counts, patterns.counts, strict=True)]
        found = zip(batch.tolist(), entry.tolist(), at.tolist(), rows.tolist(), strict=True)
        for b, e, a, r in found:
            if not patterns.excluded[e]:
                number = int(candidates.columns[candidates.batches[b][0]].label)
                holding = np.flatnonzero(held[number] == a).tolist()
                assert len(holding) == r
                hits |= {(number, row, int(patterns.entry[e])) for row in holding}
        excluded |= set(patterns.entry[patterns.excluded].tolist())
    return hits, counts, excluded


def test_parts_find_count_and_exclude_exactly_what_one_part_does(tmp_path: Path) -> None:
    rng = random.Random(8)
    spread = set()  # the parts leaks were found in, over all trials
    excluding = 0
    for trial in range(40):
        phrase = lambda: " ".join(rng.choices(WORDS, k=rng.randint(1, 3)))  # noqa: E731
        originals = [[phrase() for _ in range(rng.randint(1, 8))] for _ in range(4)]
        columns = []
        for _ in range(rng.randint(1, 4)):
            values = [None if rng.random() < 0.1 else phrase() for _ in range(rng.randint(1, 12))]
            kept = rng.random() < 0.5  # a kept column: masking wrote none of it
            columns.append((values, [not kept and rng.random() < 0.5 for _ in values]))
        expected = search(originals, columns, 1)
        for parts in (2, 5):
            assert search(originals, columns, parts) == expected
        # and read once, the candidates spilled by part; with values a json rule wrote
        inside = [phrase() for _ in range(rng.randint(0, 3))]
        with_inside = search(originals, columns, 1, inside)
        for parts in (1, 2, 5):
            folder = tmp_path / f"{trial}-{parts}"
            folder.mkdir()
            assert search_once(originals, columns, parts, folder, []) == expected
            shutil.rmtree(folder)
            folder.mkdir()
            assert search_once(originals, columns, parts, folder, inside) == with_inside
        spread.add(len(expected[0]))
        excluding += with_inside != expected
    assert max(spread) > 0
    assert excluding  # some trials' json values excluded some originals


@pytest.mark.parametrize("parts", [16, 64])
def test_json_escaped_and_whole_word_leaks_in_different_parts_are_all_found(parts: int) -> None:
    originals = ["zoë.smith@corp.example", 'o"neil@corp.example', "07700 900123", "sw1a 1aa"]
    text = [
        '{"to": "zo\\u00eb.smith@corp.example"}',  # escaped as a JSON document may write it
        '{"email": "o\\"neil@corp.example"}',
        "call 07700 900123 today",  # a compound original as whole words in free text
        "SW1A 1AA",  # a whole value, in another case
        "xsw1a 1aa",  # not at a word boundary: no leak
    ]
    patterns = LeakPatterns()
    patterns.add(SOURCES[0], pa.array(originals))
    found: dict[int, set[int]] = {}  # row: spill rows of the entries found in it
    where = set()
    for part in range(parts):
        patterns.freeze(part=part, parts=parts)
        rows, entries, _ = matches(patterns, pa.array(text))
        for row, entry in zip(rows.tolist(), entries.tolist(), strict=True):
            found.setdefault(row, set()).add(int(patterns.entry[entry]))
            where.add(part)
    assert sorted(found) == [0, 1, 2, 3]
    # the documents hold escaped forms (entries after the originals), the rest the originals
    assert min(found[0]) >= len(originals) and min(found[1]) >= len(originals)
    assert found[2] == {2} and found[3] == {3}
    assert len(where) > 1  # the leaks fell in several parts (all in one: 1 in 4096 runs)


def test_parts_split_hashes_into_equal_ranges_and_fit_the_budget() -> None:
    hashes = np.array([0, 2**62, 2**63, 2**64 - 1], dtype=np.uint64)
    assert part_of(hashes, 4).tolist() == [0, 1, 2, 3]
    assert part_of(hashes, 1).tolist() == [0, 0, 0, 0]
    patterns = LeakPatterns()
    patterns.add(SOURCES[0], pa.array([f"person{n}@corp.example" for n in range(100)]))
    assert patterns.parts(100 * ENTRY_BYTES) == 1
    assert patterns.parts(10 * ENTRY_BYTES) == 10


def test_values_a_json_rule_wrote_without_candidate_spans_exclude_nothing(tmp_path: Path) -> None:
    originals = [["jo.ann@a.b"], ["07700 900123"]]
    columns: list[tuple[list[str | None], list[bool]]] = [(["mail jo.ann@a.b"], [False])]
    expected = search(originals, columns, 1)
    assert len(expected[0]) == 1
    # all shorter than any original: no span of them is looked at
    assert search_once(originals, columns, 2, tmp_path, ["qq", "zz"]) == expected
