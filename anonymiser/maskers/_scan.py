"""A fast scanner giving the same findings as the offline Presidio engine's analyze().

Presidio's analyze() runs spaCy over every text (a few hundred microseconds) to get the
lemmas its context enhancement looks at (a context word such as "phone" before a match raises
its score). Without an NER model the pipeline only tokenises and the enhancement is the one
thing it feeds. So the scanner calls the recognizers directly and skips spaCy and the
enhancement whenever they cannot change the outcome: a blank pipeline has no lemmas, so
nothing is boosted; and should a pipeline have lemmas, whenever every finding below the
threshold stays below it however it is boosted and, of overlapping findings, the winner is the
same whether or not either is boosted. Any other text (and every text when an NER model runs)
goes through analyze() itself.

scan_many() gives scan()'s findings for many texts at once, faster: each pattern regex is
tried only where it can match (anonymiser.maskers._windows), a recognizer runs only on the
texts holding a window of one of its patterns, and each phone candidate is decided for all
regions at once (anonymiser.maskers._phone). scan() stays the reference it is tested
against.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from anonymiser.maskers._engine import analyzer
from anonymiser.maskers._phone import phone_spans, phone_spans_once
from anonymiser.maskers._windows import (
    SEPARATOR,
    Window,
    find_windows,
    window_for,
    windowed_spans,
)

__all__ = ["Finding", "Scanner", "scanner", "winners"]

# (start, end, entity type, score)
Finding = tuple[int, int, str, float]
# every candidate python-phonenumbers tries holds a digit: a text without one has no phone
_DIGIT = re.compile(r"\d")
# per pattern of a recognizer, its window and the windows of one text where it can match
# (None: anywhere, the pattern has no window)
PatternWindows = list[tuple[Any, Sequence[tuple[int, int]] | None]]
# a recognizer to run on texts, its id, and per pattern its window and text number -> windows
# (None: a recognizer without windows)
_Run = tuple[Any, str, list[tuple[Window | None, Any]] | None]


def winners(findings: Iterable[Finding], taken: list[tuple[int, int]]) -> Iterable[Finding]:
    """The findings, best first, that overlap no span already taken (nor a better finding).

    A URL inside an email address is part of that address; `taken` grows as findings win.
    """
    for finding in findings:
        start, end = finding[0], finding[1]
        if any(start < other_end and other_start < end for other_start, other_end in taken):
            continue
        taken.append((start, end))
        yield finding


def _best_first(findings: Iterable[Finding]) -> list[Finding]:
    """Presidio's result order (type, start, longest, best), then best score and longest first.

    One sort: by best score and longest, ties in Presidio's order, where they share score and
    length (two findings that also share type and start are the same finding).
    """
    findings = list(findings)
    if len(findings) < 2:
        return findings
    return sorted(findings, key=lambda f: (-f[3], f[0] - f[1], f[2], f[0]))


def _outermost(findings: list[Finding]) -> list[Finding]:
    """As Presidio's remove_duplicates: a finding inside another of its type scored as high
    goes."""
    if len(findings) < 2 or len({f[2] for f in findings}) == len(findings):
        return findings  # no two of one type
    kept = []
    for f in findings:
        start, end, kind, score = f
        for g in findings:
            if g is not f and g[2] == kind and g[0] <= start and end <= g[1] and score <= g[3]:
                break
        else:
            kept.append(f)
    return kept


class Scanner:
    """Presidio's findings in a text at a threshold, for a set of entity types."""

    def __init__(self, model: str | None, entities: Sequence[str], threshold: float) -> None:
        import regex
        from presidio_analyzer import EntityRecognizer, PatternRecognizer
        from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
        from presidio_analyzer.predefined_recognizers import (
            IbanRecognizer,
            PhoneRecognizer,
            SpacyRecognizer,
        )

        self.engine = analyzer(model)
        self.config = (model, tuple(entities), threshold)  # scanner() builds the same one
        self.entities = list(entities)
        self.threshold = threshold
        recognizers = self.engine.registry.get_recognizers(language="en", entities=self.entities)
        pipeline = self.engine.nlp_engine.nlp["en"]
        self.direct = [r for r in recognizers if not isinstance(r, SpacyRecognizer)]
        self._ids = [(r, r.id) for r in self.direct]  # id is a property: read once
        # without pipeline components spaCy finds no entities and only feeds the enhancement
        self.fast = not pipeline.pipe_names and all(
            isinstance(r, PatternRecognizer | PhoneRecognizer)
            and type(r).enhance_using_context is EntityRecognizer.enhance_using_context
            for r in self.direct
        )
        enhancer = self.engine.context_aware_enhancer
        # the lemma enhancer compares context words with lemmas: a blank pipeline has none
        probe = self.engine.nlp_engine.process_text("call my phone number", "en")
        self._lemmas = any(probe.lemmas) or not isinstance(enhancer, LemmaContextAwareEnhancer)
        self._factor = float(enhancer.context_similarity_factor)
        self._floor = float(enhancer.min_score_with_context_similarity)
        self._boosted = {r.id: self._lemmas and bool(r.context) for r in self.direct}
        self._boosting = any(self._boosted.values())
        # Presidio's own phone recognizer (not a subclass): its matcher's work is remembered;
        # id -> entity type, score, regions, leniency
        self._phones: dict[str, tuple[str, float, tuple[str, ...], Any]] = {
            r.id: (r.supported_entities[0], r.SCORE, tuple(r.supported_regions), r.leniency)
            for r in self.direct
            if type(r) is PhoneRecognizer
        }
        # recognizers with Presidio's pattern loop: run here without its per-match bookkeeping
        # (timing, explanation objects), their regexes compiled once
        self._patterns: dict[str, list[tuple[Any, float]]] = {}
        self._checks: dict[str, tuple[Any, Any]] = {}
        for r in self.direct:
            if isinstance(r, PatternRecognizer) and type(r).analyze is PatternRecognizer.analyze:
                patterns: list[Any] = list(r.patterns)  # type: ignore[has-type]
                flags = r.global_regex_flags
                self._patterns[r.id] = [
                    (regex.compile(pattern.regex, flags=flags), pattern.score)
                    for pattern in patterns
                ]
                # PatternRecognizer's own validate_result and invalidate_result return None
                # (no change to a score): scan_many does not call them
                self._checks[r.id] = (
                    None
                    if type(r).validate_result is PatternRecognizer.validate_result
                    else r.validate_result,
                    None
                    if type(r).invalidate_result is PatternRecognizer.invalidate_result
                    else r.invalidate_result,
                )
        # where each pattern can match; Presidio's IBAN recognizer finds nothing where its
        # pattern does not match, so it is skipped on texts without a window of it
        self._windows: dict[str, list[Window | None]] = {}
        for r in self.direct:
            if r.id in self._patterns or type(r).analyze is IbanRecognizer.analyze:
                self._windows[r.id] = [window_for(p.regex) for p in r.patterns]

    def scan(self, text: str) -> list[Finding]:
        """The findings analyze() returns, best first (score, then length).

        The scores are those before context enhancement when it cannot change the outcome.
        """
        if not text.strip():
            return []
        if self.fast:
            found = self._direct(text)
            if found is not None:
                return found
        results = self.engine.analyze(
            text, language="en", entities=self.entities, score_threshold=self.threshold
        )
        return _best_first((r.start, r.end, r.entity_type, r.score) for r in results)

    def scan_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        """scan() of each text, the regexes' windows found for all texts at once."""
        if not self.fast:
            return [self.scan(text) for text in texts]
        lengths = np.fromiter((len(t) + 1 for t in texts), np.int64, len(texts))
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
        joined = SEPARATOR.join(texts)
        # window regex -> text number -> its windows there (patterns may share a window)
        per_regex = find_windows(
            [w for windows in self._windows.values() for w in windows if w is not None],
            texts,
            joined,
            starts,
        )
        # the recognizers to run on every text, and per text those to run on it alone: a
        # recognizer with a window regex for each pattern, on the texts with a window of one
        # (elsewhere none of its patterns matches: it finds nothing); each with, per pattern,
        # its window and text number -> windows (None: no window regex)
        everywhere: list[_Run] = []
        somewhere: list[list[_Run]] = [[] for _ in texts]
        for recognizer, rid in self._ids:
            windows = self._windows.get(rid)
            if windows is None:
                everywhere.append((recognizer, rid, None))
                continue
            pattern_windows = [
                (w, None if w is None else per_regex[w.regex.pattern]) for w in windows
            ]
            if any(w is None for w in windows):
                everywhere.append((recognizer, rid, pattern_windows))
                continue
            run = (recognizer, rid, pattern_windows)
            for i in set().union(*(per for _, per in pattern_windows if per is not None)):
                somewhere[i].append(run)
        out: list[list[Finding]] = []
        for i, text in enumerate(texts):
            if not text.strip():
                out.append([])
                continue
            runs = [
                (
                    recognizer,
                    rid,
                    None
                    if pattern_windows is None
                    else [
                        (w, None if per is None else per.get(i, ())) for w, per in pattern_windows
                    ],
                )
                for recognizer, rid, pattern_windows in (*everywhere, *somewhere[i])
            ]
            findings = self._direct(text, runs)
            out.append(self.scan(text) if findings is None else findings)
        return out

    def _ceiling(self, score: float, recognizer_id: str) -> float:
        """The highest score the context enhancement can give (same arithmetic as Presidio)."""
        if not self._boosted[recognizer_id]:
            return score
        return min(max(score + self._factor, self._floor), 1.0)

    def _direct(
        self, text: str, runs: Sequence[tuple[Any, str, PatternWindows | None]] | None = None
    ) -> list[Finding] | None:
        """The findings without spaCy, or None when context could change them.

        With `runs` (scan_many: the recognizers that can find something in this text, each
        with its patterns' windows there), the patterns are tried only there and phone
        candidates decided once for all regions; without, every recognizer runs as Presidio
        runs it (the reference).
        """
        batch = runs is not None
        ceilings: dict[Finding, float] = {}
        for recognizer, rid, where in (
            runs if runs is not None else [(r, rid, None) for r, rid in self._ids]
        ):
            if rid in self._phones:
                if _DIGIT.search(text) is None:
                    continue
                kind, score, regions, leniency = self._phones[rid]
                spans = phone_spans_once if batch else phone_spans
                found = [(start, end, kind, score) for start, end in spans(text, regions, leniency)]
            elif rid in self._patterns:
                checks = self._checks[rid] if batch else None
                found = _pattern_findings(recognizer, self._patterns[rid], text, where, checks)
            else:
                found = [
                    (r.start, r.end, r.entity_type, r.score)
                    for r in recognizer.analyze(text, self.entities, None)
                ]
            if batch and not self._boosting:
                # no score can rise: each finding's ceiling is its score
                ceilings.update((key, key[3]) for key in found if key[3] > 0)
                continue
            for key in found:
                if key[3] > 0:
                    ceiling = self._ceiling(key[3], rid)
                    ceilings[key] = max(ceilings.get(key, 0.0), ceiling)
        if batch and not self._boosting:
            # nothing below the threshold can rise over it, nor any winner change
            return _best_first(_outermost([f for f in ceilings if f[3] >= self.threshold]))
        kept = []
        for finding, ceiling in ceilings.items():
            if finding[3] >= self.threshold:
                kept.append((finding, ceiling))
            elif ceiling >= self.threshold:
                return None  # context might lift it over the threshold
        for i, (a, a_top) in enumerate(kept):
            for b, b_top in kept[i + 1 :]:
                if a[0] < b[1] and b[0] < a[1] and not _settled(a[3], a_top, b[3], b_top):
                    return None  # context might change which of the two wins
        return _best_first(_outermost([finding for finding, _ in kept]))


