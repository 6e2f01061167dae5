"""Presidio's batch path (Scanner.scan_many, KnownValues.spans_many, phone_spans_once) finds
exactly what the per-text reference path finds, on a random corpus of tricky texts."""

from __future__ import annotations

import random
import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import numpy as np
import pytest
import regex

from anonymiser.maskers import _phone
from anonymiser.maskers._known import _WORD, KnownValues
from anonymiser.maskers._knownpairs import KnownPairs
from anonymiser.maskers._phone import next_candidate, phone_spans, phone_spans_once
from anonymiser.maskers._scan import Scanner, _best_first, _outermost, scanner
from anonymiser.maskers._windows import (
    SEPARATOR,
    find_windows,
    window_for,
    windowed_spans,
    windows_per_text,
)
from anonymiser.maskers.presidio import DEFAULT_ENTITIES
from tests.unit.maskers.conftest import ctx, run

PII = [
    # phones in many formats, times and dates that look like them
    "07700 900123", "07700900123", "+44 7700 900123", "+44 (0)20 7946 0958", "(212) 555-0100",
    "020 7946 0958 ext. 123", "+1-425-882-8080", "0049 30 1234567", "212.555.0100",
    "1-800-555-0199", "at 10:30", "12/05/2023", "2023-05-12 10", "1234-5678 (12",
    "+33 1 23 45 67 89", "972-3-1234567", "+91 98765 43210", "(11) 91234-5678",
    "020 7946 0958/0959", "555-0100 x 12", "07700 900123 / 07700 900456", "tel:+442079460958",
    # numbers in and beside words, signs and brackets (decided without a matcher when a
    # Latin letter, "%" or a currency sign touches a run of digits)
    "QQ123456C", "jane.smith123@mail.example.com", "x07700900123", "07700900123y", "£2125550100",
    "2125550100%", "€07700 900123", "ab+442079460958", "(07700)900123", "\u00c407700900123",
    "\u03b102079460958", "02079460958\u0301", "12345678901234567890123", "a12/05/2023",
    "2023-05-12 10:30", "b2023-05-12 10", "[020]79460958", "0207946095\uff18",
    "\uff10\uff17\uff17\uff10\uff10 \uff19\uff10\uff10\uff11\uff12\uff13", "٠٧٧٠٠٩٠٠١٢٣",
    # emails next to URLs and other hosts
    "jane@corp.co.uk", "x.y+z@mail.example.co.uk", "a@b.com", "test@www.gov.uk", "me@localhost",
    "http://x.y.com/path?q=1", "https://www.gov.uk/guidance", "www.gov.uk/guidance",
    "example.com", "'https://a.b.org'", '"www.x.io/a"', "mail.example.com.", "a.sm", "x.co/",
    "www٣.example.com", "\u017fite.com", "KELVIN.com", "sub-domain.example.org.uk/x",
    "jane@@corp.com", "(j.s12@corp.com)", "j@corp.com@other.org", "ab_c-d9@x-y.co.uk/p",
    "j1@c.co,j2@c.co", "1@2.com", "jane\u00e9@corp.com", "jane@corp.com\u00e9", "@corp.com",
    "x.@y.com", "{j}@c.io", "j@c--d.com", "j@c.", "j@_.com", "\u0663@c.com", "j\u0301@c.com",
    "1@2.com@3.com", "j@c.com.x@d.com",
    "j@c.com!a@b.com", "!a@b.com", "j@c.com+a@b.com", "+a@b.com",
    # NI numbers, postcodes, IBANs, cards, NHS numbers, IP addresses
    "AB123456C", "QQ123456C", "ab 12 34 56 c", "AB 123456C", "A B123456C", "XAB123456C",
    "9AB12 34 56C", "\u017fb123456c", "AB1 23456C", "GB82WEST12345698765432", "gb82 west 1234",
    "G B82WEST12345698", "XGB82WEST12345698765432", "1GB82-WEST-1234-5698",
    "SW1A 1AA", "M1 1AE", "EC1A 1BB", "GIR 0AA",
    "gir0aa", "W1A\u00a00AX", "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000",
    "4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "1234567890123",
    "943 476 5919", "9434765919", "192.168.0.1", "10.0.0.1/24", "fe80::1ff:fe23:4567:890a",
    "::1", "::ffff:10.0.0.1", "2001:db8::/32", "::", "64:ff9b::192.0.2.33",
    "2001:db8:122:344::192.0.2.33", "FE80::0202:B3FF:FE1E:8329", "1.2.3.4.5",
    # matches of the IP regexes that are no address (leading zeros)
    "01.02.03.04", "10.01.02.03",
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


def _matches_from_windows(texts: list[str], only: str | None = None) -> int:
    """Assert each windowed pattern (of the recognizer named `only`) finds the same from its
    windows as finditer() in each text; the number of texts and patterns with a match."""
    joined = SEPARATOR.join(texts)
    starts = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]])
    matched = 0
    for recognizer in scanner(None, DEFAULT_ENTITIES, 0.35).direct:
        if only is not None and recognizer.name != only:
            continue
        for pattern in getattr(recognizer, "patterns", []) or []:
            window = window_for(pattern.regex)
            assert window is not None, f"{pattern.name}: no window (a new Presidio regex?)"
            compiled = regex.compile(pattern.regex, flags=recognizer.global_regex_flags)
            found = window.find(joined, starts)
            for i, text in enumerate(texts):
                expected = [m.span() for m in compiled.finditer(text)]
                assert list(windowed_spans(compiled, window, text, found.get(i, []), 60)) == (
                    expected
                ), (pattern.name, text)
                matched += bool(expected)
    return matched


