"""The offline Presidio AnalyzerEngine: predefined English recognizers, nothing downloaded."""

from __future__ import annotations

import functools
import logging
from typing import Any

__all__ = ["analyzer"]


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

    @functools.lru_cache(maxsize=65536)
    def known_domain(domain: str) -> bool:  # ~15 us a call; a column has few domains
        return bool(offline_suffixes(domain).fqdn)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return known_domain(pattern_text.rsplit("@", 1)[-1])

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
