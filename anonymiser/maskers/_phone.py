"""Presidio's phone recognizer, with python-phonenumbers' per-candidate work remembered.

Presidio runs python-phonenumbers' matcher once per region (8 of them) over every text, and
parsing and validating one candidate number costs 80-190 microseconds per region: most of the
Presidio cost. The same numbers recur across the notes of a column (a person's phone in
each of their notes), so the outcome of each candidate is remembered, keyed by everything the
matcher reads to decide it: the region, the leniency, the candidate, the character before it
and the three after it (the time-stamp check reads ":mm").

phone_spans_once() gives the same spans with one pass over the text instead of one per
region. The matcher's search for candidates does not depend on the region: each region's
matcher tries the same candidates in the same order as long as every candidate it accepts is
the whole candidate (after an inner match a matcher resumes inside the candidate). So each
candidate is decided for all regions at once, and remembered: when deciding it never read the
region (the matcher rejects most candidates, such as the digits of an email address or an NI
number, before parsing), one region's answer is every region's. A text where some region
finds a number inside a candidate goes through the per-region matchers.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from phonenumbers import Leniency, PhoneNumberMatch, PhoneNumberMatcher

# the matcher's own candidate search and the parts it is built of (its stubs declare none)
from phonenumbers.phonenumbermatcher import (  # type: ignore[attr-defined]
    _DIGIT_SEQUENCE,
    _LEAD_CLASS,
    _LEAD_LIMIT,
    _PATTERN,
    _PUNCTUATION,
    _SECOND_NUMBER_START_PATTERN,
)

__all__ = ["next_candidate", "phone_spans", "phone_spans_once"]

# the matcher gives up after max_tries failed candidates; a remembered candidate does not
# count, so only texts too short to reach that limit (65535) use the memory
_MEMO_TEXT = 2000
_MEMO_SIZE = 100_000  # entries (~200 bytes each): the memory stays bounded
_UNKNOWN: Any = object()  # not remembered (None is a remembered "no number")
_memo: dict[tuple[str | None, int, str, str, str], tuple[int, str, Any] | None] = {}
# _PATTERN is "(?:lead punctuation){0,2}" then a digit sequence: each candidate starts with a
# lead character ("(", "[", "+" and their full-width forms) or a digit. _PATTERN has no literal
# prefix, so its search tries it at every character (~6 us a demo cell); this finds where it
# can start, at the regex engine's scanning speed. None: a _PATTERN of another shape.
_CANDIDATE_START = (
    re.compile(f"{_LEAD_CLASS[:-1]}\\d]", _PATTERN.flags)
    if _PATTERN.pattern.startswith(f"(?:{_LEAD_CLASS}{_PUNCTUATION}){_LEAD_LIMIT}{_DIGIT_SEQUENCE}")
    else None
)
# (regions, leniency, candidate, char before, 3 after) -> some region accepts the whole
# candidate (True), none accepts any of it (False), or one finds a number inside it (None)
_every_region: dict[tuple[tuple[str, ...], int, str, str, str], bool | None] = {}


class _MemoMatcher(PhoneNumberMatcher):
    """A PhoneNumberMatcher that decides each candidate once per context."""

    def _extract_match(self, candidate: str, offset: int) -> PhoneNumberMatch | None:
        end = offset + len(candidate)
        before = self.text[offset - 1] if offset else ""
        key = (
            self.preferred_region,
            int(self.leniency),
            candidate,
            before,
            self.text[end : end + 3],
        )
        # one lookup: another thread may clear the memory between a test and a read
        found = _memo.get(key, _UNKNOWN)
        if found is _UNKNOWN:
            match = super()._extract_match(candidate, offset)
            found = (
                None if match is None else (match.start - offset, match.raw_string, match.number)
            )
            if len(_memo) >= _MEMO_SIZE:
                _memo.clear()
            _memo[key] = found
        return None if found is None else PhoneNumberMatch(offset + found[0], found[1], found[2])


class _RegionProbe(PhoneNumberMatcher):
    """A matcher that notes whether it read its region (it does only to parse a number)."""

    region_read = False

    @property
    def preferred_region(self) -> str:
        self.region_read = True
        return self._region

    @preferred_region.setter
    def preferred_region(self, region: str) -> None:
        self._region = region


@functools.lru_cache(maxsize=4096)
def _ends_a_number(char: str) -> bool:
    """Whether the matcher rejects a number written next to `char` (at leniency VALID and
    stricter): a Latin letter, "%" or a currency sign, by the matcher's own tests."""
    return bool(
        PhoneNumberMatcher._is_invalid_punctuation_symbol(char)
        or PhoneNumberMatcher._is_latin_letter(char)
    )


