"""Presidio's phone recognizer, with python-phonenumbers' per-candidate work remembered.

Presidio runs python-phonenumbers' matcher once per region (8 of them) over every text, and
parsing and validating one candidate number costs 80-190 microseconds per region: most of the
Presidio cost. The same numbers recur across the notes of a column (a person's phone in
each of their notes), so the outcome of each candidate is remembered, keyed by everything the
matcher reads to decide it: the region, the leniency, the candidate, the character before it
and the three after it (the time-stamp check reads ":mm").
"""

from __future__ import annotations

from typing import Any

from phonenumbers import PhoneNumberMatch, PhoneNumberMatcher

__all__ = ["phone_spans"]

# the matcher gives up after max_tries failed candidates; a remembered candidate does not
# count, so only texts too short to reach that limit (65535) use the memory
_MEMO_TEXT = 2000
_MEMO_SIZE = 100_000  # entries (~200 bytes each): the memory stays bounded
_memo: dict[tuple[str | None, int, str, str, str], tuple[int, str, Any] | None] = {}


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
        if key in _memo:
            found = _memo[key]
        else:
            match = super()._extract_match(candidate, offset)
            found = (
                None if match is None else (match.start - offset, match.raw_string, match.number)
            )
            if len(_memo) >= _MEMO_SIZE:
                _memo.clear()
            _memo[key] = found
        return None if found is None else PhoneNumberMatch(offset + found[0], found[1], found[2])


def phone_spans(text: str, regions: tuple[str, ...], leniency: int) -> set[tuple[int, int]]:
    """(start, end) of the phone numbers Presidio's PhoneRecognizer finds in `text`."""
    matcher = _MemoMatcher if len(text) <= _MEMO_TEXT else PhoneNumberMatcher
    return {
        (match.start, match.end)
        for region in regions
        for match in matcher(text, region, leniency=leniency)
    }
