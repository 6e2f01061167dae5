"""Where Presidio's pattern regexes can match, found for many texts at once; their matches there.

Presidio's regexes are tried at every position of a text (the URL one, with its thousand
top-level domains, costs ~50 us per 100 characters). Each known pattern has a *window*
regex such that every match of the pattern starts inside a match of the window regex
(finditer's, left to right). Two kinds of window give that:

- a prefix every match of the pattern begins with, its zero-width assertions dropped and its
  character classes widened: it matches wherever the pattern does, so scanning left to right
  it either covers such a position or is tried at it and matches;
- a maximal run of the characters a match begins with, when every match holds one of some
  character before leaving that run (an email's "@", a host name's "."): found once from
  its start (a lookbehind rejects its other positions) rather than from each; searched
  for from its "@" in the reversed text, or from the character before the run, so that
  the regex engine skips to those.
- either of these for a later part of every match, when that part starts at most a few
  characters in (a postcode's, an NI number's or an IBAN's first digit, the letters before
  it checked by a lookbehind): the windows then start that much earlier.

So no match starts between the end of the last match and the next window, and searching from
each window's start (or that end) finds exactly what finditer() finds, the text between
windows unread. Window regexes are stdlib `re`, without flags, several times faster than
`regex` with Presidio's IGNORECASE; their classes are widened to cover what IGNORECASE and
`regex`'s Unicode classes can match: every letter class takes all non-ASCII characters (a
digit too), and runs are of everything but the characters a match cannot hold. Windows are found in
one pass over all texts joined by NUL, which no window matches (nor does PostgreSQL text hold
it), so none crosses texts. The six windows starting at a digit are first found together, by
one pass of their union, and then each in the texts holding a match of that union only.

A host name without scheme (Presidio's "Non schema URL") has no lookbehind and cannot leave
its run of host characters but through a following "/": its matches in a run not followed by
"/" are those in the run alone, remembered per run ("mail.example.com" recurs). In an ASCII
run of at most 253 characters, where it matches at one position it matches at the one
before (that character joins the host part), so where it fails, it fails for the rest of
the run: it is tried at the run's start and after each match only, not at every position
(each try checks its thousand top-level domains at every dot). Its regex tells no ASCII digit
from another (no digit in its literals; each of its classes holds all ten or none), so a run's
matches are those of the run with every digit written "0": "jane.smith123" and "jane.smith7"
are tried once between them.

An email address holds no white space: a match of the email regex starting in a run of
other characters ends in it, and depends on that run and the character before it alone (its
"\\b" reads the white space after the run as a non-word character, as it reads the end of
the text). So the first match from a window is remembered per run (digits written "0": that
regex tells no digit from another either); a run without one is followed by a search of the
rest of the text, as finditer's.

A pattern is recognised by a digest of its regex: a Presidio release that changes a regex
has no window and keeps the plain finditer().
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = [
    "SEPARATOR",
    "Window",
    "find_windows",
    "window_for",
    "windowed_spans",
    "windows_per_text",
]

SEPARATOR = "\x00"
_WIDE = "\x80-\U0010ffff"  # every non-ASCII character
_L = f"[A-Za-z{_WIDE}]"  # a letter under IGNORECASE
_D = f"[0-9{_WIDE}]"  # a Unicode digit
# an NI number's first and second letters under IGNORECASE (no ASCII letter folds to
# another ASCII letter but its own other case)
_NI1 = f"[A-CEGHJ-PR-TW-Za-ceghj-pr-tw-z{_WIDE}]"
_NI2 = f"[A-CEGHJ-NPR-TW-Za-ceghj-npr-tw-z{_WIDE}]"
_WS = f"[\t-\r\x1c-\x20{_WIDE}]"  # Unicode white space
_NOT_EMAIL = "\\s@\x00"  # an email's local part holds no space, "@" or NUL
_HOST = f"[A-Za-z0-9.\\-{_WIDE}]"  # the characters of a host name, digits after "www"
_HEX = f"[0-9A-Fa-f:{_WIDE}]"  # of an IPv6 address
# sha256(pattern regex)[:16] -> window regex
_WINDOWS = {
    # Email (Medium): the local part's run, then "@"
    "004723abbb67ff6c": f"(?<![^{_NOT_EMAIL}])[^{_NOT_EMAIL}]+@",
    # IPv4_mapped, IPv6_unspecified: "::"
    "5def597d3b4dac73": "::",
    "c696285024ae5b47": "::",
    # IPv4_embedded, IPv6: a run of hexadecimal digits and colons, up to its last colon
    "66197b1f8e63cd27": f"(?<!{_HEX}){_HEX}*:",
    "c4f79b73053cd5f0": f"(?<!{_HEX}){_HEX}*:",
    # IPv4: one to three digits and a dot
    "ae1e66dfc54606cf": "[0-9]{1,3}\\.",
    # Standard Url: the scheme
    "422b91a465b6177e": f"{_L}{{4,5}}://",
    # Non schema URL: a run of host characters holding a dot
    "7405c3a8b8c39f4d": f"(?<!{_HOST}){_HOST}*\\.{_HOST}*",
    # Quoted URLs: the quote
    "473c5e6b40a31272": "[\"']",
    "58b5bbbc4796bab1": "[\"']",
    # IBAN Generic, from its check digits (see _BACK): the country's two letters behind them
    # (a lookbehind after the first digit, so the search skips from digit to digit rather
    # than trying every letter), then two groups of four
    "1f98697e78e08d67": f"[0-9](?<={_L}{_L}[0-9])[0-9](?:[ -]?[A-Za-z0-9{_WIDE}]{{4}}){{2}}",
    # NINO (medium), from its first digit: two letters of its prefix classes (and a space)
    # behind it, then digits in pairs and a letter of A-D ("QQ", "on 07700 900123" and
    # "th52424" have none)
    "21f524c59171e715": f"[0-9](?:(?<={_NI1}{_NI2}[0-9])|(?<={_NI1}{_NI2} [0-9]))[0-9]"
    f" ?[0-9]{{2}} ?[0-9]{{2}} ?[A-Da-d{_WIDE}]",
    # UK Postcode, from its first digit on (see _BACK): "0AA" of GIR 0AA, or the rest of
    # its alternatives' letters and digits in their order (the digit taken first, so that
    # the search skips from digit to digit rather than trying both branches everywhere)
    "a1d8d743f35dd6a0": f"[0-9](?:(?<=0){_L}{{2}}|[A-Za-z0-9{_WIDE}]?{_WS}?[0-9]{_L}{{2}})",
    # NHS (medium): the pattern without its assertions
    "d813b701023b5188": "[0-9]{3}[- ]?[0-9]{3}[- ]?[0-9]{4}",
    # All Credit Cards (weak): the pattern without its assertions
    "f619fa242c932c37": f"(?:[1346]{_D}{{3}}|5[0-5]{_D}{{2}})"
    f"[- ]?{_D}{{3,4}}[- ]?{_D}{{3,4}}[- ]?{_D}{{3,5}}",
}
# window regex -> one whose matches in the reversed text are the window regex's, reversed
# (an email's window starts at a run of any characters: backwards it starts at its "@",
# which the regex engine skips to)
_REVERSED = {_WINDOWS["004723abbb67ff6c"]: "@[^\\s@\x00]+"}
# window regex -> one matching the character before each window (at the start of a text, the
# SEPARATOR put before it), then the window as group 1: a window regex starting with a
# lookbehind is tried at every character, this one only at those it can start with (a
# host name's run starts after a character that is none of its own)
_AFTER = {_WINDOWS["7405c3a8b8c39f4d"]: f"[^{_HOST[1:-1]}]({_HOST}*\\.{_HOST}*)"}
# patterns whose windows match up to this many characters after where a match starts (a
# window regex starting with a digit is much cheaper than one starting with a letter): the
# windows are taken as starting that much earlier
# postcode: its first digit is 1 to 4 characters in; IBAN: 2; NI number: 2 or 3
_BACK = {"a1d8d743f35dd6a0": 4, "1f98697e78e08d67": 2, "21f524c59171e715": 3}
# patterns whose matches in a run of their window depend on that run alone, unless the run is
# followed by this character; and that fail for the rest of an ASCII run up to this long
# once they fail at one of its positions
_RUN_BOUND = {"7405c3a8b8c39f4d": ("/", 253)}
# patterns that match the same spans when every ASCII digit is swapped for another (their runs
# are remembered with each digit written "0")
_DIGITS_ALIKE = {"7405c3a8b8c39f4d", "004723abbb67ff6c"}
# in UTF-8 the bytes of ASCII digits stand for those digits alone (str.translate is ten
# times slower)
_ZERO_DIGITS = bytes.maketrans(b"123456789", b"000000000")
# patterns whose matches hold no white space: the first match from a position is remembered
# per run of other characters
_NO_SPACE = {"004723abbb67ff6c"}
_RUN = re.compile(r"\s*(\S*)")  # from a position: the next run of non-white-space
_UNKNOWN: Any = object()  # not remembered (None is a remembered "no match in the run")
_RUN_MEMO_SIZE = 100_000
# window regex -> characters one of which each of its matches holds (texts without any have
# no window, found at memchr speed)
_HOLDS = {"::": ":", "[\"']": "\"'", _WINDOWS["004723abbb67ff6c"]: "@",
          _WINDOWS["66197b1f8e63cd27"]: ":", _WINDOWS["ae1e66dfc54606cf"]: ".",
          _WINDOWS["422b91a465b6177e"]: ":", _WINDOWS["7405c3a8b8c39f4d"]: "."}  # fmt: skip


# windows that start at an ASCII digit (postcode, NHS number, card, IPv4, IBAN, NI number):
# found in one pass of their union over all texts, then each only in the texts holding a
# match of the union (a text without one holds no window of any)
_DIGIT_LED = {
    _WINDOWS[d]
    for d in ("a1d8d743f35dd6a0", "d813b701023b5188", "f619fa242c932c37", "ae1e66dfc54606cf",
              "1f98697e78e08d67", "21f524c59171e715")
}  # fmt: skip


class Window:
    """The window regex of one Presidio pattern, and its matches per run when they are
    the run's own."""

    def __init__(
        self,
        regex: str,
        run_bound: tuple[str, int] | None,
        back: int = 0,
        digits_alike: bool = False,
        no_space: bool = False,
    ) -> None:
        self.regex = re.compile(regex)
        reverse = _REVERSED.get(regex)
        self.reverse = None if reverse is None else re.compile(reverse)
        after = _AFTER.get(regex)
        self.after = None if after is None else re.compile(after)
        self.digits_alike = digits_alike
        self.no_space = no_space
        self.firsts: dict[tuple[bool, str | bytes], tuple[int, int] | None] = {}
        self.back = back
        self.holds = _HOLDS.get(regex)
        self.digit_led = regex in _DIGIT_LED
        self.run_bound: str | None = run_bound[0] if run_bound else None
        self.run_stops = run_bound[1] if run_bound else 0
        self.runs: dict[str | bytes, list[tuple[int, int]]] = {}

    def find(self, joined: str, starts: np.ndarray) -> dict[int, list[tuple[int, int]]]:
        """windows_per_text() of this window."""
        if self.holds is not None and not any(c in joined for c in self.holds):
            return {}
        return windows_per_text(self.regex, joined, starts, self.back, self.reverse, self.after)

    def first_match(
        self, compiled: Any, text: str, at: int, timeout: float
    ) -> tuple[int, int] | None:
        """compiled.search(text, at)'s span (None: no match), remembered per run when the
        pattern's matches hold no white space."""
        if not self.no_space:
            match = compiled.search(text, at, timeout=timeout)
            return None if match is None else match.span()
        start, end = _RUN.match(text, at).span(1)  # type: ignore[union-attr]
        run = text[max(start - 1, 0) : end]
        key = (start == 0, self._key(run))
        found = self.firsts.get(key, _UNKNOWN)  # one lookup: another thread may clear it
        if found is _UNKNOWN:
            match = compiled.search(text, start, timeout=timeout)
            if match is not None and match.start() < end:
                found = (match.start() - start, match.end() - start)
            else:
                found = None
            if len(self.firsts) >= _RUN_MEMO_SIZE:
                self.firsts.clear()
            self.firsts[key] = found
        elif found is None:
            match = compiled.search(text, end, timeout=timeout)
        else:
            return start + found[0], start + found[1]
        return None if match is None else match.span()

    def _key(self, run: str) -> str | bytes:
        """What a run is remembered by: itself, or its UTF-8 with ASCII digits written 0."""
        return (
            run.encode("utf-8", "surrogatepass").translate(_ZERO_DIGITS)
            if self.digits_alike
            else run
        )

    def run_spans(self, compiled: Any, run: str, timeout: float) -> list[tuple[int, int]]:
        """compiled.finditer(run)'s spans, remembered."""
        key = self._key(run)
        spans = self.runs.get(key)
        if spans is not None:
            return spans
        if run.isascii() and len(run) <= self.run_stops:
            spans = []
            match = compiled.match(run, 0, timeout=timeout)
            while match is not None and match.end() > match.start():
                spans.append(match.span())
                match = compiled.match(run, match.end(), timeout=timeout)
        else:
            spans = [m.span() for m in compiled.finditer(run, timeout=timeout)]
        if len(self.runs) >= _RUN_MEMO_SIZE:
            self.runs.clear()
        self.runs[key] = spans
        return spans