def _beside_a_word(text: str, start: int, candidate: str, leniency: int) -> bool:
    """Whether every region's matcher rejects `candidate` at `start` without reading its
    region: a run of ASCII digits with a Latin letter (or "%", a currency sign) just before
    or after it.

    PhoneNumberMatcher._extract_match on such a run: no slash, so not a date; no space, so
    not a time stamp; _parse_and_verify then rejects it on its neighbour (leniency VALID or
    stricter; a run of digits has no leading "(" or "+" to excuse the one before) before it
    parses; and no inner match is tried, as each of _INNER_MATCHES needs a slash, a bracket,
    a space, a hyphen or a full stop.
    """
    if leniency < Leniency.VALID or not (candidate.isascii() and candidate.isdigit()):
        return False
    end = start + len(candidate)
    return (start > 0 and _ends_a_number(text[start - 1])) or (
        end < len(text) and _ends_a_number(text[end])
    )


def _whole_in_some_region(
    text: str, start: int, candidate: str, regions: tuple[str, ...], leniency: int
) -> bool | None:
    """Whether some region's matcher accepts the whole candidate at `start`; None when one
    finds a number inside it instead."""
    end = start + len(candidate)
    key = (regions, leniency, candidate, text[start - 1] if start else "", text[end : end + 3])
    known = _every_region.get(key, _UNKNOWN)  # one lookup: another thread may clear it
    if known is not _UNKNOWN:
        return known  # type: ignore[no-any-return]
    probe = _RegionProbe(text, regions[0], leniency=leniency)
    match = probe._extract_match(candidate, start)
    outcomes = [match]
    if probe.region_read:
        outcomes += [
            _MemoMatcher(text, region, leniency=leniency)._extract_match(candidate, start)
            for region in regions[1:]
        ]
    spans = {(m.start, m.end) for m in outcomes if m is not None}
    found = None if spans - {(start, end)} else bool(spans)
    if len(_every_region) >= _MEMO_SIZE:
        _every_region.clear()
    _every_region[key] = found
    return found


def phone_spans_once(text: str, regions: tuple[str, ...], leniency: int) -> set[tuple[int, int]]:
    """phone_spans(), each candidate number decided once for all regions."""
    if len(text) > _MEMO_TEXT or not regions:
        return phone_spans(text, regions, leniency)
    spans: set[tuple[int, int]] = set()
    match = next_candidate(text, 0)
    # PhoneNumberMatcher._find with min_candidate_length 1, for all regions at once
    while match is not None:
        start = match.start()
        candidate = match.group()
        trailing = _SECOND_NUMBER_START_PATTERN.search(candidate)
        if trailing:
            candidate = candidate[: trailing.start()]
        if not candidate:
            return phone_spans(text, regions, leniency)
        found = (
            False
            if _beside_a_word(text, start, candidate, leniency)
            else _whole_in_some_region(text, start, candidate, regions, leniency)
        )
        if found is None:
            return phone_spans(text, regions, leniency)
        if found:
            spans.add((start, start + len(candidate)))
        match = next_candidate(text, start + len(candidate))
    return spans


def next_candidate(text: str, at: int) -> re.Match[str] | None:
    """_PATTERN.search(text, at): matched only where a candidate can start."""
    if _CANDIDATE_START is None:
        return _PATTERN.search(text, at)
    lead = _CANDIDATE_START.search(text, at)
    while lead is not None:
        match = _PATTERN.match(text, lead.start())
        if match is not None:
            return match
        lead = _CANDIDATE_START.search(text, lead.start() + 1)
    return None


def phone_spans(text: str, regions: tuple[str, ...], leniency: int) -> set[tuple[int, int]]:
    """(start, end) of the phone numbers Presidio's PhoneRecognizer finds in `text`."""
    matcher = _MemoMatcher if len(text) <= _MEMO_TEXT else PhoneNumberMatcher
    return {
        (match.start, match.end)
        for region in regions
        for match in matcher(text, region, leniency=leniency)
    }
