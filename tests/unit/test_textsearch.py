"""The vectorised whole-word search agrees with a plain Python search, edge cases included."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from anonymiser import textsearch
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
    monkeypatch.setattr(textsearch, "CHUNK_BYTES", chunk)
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
    monkeypatch.setattr(textsearch, "_BUCKETED", 1000)
    rng = np.random.default_rng(7)
    hashes = rng.integers(0, 2**64, size=50_000, dtype=np.uint64)
    hashes[:5000] = hashes[20_000:25_000]  # equal hashes: entries repeated across batches
    hashes[:10] = [0, 2**64 - 1, 1, 0, 2**63, 2**63, 5, 2**64 - 1, 7, 7]  # the edges
    order = textsearch.hash_order(hashes)
    assert sorted(order.tolist()) == list(range(len(hashes)))
    assert hashes[order].tolist() == np.sort(hashes).tolist()