def find_windows(
    windows: Sequence[Window], texts: Sequence[str], joined: str, starts: np.ndarray
) -> dict[str, dict[int, list[tuple[int, int]]]]:
    """Window regex -> Window.find() of that window in `texts` (`joined` by SEPARATOR, text i
    at starts[i])."""
    unique = {w.regex.pattern: w for w in windows}
    found = {regex: w.find(joined, starts) for regex, w in unique.items() if not w.digit_led}
    led = [w for w in unique.values() if w.digit_led]
    if not led:
        return found
    union = _union(tuple(w.regex.pattern for w in led))
    hits = np.fromiter((m.start() for m in union.finditer(joined)), np.int64)
    holding = np.unique(np.searchsorted(starts, hits, side="right") - 1).tolist()
    some = [texts[i] for i in holding]
    some_starts = np.cumsum([0] + [len(t) + 1 for t in some[:-1]], dtype=np.int64)
    some_joined = SEPARATOR.join(some)
    for w in led:
        per = w.find(some_joined, some_starts)
        found[w.regex.pattern] = {holding[k]: spans for k, spans in per.items()}
    return found


@functools.lru_cache(maxsize=8)
def _union(regexes: tuple[str, ...]) -> re.Pattern[str]:
    """A regex matching the first character where any of `regexes` (each starting at an
    ASCII digit) matches: that digit, then the regexes tried from it (in a lookbehind, so
    that the digit comes first and the search skips from digit to digit)."""
    alternatives = "|".join(f"(?:{r})" for r in regexes)
    return re.compile(f"[0-9](?<=(?=(?:{alternatives})).)")


