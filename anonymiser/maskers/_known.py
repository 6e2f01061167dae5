"""The values masked in structured columns, and where they occur in free text, as arrays.

Free-text scrubbing (anonymiser.maskers.presidio) gives a name or an email address masked in
a structured column the same pseudonym where it appears in text. At 1M demo rows there are
~1.4M such values: as Python dictionaries they cost hundreds of MiB and looking them up text
by text was half the masking process's CPU. Here they are two Arrow arrays (normal forms and
pseudonyms) and a sorted array of the normal forms' hashes, and the texts of a batch are
searched at once with NumPy: words and their leading runs found byte by byte, a run of up to
four words looked up by its hash where its first word begins some value, every hit confirmed
byte for byte. Texts that are not ASCII (case folding may change their length) go through
the same lookup from Python.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.hashtable import HashTable, expand_ranges, hash_order, sorted_unique
from anonymiser.maskers._knownpairs import KnownPairs, normal_form
from anonymiser.maskers.base import byte_view
from anonymiser.spanhash import hashed_chunks, prefix_sums, span_hashes, value_hashes

__all__ = ["KnownValues", "Span"]

# (start, end, entity, text): a known value's span carries entity None and its pseudonym;
# a Presidio finding its entity type and the original text
Span = tuple[int, int, str | None, str]
_LONGEST_KNOWN = 4  # words in the longest known value looked up (full names)
# a word of free text: word characters, and inside a word @ . + ' \u2019 - (emails, O'Neil)
_WORD = re.compile(r"\w[\w@.+'\u2019-]*\w|\w")
_LEAD = re.compile(r"\w+")
_CHUNK_BYTES = 1 << 20  # ASCII text searched at once (a dozen arrays of this many entries)


def _lead(value: str) -> str | None:
    """The run of word characters `value` begins with (None: it begins with another)."""
    match = _LEAD.match(value)
    return None if match is None else match.group()


class KnownValues:
    """Known values (their normal forms) -> pseudonym, and where they occur in text.

    A value can only begin where a word of the text begins with the value's leading run of
    word characters ("jane" for "Jane Smith" and "jane.smith@example.com", "07700" for
    "07700 900123"). Those leads are few, so only from such a word are the runs of up to
    four words looked up, and from each the longest run that is a known value is taken; the
    search goes on after it.
    """

    def __init__(self, known: KnownPairs) -> None:
        keys, _ = known.resolved()
        leads, self._leadless = _lead_hashes(keys)
        self._leads_table = HashTable(leads)
        del leads
        hashes = value_hashes(keys)
        order = hash_order(hashes)
        self._keys_table = HashTable(hashes[order])
        del hashes, keys
        # the pairs in the table's order, so that a slot of it is its key's row: no array of
        # slots to rows, and the pairs held once (KnownPairs keeps them in this order)
        self.keys, self.pseudonyms = known.reorder(order)
        del order
        self._key_offsets, self._key_data, _ = byte_view(self.keys, wide=False)

    def __len__(self) -> int:
        return len(self.keys)

    def as_dict(self) -> dict[str, str]:
        """{normal form: pseudonym} (small indexes: for inspection)."""
        return dict(zip(self.keys.to_pylist(), self.pseudonyms.to_pylist(), strict=True))

    def spans(self, text: str) -> list[Span]:
        """Spans of `text` equal (case and spacing aside) to a known value, with their
        pseudonyms: from each word on, the longest run of up to four words that is one."""
        return self.spans_many([text])[0]

    def spans_many(self, texts: Sequence[str] | pa.Array) -> list[list[Span]]:
        """spans() of each text."""
        values = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.string())
        out: list[list[Span]] = [[] for _ in range(len(values))]
        if not len(self.keys) or not len(values):
            return out
        ascii_ = pc.fill_null(pc.string_is_ascii(values), True).to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(ascii_)
        hits = [self._ascii_hits(values.take(rows), rows)]
        others = np.flatnonzero(~ascii_)
        if len(others):
            hits.append(self._folded_hits(values.take(others).to_pylist(), others))
        text, word, count, start, end, key = (np.concatenate(h) for h in zip(*hits, strict=True))
        chosen = _longest_first_runs(text, word, count)
        text, start, end = text[chosen].tolist(), start[chosen].tolist(), end[chosen].tolist()
        pseudonyms = self.pseudonyms.take(key[chosen]).to_pylist()
        for t, s, e, p in zip(text, start, end, pseudonyms, strict=True):
            out[t].append((s, e, None, p))
        return out

    def _ascii_hits(self, values: pa.Array, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """(text, word, words, start, end, key slot) of every run of words of these ASCII
        texts that is a known value (`rows`: the texts' numbers)."""
        offsets, data, _ = byte_view(pc.fill_null(values, ""))
        found = []
        words_before = 0
        first = 0
        while first < len(values):
            stop = int(np.searchsorted(offsets, offsets[first] + _CHUNK_BYTES, side="right")) - 1
            stop = min(max(stop, first + 1), len(values))
            chunk = offsets[first : stop + 1]
            hits, words = _chunk_hits(self, data[chunk[0] : chunk[-1]], chunk - chunk[0])
            text, word, count, start, end, key = hits
            found.append((rows[text + first], word + words_before, count, start, end, key))
            words_before += words
            first = stop
        if not found:
            return tuple(np.zeros(0, dtype=np.int64) for _ in range(6))
        return tuple(np.concatenate(parts) for parts in zip(*found, strict=True))

    def _folded_hits(self, texts: list[str], rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """_ascii_hits() of texts that are not ASCII, their words found in Python."""
        words_of = [list(_WORD.finditer(text)) for text in texts]
        # which words may begin a value: their leads looked up all at once
        probes: list[str] = []
        probed: list[tuple[int, int]] = []
        maybe: list[tuple[int, int]] = []
        for t, (text, words) in enumerate(zip(texts, words_of, strict=True)):
            for i, match in enumerate(words):
                lead = self._lead_to_find(text, match.group(), match.end())
                if lead is True:
                    maybe.append((t, i))
                elif isinstance(lead, str):
                    probes.append(lead)
                    probed.append((t, i))
                elif self._leadless:
                    maybe.append((t, i))
        found_leads, _ = self._leads_table.find(value_hashes(pa.array(probes, pa.string())))
        maybe += [probed[i] for i in sorted(set(found_leads.tolist()))]
        candidates: list[str] = []
        where: list[tuple[int, int, int, int, int]] = []
        for t, i in sorted(maybe):
            text, words = texts[t], words_of[t]
            start = words[i].start()
            for n in range(1, min(_LONGEST_KNOWN, len(words) - i) + 1):
                end = words[i + n - 1].end()
                candidates.append(normal_form(text[start:end]))
                where.append((int(rows[t]), i, n, start, end))
        spans = np.array(where, dtype=np.int64).reshape(-1, 5)
        found = pa.array(candidates, pa.string())
        owner, key = self._keys_table.find(value_hashes(found))
        if len(owner):
            keys = self.keys.take(key).to_pylist()
            looked_up = found.take(owner).to_pylist()
            same = np.array([a == b for a, b in zip(looked_up, keys, strict=True)])
            owner, key = owner[same], key[same]
        at = spans[owner]
        return at[:, 0], at[:, 1], at[:, 2], at[:, 3], at[:, 4], key

    def _same_bytes(
        self, data: np.ndarray, begin: np.ndarray, end: np.ndarray, slot: np.ndarray
    ) -> np.ndarray:
        """Whether data[begin:end] is the key in each slot (hashes only nominate)."""
        key_begin = self._key_offsets[slot]
        same: np.ndarray = end - begin == self._key_offsets[slot + 1] - key_begin
        owner, at = expand_ranges(begin, np.where(same, end, begin))
        differ = data[at] != self._key_data[key_begin[owner].astype(np.int64) + (at - begin[owner])]
        same &= np.bincount(owner[differ], minlength=len(begin)) == 0
        return same

    @staticmethod
    def _lead_to_find(text: str, word: str, end: int) -> str | bool | None:
        """The lead a known value's normal form must have to begin at `word` (ending at
        `end`): True when any may (the lead goes on past the word), None when it begins
        with no word character.

        A run of words from `word` on has the lead of the case-folded word, unless that is
        all word characters and the character after it folds to one.
        """
        folded = word.casefold()
        lead = _lead(folded)
        if lead != folded:
            return lead
        after = text[end : end + 1].casefold()[:1]
        if after and _LEAD.match(after) is not None:
            return True
        return folded


def _lead_hashes(keys: pa.Array) -> tuple[np.ndarray, bool]:
    """The distinct hashes of the keys' leads (_lead), and whether a key has none.

    _LEAD_KEYS keys at a time: finding the leads takes ~100 bytes a key meanwhile (at 10M
    demo rows, 14M keys at once would have been the mask stage's peak).
    """
    parts, leadless = [], False
    for first in range(0, len(keys), _LEAD_KEYS):
        hashes, none = _some_lead_hashes(keys.slice(first, _LEAD_KEYS))
        parts.append(hashes)
        leadless |= none
    if not parts:
        return np.zeros(0, dtype=np.uint64), leadless
    return sorted_unique(np.concatenate(parts)), leadless


_LEAD_KEYS = 1 << 19


def _some_lead_hashes(keys: pa.Array) -> tuple[np.ndarray, bool]:
    """_lead_hashes() of some keys. ASCII keys' leads are cut at their first byte that is no
    word character; the others' are found in Python (a word character may be any letter or
    digit there)."""
    offsets, data, _ = byte_view(keys)
    data = data[offsets[0] : offsets[-1]]  # a slice's own bytes
    offsets = offsets - offsets[0]
    begin, end = offsets[:-1], offsets[1:]
    stops = np.flatnonzero(~_word_bytes(data))
    lead_end = np.minimum(np.append(stops, len(data))[np.searchsorted(stops, begin)], end)
    plain = pc.string_is_ascii(keys).to_numpy(zero_copy_only=False)
    hashes = np.zeros(len(begin), dtype=np.uint64)
    for first, stop, _, sums, starts, _ in hashed_chunks(offsets, data):
        hashes[first:stop] = span_hashes(sums, starts, lead_end[first:stop] - offsets[first])
    leadless = bool((lead_end[plain] == begin[plain]).any())
    others = [_lead(key) for key in keys.filter(pa.array(~plain)).to_pylist()]
    leadless |= None in others
    named = pa.array([lead for lead in others if lead is not None], pa.string())
    leads = np.concatenate([hashes[plain & (lead_end > begin)], value_hashes(named)])
    return sorted_unique(leads), leadless


def _word_bytes(data: np.ndarray) -> np.ndarray:
    """Per byte of ASCII text: whether it is a word character (a letter, digit or _)."""
    word: np.ndarray = ((data | np.uint8(0x20)) - np.uint8(97)) < 26
    word |= (data - np.uint8(48)) < 10
    word |= data == 95
    return word


def _chunk_hits(
    index: KnownValues, raw: np.ndarray, offsets: np.ndarray
) -> tuple[tuple[np.ndarray, ...], int]:
    """(text, word, words, start, end, key slot) of the known runs of words in one chunk of
    ASCII texts (`offsets` into `raw`, from 0), and how many words it has.

    A word (as _WORD finds it in ASCII) is a run of word characters and @ . + ' -, less
    any of the four signs at its ends; its lead is its first run of word characters.
    """
    size = len(raw)
    data = raw.copy()
    data[(raw - np.uint8(65)) < 26] |= np.uint8(0x20)  # lower case
    word_char = _word_bytes(data)
    in_word = word_char | np.isin(data, np.frombuffer(b"@.+'-", dtype=np.uint8))
    space = ((data - np.uint8(9)) < 5) | ((data - np.uint8(28)) < 4) | (data == 32)
    text_start = np.zeros(size + 1, dtype=bool)
    text_start[offsets[:-1]] = True
    text_start = text_start[:size]
    text_of = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))  # each byte's text
    # runs of word characters and signs, none across texts; a word spans from the first
    # to the last word character of a run
    run_start = in_word.copy()
    run_start[1:] &= ~in_word[:-1] | text_start[1:]
    run = np.cumsum(run_start)
    chars = np.flatnonzero(word_char)
    owner = run[chars]
    new_run = np.ones(len(chars), dtype=bool)
    new_run[1:] = owner[1:] != owner[:-1]
    begin = chars[new_run]
    last = np.ones(len(chars), dtype=bool)
    last[:-1] = new_run[1:]
    end = chars[last] + 1
    text = text_of[begin]
    # a word begins a run of word characters (the byte before is none, or another text's):
    # its lead ends where that run does
    char_run = word_char.copy()
    char_run[1:] &= ~word_char[:-1] | text_start[1:]
    char_run_end = word_char.copy()
    char_run_end[:-1] &= char_run[1:] | ~word_char[1:]
    lead_end = np.flatnonzero(char_run_end)[np.cumsum(char_run)[begin] - 1] + 1
    # the normal form: whitespace as one space (words never begin or end with any)
    repeated = np.zeros(size, dtype=bool)
    repeated[1:] = space[1:] & space[:-1]
    normal = np.where(space, np.uint8(32), data)[~repeated]
    moved = np.cumsum(~repeated) - 1  # where each kept byte is in `normal`
    sums = prefix_sums(normal)
    begin_at = moved[begin]
    leads, _ = index._leads_table.find(span_hashes(sums, begin_at, moved[lead_end - 1] + 1))
    pending = np.unique(leads)  # words that begin some value's lead, longest run not found
    found = []
    for n in range(_LONGEST_KNOWN, 0, -1):
        last_word = pending + n - 1
        fits = last_word < len(begin)
        fits[fits] = text[last_word[fits]] == text[pending[fits]]
        first_word, last_word = pending[fits], last_word[fits]
        lo, hi = begin_at[first_word], moved[end[last_word] - 1] + 1
        hit, slot = index._keys_table.find(span_hashes(sums, lo, hi))
        same = index._same_bytes(normal, lo[hit], hi[hit], slot)
        hit, slot = hit[same], slot[same]
        words = first_word[hit]
        t = text[words]
        first = offsets[t]
        found.append(
            (
                t,
                words,
                np.full(len(words), n),
                begin[words] - first,
                end[last_word[hit]] - first,
                slot,
            )
        )
        pending = np.setdiff1d(pending, words, assume_unique=True)
    return tuple(np.concatenate(parts) for parts in zip(*found, strict=True)), len(begin)


def _longest_first_runs(text: np.ndarray, word: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Which hits stand: from each word the longest run, then left to right in each text,
    a run that begins inside one taken before it is not taken."""
    order = np.lexsort((-count, word, text))
    text_o, word_o = text[order], word[order]
    longest = np.ones(len(order), dtype=bool)
    longest[1:] = (text_o[1:] != text_o[:-1]) | (word_o[1:] != word_o[:-1])
    order = order[longest]
    text_o, word_o, end_o = text[order], word[order], word[order] + count[order]
    inside = np.zeros(len(order), dtype=bool)
    inside[1:] = (text_o[1:] == text_o[:-1]) & (word_o[1:] < end_o[:-1])
    if not inside.any():
        return order
    # overlapping runs are rare: the texts with any are walked word by word
    crowded = np.isin(text_o, text_o[inside])
    kept = ~crowded
    free_from: dict[int, int] = {}
    for i in np.flatnonzero(crowded).tolist():
        t, w = int(text_o[i]), int(word_o[i])
        if w >= free_from.get(t, -1):
            kept[i] = True
            free_from[t] = int(end_o[i])
    return order[kept]
