"""Known values (anonymiser.maskers._known): which pseudonym a value gets, and the vectorised
search finding exactly the runs of words the per-word reference finds."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from anonymiser.maskers._known import KnownValues
from anonymiser.maskers._knownpairs import KnownPairs, normal_form
from tests.unit.maskers.test_presidio_batch import every_known_span

# keys with signs inside words, underscores and digits, several words, overlapping runs
VALUES = [
    "Jane", "Smith", "Jane Smith", "Smith Jones", "jane smith jones", "Mary Ann O'Neil Jr",
    "o'neil", "smith-jones", "j.smith_2@corp.co.uk", "07700 900123", "07700", "a+b@x.io",
    "ann-marie", "marie", "x_1", "Li", "LI WEI", "de la cruz", "a.b", "z",
]  # fmt: skip
FILLER = ["on", "to", "re", "about", "janet", "smiths", "jones", "07700900123", "x", "_", "-"]
# every ASCII separator: spaces of every kind str.split() knows, signs inside words
# (@ . + ' -) and outside them
SEPARATORS = [" ", " ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f", " \x1e ", "",
              ".", "-", "'", "@", "+", ",", ";", "(", ")", "/", ":", "\x00", "..", "-'",
]  # fmt: skip


def random_ascii_texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = ["", " ", "\t\n", "Jane", "jane smith", "JANE\tSMITH JONES"]
    for _ in range(count):
        words = rng.choices(VALUES + FILLER, k=rng.randint(0, 9))
        cased = [w.upper() if rng.random() < 0.2 else w for w in words]
        text = "".join(w + rng.choice(SEPARATORS) for w in cased)
        texts.append(rng.choice(SEPARATORS) + text if rng.random() < 0.3 else text)
    return texts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ascii_texts_are_searched_as_every_run_of_words_would_be(seed: int) -> None:
    known = {"PERSON": {value: f"P{i}" for i, value in enumerate(VALUES)}}
    index = KnownValues(KnownPairs.from_mapping(known))
    lookup = {normal_form(value): f"P{i}" for i, value in enumerate(VALUES)}
    texts = random_ascii_texts(4000, seed)
    found = index.spans_many(texts)
    assert found == [every_known_span(lookup, text) for text in texts]
    # the corpus reaches what it is for: many hits, runs of several words, texts with none
    assert sum(map(len, found)) > 6000
    runs = [text[s:e] for text, spans in zip(texts, found, strict=True) for s, e, _, _ in spans]
    assert sum(" " in normal_form(run) for run in runs) > 500
    assert sum(not spans for spans in found) > 100


def test_ascii_texts_split_into_many_chunks_are_searched_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from anonymiser.maskers import _known

    known = {"PERSON": {value: f"P{i}" for i, value in enumerate(VALUES)}}
    index = KnownValues(KnownPairs.from_mapping(known))
    texts = random_ascii_texts(500, seed=9)
    whole = index.spans_many(texts)
    monkeypatch.setattr(_known, "_CHUNK_BYTES", 7)  # about a text per chunk
    assert index.spans_many(texts) == whole


def test_leads_found_a_few_keys_at_a_time_give_the_same_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from anonymiser.maskers import _known

    # keys whose leads end at a sign, a space or not at all, and some that are not ASCII
    values = [*VALUES, "Zoë Brontë", "ßtraße 1", "İlker", "ﬁona"]
    known = {"PERSON": {value: f"P{i}" for i, value in enumerate(values)}}
    texts = [*random_ascii_texts(500, seed=11), "ZOË BRONTË, ssTRASSE 1; i̇lker fiona"]
    whole = KnownValues(KnownPairs.from_mapping(known))
    monkeypatch.setattr(_known, "_LEAD_KEYS", 3)
    parts = KnownValues(KnownPairs.from_mapping(known))
    assert np.array_equal(parts._leads_table.hashes, whole._leads_table.hashes)
    assert parts._leadless == whole._leadless
    assert parts.spans_many(texts) == whole.spans_many(texts)
    assert any(spans for spans in whole.spans_many(texts[-1:]))


def test_a_kind_keeps_its_first_pseudonym_and_a_normal_form_its_last() -> None:
    pairs = KnownPairs()
    text = pa.string()
    pairs.add("PERSON", pa.array(["Jane", "Jo", ""], text), pa.array(["Ann", "Bo", "X"], text))
    pairs.add("EMAIL_ADDRESS", pa.array(["j@x.io"], text), pa.array(["a@y.io"], text))
    # the same kind again: its first pseudonym of "Jane" stands, "JANE" is another original
    pairs.add("PERSON", pa.array(["Jane", "JANE", "Kim"], text), pa.array(["Eve", "Liz", ""], text))
    # another kind: added later, its "jo" is the last of that normal form
    pairs.add("LOCATION", pa.array(["jo", None], text), pa.array(["Rome", "Oslo"], text))
    index = KnownValues(pairs)
    # PERSON first (Jane, Jo, JANE), then EMAIL_ADDRESS, then LOCATION: "JANE" came after
    # "Jane" within PERSON, and LOCATION's "jo" after PERSON's "Jo"; empty ones are none
    assert index.as_dict() == {"jane": "Liz", "jo": "Rome", "j@x.io": "a@y.io"}
    reference: dict[str, str] = {}
    for kind_pairs in (
        {"Jane": "Ann", "Jo": "Bo", "JANE": "Liz"},
        {"j@x.io": "a@y.io"},
        {"jo": "Rome"},
    ):
        reference.update({normal_form(k): v for k, v in kind_pairs.items()})
    assert index.as_dict() == reference


def random_pairs(seed: int) -> KnownPairs:
    """Pairs of three kinds over a few columns each, with the same originals again in other
    case and spacing, in the same kind and in others, empty and NULL ones among them."""
    rng = random.Random(seed)
    names = [*VALUES, "Zoë", "ZOË", "Jane  Smith", " jane smith ", "", None]
    pairs = KnownPairs()
    for column in range(9):
        kind = ("PERSON", "EMAIL_ADDRESS", "LOCATION")[column % 3]
        originals = [rng.choice(names) for _ in range(rng.randint(0, 40))]
        pseudonyms = [rng.choice(["", f"{kind}-{column}-{i}"]) for i in range(len(originals))]
        pairs.add(kind, pa.array(originals, pa.string()), pa.array(pseudonyms, pa.string()))
    return pairs


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_pairs_resolved_in_groups_of_their_hash_resolve_alike(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    from anonymiser.maskers import _knownpairs

    whole = dict(zip(*(a.to_pylist() for a in random_pairs(seed).resolved()), strict=True))
    monkeypatch.setattr(_knownpairs, "_RESOLVED_AT_ONCE", 5)  # a dozen groups and more
    pairs = random_pairs(seed)
    grouped = pairs.resolved()
    assert dict(zip(*(a.to_pylist() for a in grouped), strict=True)) == whole
    assert len(grouped[0]) == len(whole) > 10
    # the groups come in the index's order: it takes the pairs as they are, no copy
    index = KnownValues(pairs)
    assert index.keys is grouped[0] and index.pseudonyms is grouped[1]
    assert index.as_dict() == whole


def test_no_known_values_find_nothing() -> None:
    index = KnownValues(KnownPairs())
    assert index.spans_many(["Jane Smith", ""]) == [[], []]
    assert len(index) == 0