def window_for(pattern: str) -> Window | None:
    """The window of a Presidio pattern regex, or None when it has none."""
    digest = hashlib.sha256(pattern.encode()).hexdigest()[:16]
    window = _WINDOWS.get(digest)
    if window is None:
        return None
    return Window(
        window,
        _RUN_BOUND.get(digest),
        _BACK.get(digest, 0),
        digest in _DIGITS_ALIKE,
        digest in _NO_SPACE,
    )


def windows_per_text(
    window: re.Pattern[str],
    joined: str,
    starts: np.ndarray,
    back: int = 0,
    reverse: re.Pattern[str] | None = None,
    after: re.Pattern[str] | None = None,
) -> dict[int, list[tuple[int, int]]]:
    """Text number -> its windows (offsets in that text), from the texts joined by SEPARATOR
    (text i starts at starts[i] of `joined`), each starting `back` characters earlier (not
    before its text); found with `reverse` in the reversed text, or as group 1 of `after`
    in the text after a SEPARATOR, when one is given."""
    if after is not None:
        found = after.finditer(SEPARATOR + joined)
        flat = np.fromiter(itertools.chain.from_iterable(m.span(1) for m in found), np.int64) - 1
    elif reverse is None:
        flat = np.fromiter(
            itertools.chain.from_iterable(m.span() for m in window.finditer(joined)), np.int64
        )
    else:
        # a match (a, b) of the reversed text is (len - b, len - a) of the text; the last
        # one found is the first window
        backwards = itertools.chain.from_iterable(m.span() for m in reverse.finditer(joined[::-1]))
        flat = len(joined) - np.fromiter(backwards, np.int64)[::-1]
    if not len(flat):
        return {}
    spans = flat.reshape(-1, 2)
    texts = np.searchsorted(starts, spans[:, 0], side="right") - 1
    local = spans - starts[texts][:, None]
    if back:
        local[:, 0] = np.maximum(local[:, 0] - back, 0)
    pairs = list(zip(local[:, 0].tolist(), local[:, 1].tolist(), strict=True))
    # windows come in text order: one slice of them per text
    cuts = (np.flatnonzero(np.diff(texts)) + 1).tolist()
    bounds = [0, *cuts, len(pairs)]
    firsts = texts[[0, *cuts]].tolist()
    return {i: pairs[a:b] for i, a, b in zip(firsts, bounds, bounds[1:], strict=False)}


def windowed_spans(
    compiled: Any, window: Window, text: str, windows: Sequence[tuple[int, int]], timeout: float
) -> Iterator[tuple[int, int]]:
    """The spans of compiled.finditer(text)'s matches, searched for from each window on.

    An empty match (none of the windowed patterns has one) raises ValueError: finditer's
    rule for the position after it is not reproduced here.
    """
    position = 0
    for start, end in windows:
        if end <= position:
            continue
        if (
            window.run_bound is not None
            and start >= position
            and text[end : end + 1] != window.run_bound
        ):
            for a, b in window.run_spans(compiled, text[start:end], timeout):
                yield start + a, start + b
                position = start + b
            continue
        # the window may hold several matches: search again from the end of each
        while end > position:
            span = window.first_match(compiled, text, max(start, position), timeout)
            if span is None:
                return
            if span[1] == span[0]:
                raise ValueError(f"pattern {compiled.pattern[:40]!r} matched an empty string")
            yield span
            position = span[1]
