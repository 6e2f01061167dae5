"""presidio: free-text scrubbing, fully offline; each entity found becomes a deterministic fake.

Presidio's default NLP engine downloads en_core_web_lg on first use. This one never downloads:
it runs a blank spaCy pipeline (tokenizer only) with Presidio's pattern recognizers (emails,
phones, cards, IBANs, URLs, IPs, UK NINO, NHS numbers, postcodes), or a named spaCy model when
that model is installed (anonymiser.maskers._scan: the engine and a fast scanner giving the
same findings). Names have no pattern: they are found through `ctx.known`, the values masked
in structured columns of the same snapshot, and get the same pseudonym as there.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pyarrow as pa

from anonymiser.maskers._scan import analyzer, scanner, winners
from anonymiser.maskers._scanpool import submit_scan
from anonymiser.maskers._vector import text_problem
from anonymiser.maskers.base import (
    ColumnSpec,
    MaskContext,
    Param,
    RuleError,
    Strategy,
    map_unique,
    register,
)

__all__ = ["DEFAULT_ENTITIES", "Presidio", "analyzer", "release_known_values"]

DEFAULT_ENTITIES = (
    "EMAIL_ADDRESS", "PHONE_NUMBER", "UK_NINO", "UK_POSTCODE", "UK_NHS", "CREDIT_CARD",
    "IBAN_CODE", "IP_ADDRESS", "URL", "PERSON", "LOCATION",
)  # fmt: skip
# entity -> (strategy, params) of the fake it becomes; others keep their shape (pattern)
_FAKES: dict[str, tuple[str, dict[str, Any]]] = {
    "PERSON": ("fake", {"provider": "name"}),
    "EMAIL_ADDRESS": ("fake", {"provider": "email"}),
    "PHONE_NUMBER": ("fake", {"provider": "phone_number"}),
    "UK_POSTCODE": ("fake", {"provider": "postcode"}),
    "LOCATION": ("fake", {"provider": "city"}),
    "URL": ("fake", {"provider": "url"}),
    "UK_NINO": ("pattern", {"format": "ni_number"}),
}
_WORD = re.compile(r"\w[\w@.+'\u2019-]*\w|\w")
_LONGEST_KNOWN = 4  # words in the longest known value looked up (full names)


@register
class Presidio(Strategy):
    """Scrubs free text offline: Presidio's pattern recognisers find emails, phone numbers,
    cards, IBANs, URLs, IP addresses, UK NI and NHS numbers and postcodes, and each finding
    becomes a deterministic fake. A person's name or email masked in a structured column of the
    same snapshot gets the same pseudonym where it appears in the text. With `model`, an
    installed spaCy model also finds names (never downloaded).

    Example: {strategy: presidio, reason: "notes may mention people"}
    """

    name = "presidio"
    leak_checked = False  # its free text is re-scanned by the verify stage instead
    summary = "Free text: entities found by Presidio (offline) and known masked values replaced."
    params: ClassVar[Mapping[str, Param]] = {
        "entities": Param(list, "Presidio entity types to replace", default=list(DEFAULT_ENTITIES)),
        "threshold": Param((int, float), "lowest Presidio score replaced", default=0.35),
        "model": Param(str, "spaCy NER model to use when installed (never downloaded)"),
    }

    def check_column(self, column: ColumnSpec) -> str | None:
        if not all(isinstance(e, str) for e in self.options["entities"]):
            raise RuleError("strategy presidio: entities must be a list of entity names")
        if not 0 <= self.options["threshold"] <= 1:
            raise RuleError("strategy presidio: threshold must be between 0 and 1")
        return text_problem(self.name, column)

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        return map_unique(values, lambda unique: self._scrub(unique, ctx))

    def _scrub(self, unique: pa.Array, ctx: MaskContext) -> pa.Array:
        options = self.options
        scan = scanner(options["model"], tuple(options["entities"]), options["threshold"])
        known = _known_values(ctx.known)
        texts: list[str] = unique.to_pylist()
        spans_per_text: list[list[tuple[int, int, str | None, str]]] = []
        found: dict[str, set[str]] = {}
        scanning = submit_scan(scan, texts)  # in worker processes when they are on
        known_spans = known.spans_many(texts)
        for text, spans, findings in zip(texts, known_spans, scanning.result(), strict=True):
            taken = [(start, end) for start, end, *_ in spans]
            for start, end, kind, _ in winners(findings, taken):
                original = text[start:end]
                spans.append((start, end, kind, original))
                found.setdefault(kind, set()).add(original)
            spans_per_text.append(spans)
        fakes = {
            kind: self._fakes(kind, sorted(originals), ctx) for kind, originals in found.items()
        }
        out = []
        for text, spans in zip(texts, spans_per_text, strict=True):
            if not spans:
                out.append(text)
                continue
            pieces: list[str] = []
            end = len(text)
            for start, stop, entity, original in sorted(spans, reverse=True):
                replacement = known.lookup[original] if entity is None else fakes[entity][original]
                pieces += (text[stop:end], replacement)
                end = start
            pieces.append(text[:end])
            out.append("".join(reversed(pieces)))
        return pa.array(out, unique.type)

    def _fakes(self, kind: str, originals: list[str], ctx: MaskContext) -> dict[str, str]:
        """Deterministic fakes of one entity type, made in one vectorised call."""
        from anonymiser.maskers.base import get_strategy

        strategy, params = _FAKES.get(kind, ("pattern", {}))
        masker = get_strategy(strategy)(params, self.column)
        masked = masker.mask(
            pa.array(originals, pa.string()), ctx.derive(namespace=f"{ctx.namespace}/{kind}")
        )
        return dict(zip(originals, masked.to_pylist(), strict=True))


# The known values' index of the snapshot being masked, shared by every free-text column
# (masked in threads at once): at 1M demo rows it holds ~1.8M values, so it is built once,
# not once per column. It is kept with the mapping it was built from (compared by identity,
# so an id reused after that mapping is gone cannot match) until another snapshot's mapping
# replaces it, or the mask stage releases it.
_shared_known: list[tuple[Mapping[str, Mapping[str, str]], KnownValues]] = []
_shared_lock = threading.Lock()


def _known_values(known: Mapping[str, Mapping[str, str]]) -> KnownValues:
    with _shared_lock:  # a second column waits for the first one's index instead of building
        if _shared_known and _shared_known[0][0] is known:
            return _shared_known[0][1]
        _shared_known.clear()  # the previous snapshot's index goes before this one is built
        values = KnownValues(known)
        _shared_known.append((known, values))
        return values


def release_known_values() -> None:
    """Drop the shared index (the mask stage is done with it)."""
    with _shared_lock:
        _shared_known.clear()


# a word with its leading run of word characters: the same spans as _WORD (the first \w+
# is as long as it can be, then the rest reaches the last word character _WORD reaches)
_WORD_LEAD = re.compile(r"(\w+)(?:[\w@.+'\u2019-]*\w)?")
_LEAD = re.compile(r"\w+")
Span = tuple[int, int, str | None, str]


class KnownValues:
    """Known original values (case and spacing aside) -> pseudonym, and where they occur in text.

    A value can only begin where a word of the text begins with the value's leading run of
    word characters ("jane" for "Jane Smith" and "jane.smith@example.com", "07700" for
    "07700 900123"). Those leads are few (first names, the local parts' first words, number
    prefixes), so each word's lead is looked up in a set, and only where it is one are the
    runs of up to four words from there looked up in the dictionary of values. The index
    costs the dictionary itself: no automaton over the values' characters.
    """

    def __init__(self, known: Mapping[str, Mapping[str, str]]) -> None:
        # a value that is its own normal form (an email address, a number) is kept as the
        # same string object, not a copy: millions of them at scale
        self.lookup = {
            original if (normal := _normal(original)) == original else normal: pseudonym
            for mapping in known.values()
            for original, pseudonym in mapping.items()
            if original
        }
        # None: values whose normal form begins with no word character (a word folding so)
        self._leads = frozenset(_lead(value) for value in self.lookup)

    def spans(self, text: str) -> list[Span]:
        """Spans of `text` equal (case and spacing aside) to a known value, longest first:
        from each word on, the longest run of up to four words that is a known value."""
        if not self.lookup:
            return []
        if text.isascii():
            # its case-folded form is its lower-cased self, position for position: the
            # words, their leads and the candidates are read from that
            lower = text.lower()
            matches = list(_WORD_LEAD.finditer(lower))
            begins = [m.group(1) in self._leads for m in matches]
            # where the whitespace is single spaces, a run of words is its own normal form
            spaced = " ".join(lower.split()) == lower
            return self._longest_runs(lower, matches, begins, normalise=not spaced)
        matches = list(_WORD.finditer(text))
        begins = [self._may_begin(text, m.group(), m.end()) for m in matches]
        return self._longest_runs(text, matches, begins, normalise=True)

    def spans_many(self, texts: Sequence[str]) -> list[list[Span]]:
        """spans() of each text."""
        return [self.spans(text) for text in texts]

    def _longest_runs(
        self, text: str, words: Sequence[re.Match[str]], begins: Sequence[bool], normalise: bool
    ) -> list[Span]:
        """From each word that may begin a known value, the longest run of words (up to
        four) whose normal form is one; the search goes on after that run."""
        spans: list[Span] = []
        i = 0
        while i < len(words):
            if begins[i]:
                start = words[i].start()
                for n in range(min(_LONGEST_KNOWN, len(words) - i), 0, -1):
                    end = words[i + n - 1].end()
                    candidate = _normal(text[start:end]) if normalise else text[start:end]
                    if candidate in self.lookup:
                        spans.append((start, end, None, candidate))
                        i += n - 1
                        break
            i += 1
        return spans

    def _may_begin(self, text: str, word: str, end: int) -> bool:
        """Whether a known value's normal form can begin with `word` (ending at `end`).

        A run of words from `word` on has the lead of the case-folded word, unless that is
        all word characters and the character after it folds to one (then: maybe).
        """
        folded = word.casefold()
        lead = _lead(folded)
        if lead != folded:
            return lead in self._leads
        after = text[end : end + 1].casefold()[:1]
        if after and _LEAD.match(after) is not None:
            return True  # the lead of a longer run goes on past the word
        return folded in self._leads


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())


def _lead(value: str) -> str | None:
    """The run of word characters `value` begins with (None: it begins with another)."""
    match = _LEAD.match(value)
    return None if match is None else match.group()