def _pattern_findings(
    recognizer: Any,
    patterns: list[tuple[Any, float]],
    text: str,
    windows: PatternWindows | None = None,
    checks: tuple[Any, Any] | None = None,
) -> list[Finding]:
    """PatternRecognizer.analyze(): each regex match, scored by the pattern or its validation.

    With `windows`, each pattern that has them is tried only there (same matches). With
    `checks`, the recognizer's validate_result and invalidate_result, None where it does not
    override them (they change no score).
    """
    kind = recognizer.supported_entities[0]
    validate, invalidate = (
        (recognizer.validate_result, recognizer.invalidate_result) if checks is None else checks
    )
    found = []
    for i, (compiled, pattern_score) in enumerate(patterns):
        window, where = (None, None) if windows is None else windows[i]
        if window is not None and not where:
            continue
        spans = (
            (m.span() for m in compiled.finditer(text, timeout=_regex_timeout()))
            if window is None or where is None
            else windowed_spans(compiled, window, text, where, _regex_timeout())
        )
        try:
            for start, end in spans:
                if start == end:
                    continue
                score = pattern_score
                valid = None if validate is None else validate(text[start:end])
                if valid is not None:
                    score = 1.0 if valid else 0.0
                if invalidate is not None and invalidate(text[start:end]):
                    score = 0.0
                if score > 0:
                    found.append((start, end, kind, score))
        except TimeoutError:  # as Presidio: a pattern that runs away is skipped
            continue
    return found


@functools.cache
def _regex_timeout() -> float:
    """Presidio's time limit for one regex over one text."""
    from presidio_analyzer.pattern_recognizer import REGEX_TIMEOUT_SECONDS

    return float(REGEX_TIMEOUT_SECONDS)


def _settled(a: float, a_top: float, b: float, b_top: float) -> bool:
    """Whether two scores compare the same way whatever context does to each."""
    return a > b_top or b > a_top or (a == a_top and b == b_top)


@functools.lru_cache(maxsize=16)
def scanner(model: str | None, entities: tuple[str, ...], threshold: float) -> Scanner:
    """A shared Scanner per configuration (the mask stage and the re-scan build the same)."""
    return Scanner(model, entities, threshold)
