"""The vectorised whole-word search agrees with a plain Python search, edge cases included."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from anonymiser import hashtable, spanhash, textsearch
from anonymiser.textsearch import WordIndex
from anonymiser.verify.leaks import LeakPatterns, matches


def plain_search(keys: list[str], texts: list[str | None]) -> set[tuple[int, int, bool]]:
    """(row, key, whole value?) of every occurrence bounded by non-alphanumerics or the ends."""
    found = set()
    for row, text in enumerate(texts):
        for index, key in enumerate(keys):
            at = text.find(key) if text is not None and key else -1
            while at >= 0 and text is not None:
                end = at + len(key)
                if (at == 0 or not text[at - 1].isalnum()) and (
                    end == len(text) or not text[end].isalnum()
                ):
                    found.add((row, index, at == 0 and end == len(text)))
                at = text.find(key, at + 1)
    return found


def indexed_search(keys: list[str], texts: list[str | None]) -> set[tuple[int, int, bool]]:
    rows, found, whole = WordIndex(pa.array(keys, pa.string())).find(pa.array(texts, pa.string()))
    return set(zip(rows.tolist(), found.tolist(), whole.tolist(), strict=True))


@pytest.mark.parametrize(("anchor", "chunk"), [(2, 5), (3, 50), (24, 1 << 20)])
def test_index_finds_exactly_what_a_plain_search_finds(
    monkeypatch: pytest.MonkeyPatch, anchor: int, chunk: int
) -> None:
    # short anchors and chunks exercise the long-key and chunk-boundary paths on small data
    monkeypatch.setattr(textsearch, "ANCHOR", anchor)
    monkeypatch.setattr(spanhash, "CHUNK_BYTES", chunk)
    rng = random.Random(anchor)
    alphabet = list("ab .@-1é\u2019_x")  # letters, digits, separators, non-ASCII ones
    for _ in range(100):
        keys = sorted(
            {"".join(rng.choices(alphabet, k=rng.randint(1, 8))) for _ in range(rng.randint(1, 30))}
        )
        # random text with keys planted in it, so that most keys are there to be found
        texts = [
            None
            if rng.random() < 0.1
            else "".join(
                rng.choice(keys) if rng.random() < 0.3 else "".join(rng.choices(alphabet, k=3))
                for _ in range(rng.randint(0, 8))
            )
            for _ in range(rng.randint(1, 40))
        ]
        assert indexed_search(keys, texts) == plain_search(keys, texts)


def test_key_inside_a_longer_word_or_across_two_values_is_not_found() -> None:
    keys = ["ab cd", "jane.doe@corp.example"]
    texts = ["xx ab", "cd yy", "xjane.doe@corp.example", "ab cdx", "see ab cd.", "Zoë ab cd"]
    assert indexed_search(keys, texts) == {(4, 0, False), (5, 0, False)}


def test_no_keys_and_no_values_find_nothing() -> None:
    assert indexed_search([], ["anything"]) == set()
    assert indexed_search(["anything"], []) == set()


def test_dropped_keys_are_no_longer_found_and_the_others_still_are() -> None:
    index = WordIndex(pa.array(["olivia", "jane.doe@corp.example", "a longer key than the anchor"]))
    index.drop(pa.array([0, 2]).to_numpy())
    texts = pa.array(["olivia", "mail jane.doe@corp.example", "see a longer key than the anchor"])
    rows, found, whole = index.find(texts)
    assert (rows.tolist(), found.tolist(), whole.tolist()) == ([1], [1], [False])


def test_leak_matches_report_every_row_of_a_repeated_value_and_skip_nulls() -> None:
    found = LeakPatterns()
    found.add(("public.people", "email", "fake"), pa.array(["jane.doe@corp.example"]))
    found.freeze(pa.array([], pa.string()))
    values = ["x jane.doe@corp.example", None, "clean", "x jane.doe@corp.example", "clean"]
    rows, patterns, whole = matches(found, pa.array(values, pa.string()))
    assert (sorted(rows.tolist()), patterns.tolist(), whole.tolist()) == (
        [0, 3],
        [0, 0],
        [False, False],
    )


@pytest.mark.parametrize("last", [0x7F, 0x3000])
def test_word_characters_are_those_python_calls_alphanumeric(last: int) -> None:
    # ASCII alone (the arithmetic path), then with letters, digits and spaces of other scripts
    text = "".join(chr(c) for c in range(1, last)) + (
        "" if last < 0x80 else "\U0001d518\U0001f600\U0010ffff"
    )
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    expected = np.repeat([c.isalnum() for c in text], [len(c.encode()) for c in text])
    assert textsearch._alnum_bytes(data).tolist() == expected.tolist()


def test_hashes_sorted_by_bucket_come_in_argsort_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashtable, "_BUCKETED", 1000)
    rng = np.random.default_rng(7)
    hashes = rng.integers(0, 2**64, size=50_000, dtype=np.uint64)
    hashes[:5000] = hashes[20_000:25_000]  # equal hashes: entries repeated across batches
    hashes[:10] = [0, 2**64 - 1, 1, 0, 2**63, 2**63, 5, 2**64 - 1, 7, 7]  # the edges
    order = hashtable.hash_order(hashes)
    assert sorted(order.tolist()) == list(range(len(hashes)))
    assert hashes[order].tolist() == np.sort(hashes).tolist()


def searchsorted_pairs(table: np.ndarray, hashes: np.ndarray) -> list[tuple[int, int]]:
    """(query, slot) of every equal pair, from the runs np.searchsorted finds."""
    first = np.searchsorted(table, hashes, side="left")
    last = np.searchsorted(table, hashes, side="right")
    return [(q, s) for q in range(len(hashes)) for s in range(first[q], last[q])]


def table_pairs(table: np.ndarray, hashes: np.ndarray) -> list[tuple[int, int]]:
    owner, slot = hashtable.HashTable(table).find(hashes)
    return list(zip(owner.tolist(), slot.tolist(), strict=True))


# hashes whose top bits are all 0 or all 1 (the first and last bucket), and their neighbours
EDGES = [0, 1, 2**40, 2**63 - 1, 2**63, 2**64 - 2**40, 2**64 - 2, 2**64 - 1]


@pytest.mark.parametrize(
    ("size", "directory_bits"),
    [(1, 24), (2, 24), (3, 24), (1000, 24), (50_000, 24), (3, 3), (1000, 3), (50_000, 12)],
)
def test_hash_table_finds_the_runs_a_binary_search_finds(
    monkeypatch: pytest.MonkeyPatch, size: int, directory_bits: int
) -> None:
    # a small directory makes buckets of many hashes (125 at 3 bits, 12 at 12)
    monkeypatch.setattr(hashtable, "_DIRECTORY_BITS", directory_bits)
    rng = np.random.default_rng(size)
    table = rng.integers(0, 2**64, size=size, dtype=np.uint64)
    table[: size // 3] = table[size // 3 : 2 * (size // 3)]  # runs of equal hashes
    table[: min(size, len(EDGES))] = EDGES[: min(size, len(EDGES))]
    table[size // 2 : size // 2 + 3] = 2**64 - 1  # a run in the last bucket
    table.sort()
    # present hashes (runs among them), absent ones, and every edge, in any order
    hashes = np.concatenate(
        [
            rng.choice(table, size=2 * size),
            rng.integers(0, 2**64, size=size, dtype=np.uint64),
            np.array(EDGES, dtype=np.uint64),
        ]
    )
    rng.shuffle(hashes)
    assert table_pairs(table, hashes) == searchsorted_pairs(table, hashes)


def test_hash_table_of_one_hash_finds_only_it() -> None:
    for hash_ in EDGES:
        table = np.array([hash_], dtype=np.uint64)
        hashes = np.array(EDGES, dtype=np.uint64)
        assert table_pairs(table, hashes) == [(EDGES.index(hash_), 0)]


def test_empty_hash_table_finds_nothing() -> None:
    table = np.zeros(0, dtype=np.uint64)
    assert table_pairs(table, np.array(EDGES, dtype=np.uint64)) == []
    assert table_pairs(np.array([5], dtype=np.uint64), table) == []


@pytest.mark.parametrize("count", [0, 1, 5_000_000])
def test_bitmap_sized_to_its_hashes_passes_every_one_of_them(count: int) -> None:
    hashes = np.random.default_rng(count).integers(0, 2**64, size=count, dtype=np.uint64)
    hashes[: min(count, len(EDGES))] = EDGES[: min(count, len(EDGES))]
    bitmap = hashtable.bitmap_of(hashes)
    assert len(bitmap) * 8 >= 16 * count  # 16 bits a hash or more: few strangers pass
    assert hashtable.in_bitmap(bitmap, hashes).all()


def test_a_key_given_twice_is_found_as_both() -> None:
    keys = [
        "jane.doe@corp.example",
        "olivia",
        "jane.doe@corp.example",
        "a longer key than the anchor",
    ]
    texts = ["mail jane.doe@corp.example", "olivia", "a longer key than the anchor", "x"]
    assert indexed_search(keys, texts) == plain_search(keys, texts)
    assert (0, 2, False) in plain_search(keys, texts)
