"""The leak check's whole-word search (WordIndex) alone: build and search CPU by key count.

Run from the repository root: `python benchmarks/word_index.py [--keys 1M 10M] [--texts N]`
(PYTHONPATH=OTHER_CHECKOUT to time another checkout's code on the same data). The keys are
shaped like a big snapshot's originals (email addresses, full names, phone numbers,
addresses: half of them longer than the anchor), indexed by their hashes as the leak check
does (`WordIndex.from_hashes`); the corpus is fixed whatever the key count: notes naming a
person, a phone and an email each, a third of them keys at 1M. Prints, per key count, the
index's build CPU, the CPU of `nominate` over the corpus (the least of --rounds) and a
digest of what it nominated (the same digest: the same spans found).
"""

from __future__ import annotations

import argparse
import hashlib
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.textsearch import WordIndex, key_hashes, key_shape

try:  # the bitmaps moved to anonymiser.hashtable when textsearch was split
    from anonymiser.hashtable import empty_bits, set_bits
except ImportError:  # older checkouts
    from anonymiser.textsearch import empty_bits, set_bits

try:  # the bitmap of first words is sized to the keys since the hash directory
    from anonymiser.textsearch import token_bits
except ImportError:  # older checkouts: a fixed-size bitmap

    def token_bits(hashes: np.ndarray) -> np.ndarray:
        return set_bits(empty_bits(), hashes)


def _numbers(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def keys(count: int) -> pa.Array:
    """`count` distinct originals, lower case: 40 % emails, 20 % each names, phones, addresses."""
    i = np.arange(count)
    a = _numbers(i % 3000)
    n = _numbers(i)
    parts = [
        _join("first", a, ".last", n, "@mail.example.com"),
        _join("first", a, " last", n),
        _join("07700 ", _numbers(10_000_000 + i)),
        _join(n, " high street, town", a),
    ]
    shares = [count * 2 // 5, count // 5, count // 5]
    shares.append(count - sum(shares))
    return pa.concat_arrays(
        [part.slice(0, share) for part, share in zip(parts, shares, strict=True)]
    )


def corpus(texts: int, seed: int = 7) -> pa.Array:
    """Notes of about 130 bytes naming someone among 10M people (a fixed corpus)."""
    rng = np.random.default_rng(seed)
    who = rng.integers(0, 10_000_000, size=texts)
    a = _numbers(who % 3000)
    n = _numbers(who)
    return _join(
        "spoke to first",
        a,
        " last",
        n,
        " on 07700 ",
        _numbers(10_000_000 + who),
        " about deferral; confirm by email to first",
        a,
        ".last",
        n,
        "@mail.example.com or at ",
        n,
        " high street, town",
        a,
        ".",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", nargs="+", default=["1M", "10M"], help="key counts")
    parser.add_argument("--texts", type=int, default=300_000, help="texts searched")
    parser.add_argument("--rounds", type=int, default=3, help="searches (least CPU printed)")
    args = parser.parse_args()
    values = corpus(args.texts)
    print(f"corpus: {len(values):,} texts, {values.nbytes / 2**20:.0f} MiB")
    for label in args.keys:
        count = int(float(label.rstrip("Mk")) * (1_000_000 if label.endswith("M") else 1000))
        originals = keys(count)
        full, anchor, lengths, token = key_hashes(originals)
        anchors, short, longest = key_shape(anchor, lengths)
        started = time.process_time()
        index = WordIndex.from_hashes(full, anchors, short, longest, token_bits(token))
        built = time.process_time() - started
        best = float("inf")
        for _ in range(args.rounds):
            started = time.process_time()
            rows, found, whole, spans = index.nominate(values)
            best = min(best, time.process_time() - started)
        same = pc.equal(spans, originals.take(pa.array(found)))
        confirmed = int(pc.sum(same).as_py() or 0)
        digest = hashlib.sha256()
        for part in (rows, found, whole):
            digest.update(np.ascontiguousarray(part).tobytes())
        print(
            f"{count:>11,} keys: build {built:5.2f} s CPU, nominate {best:5.2f} s CPU, "
            f"{len(rows):,} spans ({confirmed:,} confirmed), digest {digest.hexdigest()[:12]}"
        )


if __name__ == "__main__":
    main()
