"""presidio: free-text scrubbing, fully offline; each entity found becomes a deterministic fake.

Presidio's default NLP engine downloads en_core_web_lg on first use. This one never downloads:
it runs a blank spaCy pipeline (tokenizer only) with Presidio's pattern recognizers (emails,
phones, cards, IBANs, URLs, IPs, UK NINO, NHS numbers, postcodes), or a named spaCy model when
that model is installed. Names have no pattern: they are found through `ctx.known`, the values
masked in structured columns of the same snapshot, and get the same pseudonym as there.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa

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


@functools.lru_cache(maxsize=4)
def analyzer(model: str | None = None) -> Any:
    """An AnalyzerEngine that cannot download anything (blank spaCy unless `model` is installed)."""
    import spacy
    import tldextract
    from presidio_analyzer import AnalyzerEngine, Pattern, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        EmailRecognizer,
        UkNinoRecognizer,
        UkPostcodeRecognizer,
    )

    # Presidio's email check calls tldextract, which fetches the public suffix list over the
    # network; this one reads the snapshot bundled with tldextract instead
    offline_suffixes = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return bool(offline_suffixes(pattern_text.rsplit("@", 1)[-1]).fqdn)

    class OfflineSpacyEngine(SpacyNlpEngine):
        def load(self) -> None:
            if model is not None and spacy.util.is_package(model):
                pipeline = spacy.load(model)
            else:
                pipeline = spacy.blank("en")
            self.nlp = {"en": pipeline}  # type: ignore[assignment]

    engine = OfflineSpacyEngine(models=[{"lang_code": "en", "model_name": model or "blank"}])
    engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    # loading warns once per recognizer of another language (es, it, pl ...): not news
    loader_log = logging.getLogger("presidio-analyzer")
    level = loader_log.level
    loader_log.setLevel(logging.ERROR)
    try:
        registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
    finally:
        loader_log.setLevel(level)
    registry.remove_recognizer("EmailRecognizer")
    registry.add_recognizer(OfflineEmailRecognizer())
    registry.add_recognizer(UkNinoRecognizer())
    # Presidio scores a bare postcode 0.1 (many short codes look alike); in our free text a
    # postcode-shaped token is worth replacing
    postcode = UkPostcodeRecognizer.PATTERNS[0]
    registry.add_recognizer(
        UkPostcodeRecognizer(patterns=[Pattern(postcode.name, postcode.regex, 0.5)])
    )
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])


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
        self._known: tuple[int, dict[str, str]] = (0, {})
        return text_problem(self.name, column)

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        return map_unique(values, lambda unique: self._scrub(unique, ctx))

    def _known_lookup(self, known: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
        if self._known[0] != id(known):
            merged = {
                " ".join(original.casefold().split()): pseudonym
                for mapping in known.values()
                for original, pseudonym in mapping.items()
                if original
            }
            self._known = (id(known), merged)
        return self._known[1]

    def _scrub(self, unique: pa.Array, ctx: MaskContext) -> pa.Array:
        engine = analyzer(self.options["model"])
        lookup = self._known_lookup(ctx.known)
        entities = list(self.options["entities"])
        texts: list[str] = unique.to_pylist()
        spans_per_text: list[list[tuple[int, int, str | None, str]]] = []
        found: dict[str, set[str]] = {}
        for text in texts:
            spans = _known_spans(text, lookup)
            results = (
                engine.analyze(
                    text,
                    language="en",
                    entities=entities,
                    score_threshold=self.options["threshold"],
                )
                if text.strip()
                else []
            )
            for result in sorted(results, key=lambda r: (-r.score, r.start - r.end)):
                if any(result.start < end and start < result.end for start, end, *_ in spans):
                    continue
                original = text[result.start : result.end]
                spans.append((result.start, result.end, result.entity_type, original))
                found.setdefault(result.entity_type, set()).add(original)
            spans_per_text.append(spans)
        fakes = {
            kind: self._fakes(kind, sorted(originals), ctx) for kind, originals in found.items()
        }
        out = []
        for text, spans in zip(texts, spans_per_text, strict=True):
            for start, end, kind, original in sorted(spans, reverse=True):
                replacement = lookup[original] if kind is None else fakes[kind][original]
                text = text[:start] + replacement + text[end:]
            out.append(text)
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


def _known_spans(text: str, lookup: Mapping[str, str]) -> list[tuple[int, int, str | None, str]]:
    """Spans of `text` equal (case and spacing aside) to a known original value."""
    if not lookup:
        return []
    words = list(_WORD.finditer(text))
    spans: list[tuple[int, int, str | None, str]] = []
    i = 0
    while i < len(words):
        for n in range(min(_LONGEST_KNOWN, len(words) - i), 0, -1):
            start, end = words[i].start(), words[i + n - 1].end()
            candidate = " ".join(text[start:end].casefold().split())
            if candidate in lookup:
                spans.append((start, end, None, candidate))
                i += n
                break
        else:
            i += 1
    return spans
