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
from collections.abc import Collection, Container, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from anonymiser.maskers._scan import analyzer, scanner, winners
from anonymiser.maskers._vector import text_problem
from anonymiser.maskers._windows import SEPARATOR
from anonymiser.maskers.base import (
    ColumnSpec,
    MaskContext,
    Param,
    RuleError,
    Strategy,
    map_unique,
    register,
)

__all__ = ["DEFAULT_ENTITIES", "Presidio", "analyzer"]

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
        for text, spans, findings in zip(
            texts, known.spans_many(texts), scan.scan_many(texts), strict=True
        ):
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
# (masked in threads at once): at 1M demo rows it holds ~1.8M values, ~0.9 GiB and tens of
# seconds to build, so it is built once, not once per column. It is kept with the mapping it
# was built from (compared by identity, so an id reused after that mapping is gone cannot
# match) until another snapshot's mapping replaces it.
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


class KnownValues:
    """Known original values (case and spacing aside) -> pseudonym, and where they occur in text.

    One Aho-Corasick automaton over all known values tells, in one pass over a text, which
    can occur in it; only then are its word sequences looked up, and only from words that
    begin one of those values. spans_many() makes one pass over many texts.
    """

    def __init__(self, known: Mapping[str, Mapping[str, str]]) -> None:
        import ahocorasick

        self.lookup = {
            _normal(original): pseudonym
            for mapping in known.values()
            for original, pseudonym in mapping.items()
            if original
        }
        self._automaton: Any = None
        if self.lookup:
            self._automaton = ahocorasick.Automaton()
            for value in self.lookup:
                self._automaton.add_word(value, value)
            self._automaton.make_automaton()
        # texts are joined by NUL to be searched at once: no known value may hold one
        self._joinable = not any(SEPARATOR in value for value in self.lookup)

    def spans(self, text: str) -> list[tuple[int, int, str | None, str]]:
        """Spans of `text` equal (case and spacing aside) to a known value, longest first."""
        # a known value in the text is a substring of the text's own normal form
        if self._automaton is None or next(self._automaton.iter(_normal(text)), None) is None:
            return []
        return self._spans(text, self.lookup, None)

    def spans_many(self, texts: Sequence[str]) -> list[list[tuple[int, int, str | None, str]]]:
        """spans() of each text, the known values in them found in one pass over all texts.

        Where a text's normal form is its case-folded self, character for character (single
        spaces, case folding that keeps lengths), a word sequence's normal form is the same
        stretch of it: a candidate is known exactly where a known value was found at its
        start and end. Other texts look up the word sequences beginning like a value found.
        """
        if self._automaton is None or not self._joinable or not texts:
            return [self.spans(text) for text in texts]
        folded = [text.casefold() for text in texts]
        normals = [" ".join(f.split()) for f in folded]
        ends = np.cumsum(np.fromiter((len(n) + 1 for n in normals), np.int64, len(normals)))
        hits = list(self._automaton.iter(SEPARATOR.join(normals)))
        found: list[dict[int, dict[int, str]]] = [{} for _ in texts]  # start -> end -> value
        if hits:
            last = np.fromiter((e for e, _ in hits), np.int64, len(hits))
            where = np.searchsorted(ends, last, "right")
            offset = np.concatenate(([0], ends))[where]
            for i, end, (_, value) in zip(
                where.tolist(), (last - offset + 1).tolist(), hits, strict=True
            ):
                found[i].setdefault(end - len(value), {})[end] = value
        out: list[list[tuple[int, int, str | None, str]]] = []
        for text, fold, normal, at in zip(texts, folded, normals, found, strict=True):
            if not at:
                out.append([])
            elif normal == fold and len(fold) == len(text):
                out.append(_spans_at(text, at))
            else:
                values = {value for ends_at in at.values() for value in ends_at.values()}
                out.append(self._spans(text, values, values))
        return out

    def _spans(
        self, text: str, values: Container[str], starts: Collection[str] | None
    ) -> list[tuple[int, int, str | None, str]]:
        """The word sequences of `text` whose normal form is one of `values`; with `starts`,
        only those beginning a word with which one of `starts` begins."""
        words = list(_WORD.finditer(text))
        spans: list[tuple[int, int, str | None, str]] = []
        i = 0
        while i < len(words):
            # a candidate's normal form begins with its first word, case-folded
            if starts is not None:
                first = words[i].group().casefold()
                if not any(value.startswith(first) for value in starts):
                    i += 1
                    continue
            for n in range(min(_LONGEST_KNOWN, len(words) - i), 0, -1):
                start, end = words[i].start(), words[i + n - 1].end()
                candidate = _normal(text[start:end])
                if candidate in values:
                    spans.append((start, end, None, candidate))
                    i += n
                    break
            else:
                i += 1
        return spans


def _spans_at(text: str, at: dict[int, dict[int, str]]) -> list[tuple[int, int, str | None, str]]:
    """KnownValues._spans() of a text that is its own normal form (case aside), given the
    known values found in it: start -> end -> value."""
    words = [m.span() for m in _WORD.finditer(text)]
    spans: list[tuple[int, int, str | None, str]] = []
    i = 0
    while i < len(words):
        ends = at.get(words[i][0])
        if ends is not None:
            for n in range(min(_LONGEST_KNOWN, len(words) - i), 0, -1):
                end = words[i + n - 1][1]
                if end in ends:
                    spans.append((words[i][0], end, None, ends[end]))
                    i += n
                    break
            else:
                i += 1
        else:
            i += 1
    return spans


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())
