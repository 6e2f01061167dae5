"""The byte-level shapes of leak-check originals agree with the regular expressions they replace."""

from __future__ import annotations

import random
import re

import numpy as np
import pyarrow as pa

from anonymiser.verify.shapes import compound, json_escaped, numbers

ALPHABET = list('aZ09+-. "\\\n\x7fé\u212aß_')  # letters, digits, signs, JSON escapes, non-ASCII


def random_texts(seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = ["", "1234567", "+123456789", "-1234567890", "+", "-", "olivia", "zoë", "a_b"]
    for _ in range(300):
        length = rng.randint(0, 12)
        pool = rng.choice([ALPHABET, list("0123456789+-"), list("abcXYZé")])
        texts.append("".join(rng.choices(pool, k=length)))
    return texts


def test_shapes_agree_with_the_regular_expressions_on_random_text() -> None:
    for seed in range(5):
        texts = random_texts(seed)
        values = pa.array(texts, pa.string()).slice(1)  # offsets not from 0
        texts = texts[1:]
        odd = [bool(re.search(r'[^\x20-\x7e]|["\\]', t)) for t in texts]
        word = [not re.fullmatch(r"[^\W\d_]+", t) for t in texts]
        short = [bool(re.fullmatch(r"[-+]?[0-9]{1,9}", t)) for t in texts]
        integer = [bool(re.fullmatch(r"-?[0-9]+", t)) for t in texts]
        assert json_escaped(values).tolist() == odd
        assert compound(values).tolist() == word
        found_short, found_integer = numbers(values, 10)
        assert (found_short.tolist(), found_integer.tolist()) == (short, integer)


def test_null_counts_as_empty_text() -> None:
    values = pa.array([None, "12345678901"], pa.string())
    assert json_escaped(values).tolist() == [False, False]
    assert compound(values).tolist() == [True, True]
    assert [part.tolist() for part in numbers(values, 10)] == [[False, False], [False, True]]
    assert isinstance(compound(pa.array([], pa.string())), np.ndarray)
