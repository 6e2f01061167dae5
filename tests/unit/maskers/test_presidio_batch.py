"""Presidio's batch path (Scanner.scan_many, KnownValues.spans_many, phone_spans_once) finds
exactly what the per-text reference path finds, on a random corpus of tricky texts."""

from __future__ import annotations

import random

import numpy as np
import pytest
import regex

from anonymiser.maskers import _phone
from anonymiser.maskers._phone import phone_spans, phone_spans_once
from anonymiser.maskers._scan import Scanner, scanner
from anonymiser.maskers._windows import SEPARATOR, window_for, windowed_spans
from anonymiser.maskers.presidio import _WORD, DEFAULT_ENTITIES, KnownValues
from tests.unit.maskers.conftest import ctx, run

PII = [
    # phones in many formats, times and dates that look like them
    "07700 900123", "07700900123", "+44 7700 900123", "+44 (0)20 7946 0958", "(212) 555-0100",
    "020 7946 0958 ext. 123", "+1-425-882-8080", "0049 30 1234567", "212.555.0100",
    "1-800-555-0199", "at 10:30", "12/05/2023", "2023-05-12 10", "1234-5678 (12",
    "+33 1 23 45 67 89", "972-3-1234567", "+91 98765 43210", "(11) 91234-5678",
    "020 7946 0958/0959", "555-0100 x 12", "07700 900123 / 07700 900456", "tel:+442079460958",
    "\uff10\uff17\uff17\uff10\uff10 \uff19\uff10\uff10\uff11\uff12\uff13", "٠٧٧٠٠٩٠٠١٢٣",
    # emails next to URLs and other hosts
    "jane@corp.co.uk", "x.y+z@mail.example.co.uk", "a@b.com", "test@www.gov.uk", "me@localhost",
    "http://x.y.com/path?q=1", "https://www.gov.uk/guidance", "www.gov.uk/guidance",
    "example.com", "'https://a.b.org'", '"www.x.io/a"', "mail.example.com.", "a.sm", "x.co/",
    "www٣.example.com", "\u017fite.com", "KELVIN.com", "sub-domain.example.org.uk/x",
    # NI numbers, postcodes, IBANs, cards, NHS numbers, IP addresses
    "AB123456C", "QQ123456C", "ab 12 34 56 c", "SW1A 1AA", "M1 1AE", "EC1A 1BB", "GIR 0AA",
    "gir0aa", "W1A\u00a00AX", "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000",
    "4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "1234567890123",
    "943 476 5919", "9434765919", "192.168.0.1", "10.0.0.1/24", "fe80::1ff:fe23:4567:890a",
    "::1", "::ffff:10.0.0.1", "2001:db8::/32", "::", "64:ff9b::192.0.2.33",
    "2001:db8:122:344::192.0.2.33", "FE80::0202:B3FF:FE1E:8329", "1.2.3.4.5",
]  # fmt: skip
WORDS = [
    "Spoke", "to", "Jane", "Smith", "JANE  smith", "on", "about", "deferral;", "confirm",
    "zoë", "İstanbul", "\u212a", "\u017f", "😀", "e\u0301", "NI", "phone", "number", "call",
    "iban", "card", "nhs", "ip", "url", "postcode", "Jane Smith's", "smith-jones", "x",
]  # fmt: skip
JOINERS = ["", " ", " ", ", ", "\n", "\t", "  ", "/", "(", ")", "-", ".", ":", "@", "'", "\x00"]
KNOWN = {
    "PERSON": {"Jane Smith": "Alice Jones", "Smith": "Jones", "zoë": "Ann", "İstanbul": "Town"},
    "EMAIL_ADDRESS": {"jane@corp.co.uk": "alice.j@example.com"},
    "PHONE_NUMBER": {"07700 900123": "01632 960001"},
}


def tricky_texts(count: int, seed: int) -> list[str]:
    """Random texts of PII, words and joiners: matches at the start and end, next to each
    other and to unicode, empty and blank texts, NUL inside texts."""
    rng = random.Random(seed)
    texts = ["", " ", "\n\t", "\x00", PII[0], "Jane Smith"]
    for _ in range(count):
        pieces = [
            rng.choice(PII if rng.random() < 0.5 else WORDS) for _ in range(rng.randint(1, 8))
        ]
        texts.append("".join(p + rng.choice(JOINERS) for p in pieces).rstrip(rng.choice(["", " "])))
    return texts


