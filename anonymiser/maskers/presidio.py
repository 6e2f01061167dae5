"""presidio: free-text scrubbing, fully offline; each entity found becomes a deterministic fake.

Presidio's default NLP engine downloads en_core_web_lg on first use. This one never downloads:
it runs a blank spaCy pipeline (tokenizer only) with Presidio's pattern recognizers (emails,
phones, cards, IBANs, URLs, IPs, UK NINO, NHS numbers, postcodes), or a named spaCy model when
that model is installed (anonymiser.maskers._engine: the engine; anonymiser.maskers._scan: a
fast scanner giving the same findings). Names have no pattern: they are found through
`ctx.known`, the values masked in structured columns of the same snapshot, and get the same
pseudonym as there.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa

from anonymiser.maskers._engine import analyzer
from anonymiser.maskers._fixedpoints import remask_fixed_points
from anonymiser.maskers._known import KnownValues, Span
from anonymiser.maskers._knownpairs import KnownPairs
from anonymiser.maskers._scan import winners
from anonymiser.maskers._scanpool import ScanJob, submit_scan
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

_PART_TEXTS = 32 * 1024  # distinct texts scrubbed at a time


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
        """The distinct texts scrubbed _PART_TEXTS at a time: the Python objects of a part
        (texts, findings, spans) are what bounds memory; the next part is being scanned
        (in worker processes when they are on) while one is spliced."""
        if not len(unique):
            return unique  # no text: neither a scanner nor an index built for nothing
        options = self.options
        # the scanner is built where texts are scanned: in worker processes when they are on
        config = (options["model"], tuple(options["entities"]), options["threshold"])
        known = _known_values(ctx.known)
        parts = [unique.slice(at, _PART_TEXTS) for at in range(0, len(unique), _PART_TEXTS)]
        out = []
        texts: list[str] = parts[0].to_pylist()
        scanning = submit_scan(config, texts)
        for number, part in enumerate(parts):
            following: list[str] = parts[number + 1].to_pylist() if number + 1 < len(parts) else []
            queued = submit_scan(config, following) if following else None
            out.append(self._scrub_part(part, texts, scanning, known, ctx))
            if queued is not None:
                texts, scanning = following, queued
        return pa.concat_arrays(out)

    def _scrub_part(
        self,
        unique: pa.Array,
        texts: list[str],
        scanning: ScanJob,
        known: KnownValues,
        ctx: MaskContext,
    ) -> pa.Array:
        spans_per_text: list[list[Span]] = []
        found: dict[str, set[str]] = {}
        known_spans = known.spans_many(unique)
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
            for start, stop, entity, found_text in sorted(spans, reverse=True):
                # a known value's span carries its pseudonym, a finding its original
                replacement = found_text if entity is None else fakes[entity][found_text]
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
        values = pa.array(originals, pa.string())
        ctx = ctx.derive(namespace=f"{ctx.namespace}/{kind}")
        # a fake that is the finding itself, case aside (the verify stage compares lower-cased
        # text), is masked again
        masked = remask_fixed_points(masker, values, masker.mask(values, ctx), ctx, fold=True)
        return dict(zip(originals, masked.to_pylist(), strict=True))


# The known values' index of the snapshot being masked, shared by every free-text column
# (masked in threads at once): at 1M demo rows it holds ~1.8M values, so it is built once,
# not once per column. It is kept with the mapping it was built from (compared by identity,
# so an id reused after that mapping is gone cannot match) until another snapshot's mapping
# replaces it, or the mask stage releases it.
_shared_known: list[tuple[KnownPairs | Mapping[str, Mapping[str, str]], KnownValues]] = []
_shared_lock = threading.Lock()


def _known_values(known: KnownPairs | Mapping[str, Mapping[str, str]]) -> KnownValues:
    with _shared_lock:  # a second column waits for the first one's index instead of building
        if _shared_known and _shared_known[0][0] is known:
            return _shared_known[0][1]
        _shared_known.clear()  # the previous snapshot's index goes before this one is built
        pairs = known if isinstance(known, KnownPairs) else KnownPairs.from_mapping(known)
        values = KnownValues(pairs)
        _shared_known.append((known, values))
        return values


def release_known_values() -> None:
    """Drop the shared index (the mask stage is done with it)."""
    with _shared_lock:
        _shared_known.clear()