def test_every_pattern_matches_the_same_from_its_windows() -> None:
    assert _matches_from_windows(tricky_texts(3000, seed=5)) > 3000


# letters in both cases, and those that fold to an ASCII letter (Kelvin sign, long s, dotted
# capital I, dotless i)
LETTERS = [
    *map(chr, range(65, 91)),
    *map(chr, range(97, 123)),
    "\u212a",
    "\u017f",
    "\u0130",
    "\u0131",
]


def test_ni_windows_admit_every_letter_the_pattern_takes() -> None:
    texts = [
        f"x {a}{b}{gap}12{gap}34{gap}56{gap}{c}."
        for a in LETTERS
        for b in LETTERS
        for gap, c in ((" ", LETTERS[(ord(a) + ord(b)) % len(LETTERS)]), ("", "c"), ("", "D"))
    ]
    assert _matches_from_windows(texts, only="UkNinoRecognizer") > 1000


def _digit_classes(items: Any) -> list[set[bool]]:
    """For each literal and class of a parsed regex, whether each ASCII digit matches it."""
    out: list[set[bool]] = []
    categories = {
        sre.CATEGORY_DIGIT: True, sre.CATEGORY_NOT_DIGIT: False, sre.CATEGORY_SPACE: False,
        sre.CATEGORY_NOT_SPACE: True, sre.CATEGORY_WORD: True, sre.CATEGORY_NOT_WORD: False,
    }  # fmt: skip
    for op, av in items:
        if op is sre.AT:
            continue  # \b and the anchors: every digit is a word character
        if op is sre.LITERAL:
            out.append({chr(av) == d for d in "0123456789"})
        elif op is sre.IN:
            negate = any(o is sre.NEGATE for o, _ in av)
            hits = []
            for d in "0123456789":
                hit = any(
                    (o is sre.LITERAL and chr(a) == d)
                    or (o is sre.RANGE and a[0] <= ord(d) <= a[1])
                    or (o is sre.CATEGORY and categories[a])
                    for o, a in av
                )
                hits.append(hit != negate)
            out.append(set(hits))
        elif op is sre.SUBPATTERN:
            out += _digit_classes(av[-1])
        elif op is sre.MAX_REPEAT or op is sre.MIN_REPEAT:
            out += _digit_classes(av[2])
        elif op is sre.BRANCH:
            for branch in av[1]:
                out += _digit_classes(branch)
        else:
            raise AssertionError(f"an element the test does not read: {op}")
    return out


def test_email_matches_hold_no_white_space() -> None:
    email = next(r for r in scanner(None, DEFAULT_ENTITIES, 0.35).direct if "Email" in r.name)
    (pattern,) = email.patterns
    window = window_for(pattern.regex)
    assert window is not None and window.no_space
    # the regex consumes its classes (\w among them), "-", "." and "@" only ...
    classes = re.findall(r"\[([^\]]*)\]", pattern.regex)
    rest = re.sub(r"\[[^\]]*\]|\\[wb.]|\(\?:|[-()|*+]|\{0,\}", "", pattern.regex)
    assert rest == ""
    consumed = regex.compile(f"[{''.join(classes)}\\w.@-]", flags=email.global_regex_flags)
    # ... none of which is white space to the run search (stdlib re), in all of Unicode
    every_char = "".join(map(chr, range(0x110000)))
    spaces = re.findall(r"\s", every_char)
    assert len(spaces) > 20
    assert not [c for c in spaces if consumed.match(c)]