def test_every_pattern_matches_the_same_from_its_windows() -> None:
    scan = scanner(None, DEFAULT_ENTITIES, 0.35)
    texts = tricky_texts(3000, seed=5)
    joined = SEPARATOR.join(texts)
    starts = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]])
    checked = 0
    for recognizer in scan.direct:
        patterns = [p for p in getattr(recognizer, "patterns", []) or []]
        for pattern in patterns:
            window = window_for(pattern.regex)
            assert window is not None, f"{pattern.name}: no window (a new Presidio regex?)"
            compiled = regex.compile(pattern.regex, flags=recognizer.global_regex_flags)
            found = window.find(joined, starts)
            for i, text in enumerate(texts):
                expected = [m.span() for m in compiled.finditer(text)]
                assert list(windowed_spans(compiled, window, text, found.get(i, []), 60)) == (
                    expected
                ), (pattern.name, text)
                checked += bool(expected)
    assert checked > 3000


@pytest.mark.parametrize("threshold", [0.05, 0.35, 0.6])
def test_scan_many_finds_what_scan_finds_text_by_text(threshold: float) -> None:
    scan = Scanner(None, DEFAULT_ENTITIES, threshold)
    texts = tricky_texts(3000, seed=int(threshold * 100))
    assert scan.scan_many(texts) == [scan.scan(text) for text in texts]
    assert any(scan.scan(text) for text in texts)


def test_phones_are_decided_once_for_all_regions_with_the_same_spans() -> None:
    phone = next(
        r for r in scanner(None, DEFAULT_ENTITIES, 0.35).direct if r.name == "PhoneRecognizer"
    )
    regions, leniency = tuple(phone.supported_regions), phone.leniency
    texts = [*tricky_texts(3000, seed=7), " ".join(PII) * 20]  # longer than the memo's limit
    assert [phone_spans_once(t, regions, leniency) for t in texts] == [
        phone_spans(t, regions, leniency) for t in texts
    ]
    assert sum(bool(phone_spans(t, regions, leniency)) for t in texts) > 500
    # candidates accepted whole, rejected, and found inside (their texts matched per region)
    assert {True, False, None} <= set(_phone._every_region.values())


def every_known_span(lookup: dict[str, str], text: str) -> list[tuple[int, int, None, str]]:
    """The reference: from each word on, the longest run of up to four words whose normal
    form is a known value, every run tried."""
    words = [m.span() for m in _WORD.finditer(text)]
    spans: list[tuple[int, int, None, str]] = []
    i = 0
    while i < len(words):
        for n in range(min(4, len(words) - i), 0, -1):
            start, end = words[i][0], words[i + n - 1][1]
            candidate = " ".join(text[start:end].casefold().split())
            if candidate in lookup:
                spans.append((start, end, None, candidate))
                i += n
                break
        else:
            i += 1
    return spans


# folding that changes a word's length or its lead: the German sharp s, a dotted capital I,
# the Kelvin sign and the long s, ligatures
FOLDING = ["Straße", "STRASSE", "İzmir", "\u212aate", "\u017fam", "\ufb01ona", "ﬀ", "Ǆemal"]


@pytest.mark.parametrize("seed", [11, 12])
def test_known_values_are_found_where_every_run_of_words_would_find_them(seed: int) -> None:
    rng = random.Random(seed)
    known = {kind: dict(values) for kind, values in KNOWN.items()}
    known["PERSON"].update({word: f"P{i}" for i, word in enumerate(FOLDING)})
    known["PERSON"].update({"strasse smith": "Q", "ǆemal x": "R", "kate.smith@x.org": "S"})
    index = KnownValues(known)
    texts = tricky_texts(3000, seed=seed)
    texts += [
        "".join(rng.choice(FOLDING + WORDS + ["Smith", " ", "  ", "."]) for _ in range(6))
        for _ in range(3000)
    ]
    assert index.spans_many(texts) == [every_known_span(index.lookup, text) for text in texts]
    assert sum(bool(index.spans(text)) for text in texts) > 800
    assert sum(any(ord(c) > 127 for c in t) and bool(index.spans(t)) for t in texts) > 300


def test_presidio_masks_as_it_did_text_by_text(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = tricky_texts(1500, seed=3)
    batch = run("presidio", {}, texts, context=ctx(known=KNOWN))
    monkeypatch.setattr(Scanner, "scan_many", lambda self, ts: [self.scan(t) for t in ts])
    monkeypatch.setattr(KnownValues, "spans_many", lambda self, ts: [self.spans(t) for t in ts])
    assert run("presidio", {}, texts, context=ctx(known=KNOWN)) == batch