def test_patterns_whose_runs_are_remembered_digits_as_zero_tell_no_digit_from_another() -> None:
    scan = scanner(None, DEFAULT_ENTITIES, 0.35)
    patterns = {
        p.regex
        for r in scan.direct
        for p in getattr(r, "patterns", []) or []
        if window_for(p.regex)
    }
    alike = [p for p in patterns if (w := window_for(p)) is not None and w.digits_alike]
    assert alike
    for pattern in alike:
        # (?i): no letter folds to a digit; every ASCII digit matches each element alike
        assert all(len(seen) == 1 for seen in _digit_classes(sre_parse.parse(pattern))), pattern
    # and so a run and the run with its digits zeroed match the same (memory cleared)
    rng = random.Random(13)
    url = next(r for r in scan.direct if r.name == "UrlRecognizer")
    for pattern in url.patterns:
        window = window_for(pattern.regex)
        if window is None or not window.digits_alike:
            continue
        compiled = regex.compile(pattern.regex, flags=url.global_regex_flags)
        for _ in range(3000):
            run = "".join(rng.choice("ab.-0123456789wcomukg") for _ in range(rng.randint(1, 30)))
            window.runs.clear()
            assert window.run_spans(compiled, run, 60) == [
                m.span() for m in compiled.finditer(run)
            ], run


def test_windows_found_backwards_or_after_a_character_are_those_found_forwards() -> None:
    windows = [
        w
        for r in scanner(None, DEFAULT_ENTITIES, 0.35).direct
        for p in getattr(r, "patterns", []) or []
        if (w := window_for(p.regex)) is not None and (w.reverse or w.after) is not None
    ]
    assert {w.reverse is None for w in windows} == {True, False}  # each way
    rng = random.Random(17)
    pieces = ["@", "@@", "a", "b.c", " ", "\x1c", "\x85", "\u2028", "\u00a0", "\x00", "(", "\u00e9",
              ".", "-", "7", "/", "\u0663", "_"]  # fmt: skip
    texts = tricky_texts(3000, seed=19) + [
        "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(3000)
    ]
    for batch in (texts, ["j.s@x.org", *texts]):  # a window where the batch starts, too
        joined = SEPARATOR.join(batch)
        starts = np.cumsum([0] + [len(t) + 1 for t in batch[:-1]])
        for window in windows:
            assert window.find(joined, starts) == windows_per_text(window.regex, joined, starts)
            assert sum(map(len, window.find(joined, starts).values())) > 1000


def test_windows_starting_at_a_digit_are_found_in_the_texts_holding_one_of_any() -> None:
    windows = [
        w
        for r in scanner(None, DEFAULT_ENTITIES, 0.35).direct
        for p in getattr(r, "patterns", []) or []
        if (w := window_for(p.regex)) is not None
    ]
    texts = tricky_texts(3000, seed=37)
    joined = SEPARATOR.join(texts)
    starts = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]])
    found = find_windows(windows, texts, joined, starts)
    assert found == {w.regex.pattern: w.find(joined, starts) for w in windows}
    led = [w for w in windows if w.digit_led]
    assert len({w.regex.pattern for w in led}) == 6
    # each has windows of its own, and many texts hold none of any
    assert all(len(found[w.regex.pattern]) > 50 for w in led)
    holding = set().union(*(found[w.regex.pattern] for w in led))
    assert len(holding) > 300 and len(texts) - len(holding) > 300


def test_findings_are_ordered_and_pruned_as_presidio_orders_and_prunes_them() -> None:
    rng = random.Random(23)
    for _ in range(3000):
        findings = list(
            {
                (start, start + rng.randint(1, 4), rng.choice("ABC"), rng.choice([0.3, 0.5, 1.0]))
                for start in (rng.randint(0, 6) for _ in range(rng.randint(0, 7)))
            }
        )
        rng.shuffle(findings)
        # Presidio's order (type, start, longest, best), then a stable sort by score and length
        ordered = sorted(findings, key=lambda f: (f[2], f[0], f[0] - f[1], -f[3]))
        assert _best_first(findings) == sorted(ordered, key=lambda f: (-f[3], f[0] - f[1]))
        assert _outermost(findings) == [
            f
            for f in findings
            if not any(
                g is not f and g[2] == f[2] and g[0] <= f[0] and f[1] <= g[1] and f[3] <= g[3]
                for g in findings
            )
        ]


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


def test_phone_candidates_are_searched_for_only_where_one_can_start() -> None:
    # what can start a candidate or stop one: brackets, plus signs and digits of several
    # scripts (full-width, Arabic-Indic), punctuation, letters, "x" (an extension)
    pieces = ["(", "[", "\uff08", "\uff3b", "+", "\uff0b", "0", "7", "\uff17", "\u0663", "12",
              " ", "-", ".", "/", ")", "a", "x", "ext", "\u00e9", ";ext=", "#", "\x00"]  # fmt: skip
    rng = random.Random(29)
    texts = tricky_texts(1500, seed=31) + [
        "".join(rng.choice(pieces) for _ in range(rng.randint(0, 15))) for _ in range(3000)
    ]
    found = 0
    for text in texts:
        for at in range(len(text) + 1):
            expected = _phone._PATTERN.search(text, at)
            match = next_candidate(text, at)
            assert (match and match.span()) == (expected and expected.span()), (text, at)
            found += expected is not None and not text[expected.start()].isdigit()
    assert found > 1000  # candidates starting with a bracket or a plus sign


def every_known_span(lookup: dict[str, str], text: str) -> list[tuple[int, int, None, str]]:
    """The reference: from each word on, the longest run of up to four words whose normal
    form is a known value, every run tried; with its pseudonym."""
    words = [m.span() for m in _WORD.finditer(text)]
    spans: list[tuple[int, int, None, str]] = []
    i = 0
    while i < len(words):
        for n in range(min(4, len(words) - i), 0, -1):
            start, end = words[i][0], words[i + n - 1][1]
            candidate = " ".join(text[start:end].casefold().split())
            if candidate in lookup:
                spans.append((start, end, None, lookup[candidate]))
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
    index = KnownValues(KnownPairs.from_mapping(known))
    lookup = {
        " ".join(original.casefold().split()): pseudonym
        for values in known.values()
        for original, pseudonym in values.items()
    }
    texts = tricky_texts(3000, seed=seed)
    texts += [
        "".join(rng.choice(FOLDING + WORDS + ["Smith", " ", "  ", "."]) for _ in range(6))
        for _ in range(3000)
    ]
    assert index.spans_many(texts) == [every_known_span(lookup, text) for text in texts]
    assert sum(bool(index.spans(text)) for text in texts) > 800
    assert sum(any(ord(c) > 127 for c in t) and bool(index.spans(t)) for t in texts) > 300


# Latin letters (and a combining accent), other scripts' letters, signs, brackets, digits
NEIGHBOURS = ["", " ", "a", "Q", "\u00e9", "\u0101", "\u0301", "\u03b1", "\u0436", "\u4e2d",
              "%", "\u20ac", "\u00a3", "$", "+", "(", ")", "/", "-", ".", ":", "@", "_", "7",
              "\u0663"]  # fmt: skip
DIGIT_RUNS = ["1", "12", "123456", "07700900123", "2125550100", "442079460958", "02079460958",
              "4930123456", "123456789012345678"]  # fmt: skip


def test_digits_beside_a_word_are_rejected_by_every_region_without_parsing() -> None:
    phone = next(
        r for r in scanner(None, DEFAULT_ENTITIES, 0.35).direct if r.name == "PhoneRecognizer"
    )
    shortcuts = 0
    for before in NEIGHBOURS:
        for after in NEIGHBOURS:
            for digits in DIGIT_RUNS:
                text = f"x {before}{digits}{after} y"
                start = text.index(digits, 2 + len(before) - 1)
                for leniency in (0, 1, 2, 3):
                    if not _phone._beside_a_word(text, start, digits, leniency):
                        continue
                    shortcuts += 1
                    for region in phone.supported_regions:
                        probe = _phone._RegionProbe(text, region, leniency=leniency)
                        assert probe._extract_match(digits, start) is None, (text, region)
                        assert not probe.region_read, (text, region)
    assert shortcuts > 1000


def test_presidio_masks_as_it_did_text_by_text(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = tricky_texts(1500, seed=3)
    batch = run("presidio", {}, texts, context=ctx(known=KNOWN))
    monkeypatch.setattr(Scanner, "scan_many", lambda self, ts: [self.scan(t) for t in ts])
    batch_spans = KnownValues.spans_many
    monkeypatch.setattr(
        KnownValues,
        "spans_many",
        lambda self, ts: [batch_spans(self, [t])[0] for t in ts.to_pylist()],
    )
    assert run("presidio", {}, texts, context=ctx(known=KNOWN)) == batch


def test_presidio_masks_in_parts_as_in_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    from anonymiser.maskers import presidio

    texts = tricky_texts(800, seed=5)
    whole = run("presidio", {}, texts, context=ctx(known=KNOWN))
    monkeypatch.setattr(presidio, "_PART_TEXTS", 13)  # dozens of parts, the last one short
    assert run("presidio", {}, texts, context=ctx(known=KNOWN)) == whole
    assert whole != texts
