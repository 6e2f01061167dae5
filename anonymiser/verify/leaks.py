"""Leak check: no original value of a masked column survives anywhere in the masked output.

Which originals: those of every column whose strategy replaces identity (fake, hash,
pattern, redact, partial, null, constant, and the leaves/elements json and array rules
replace): `Strategy.leak_checked`. Not those of keep, date_shift, date_generalise and
generalise, whose output legitimately equals other rows' originals (1990-01-01, "SW1A"), nor
presidio's whole texts (a note without personal data is rightly left as it was; its free text
is re-scanned by anonymiser.verify.rescan instead). Originals shorter than
`leak_min_length` characters are ignored, and so are originals that masking itself produced
somewhere (a fake first name "Olivia" for one person is another person's real first name):
such a value in the output cannot be told from a pseudonym, and a lone common value does
not identify anyone.

Where: every text, integer and bytea column of every table (bytea as PostgreSQL's hex text;
floats and booleans are not searched), case-insensitively, surrounding whitespace ignored.
Every original counts as a whole value; one that is not a single word of letters (emails,
phone numbers, full names, addresses, codes with digits) also as whole words inside a longer
text (free text, JSON documents, array literals), in its JSON-escaped forms too
("zo\\u00eb", "line\\nbreak"). A lone first name or surname inside text is too ambiguous
to call a leak, and so is an original found inside some pseudonym ("olivia" in a fake
"olivia.hart@example.org"). Columns kept with `public: true` (a public register) are not
searched: an organisation's address that equals a person's home address there is a
coincidence the reviewer accepted.
One index (anonymiser.verify.wordsearch: hashes of every original, NumPy) finds every
original in each batch of a column at once, so Python only sees matches, never rows.
Memory: the distinct originals and pseudonyms of the masked columns, plus one batch.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers.base import Strategy
from anonymiser.parallel import in_threads
from anonymiser.rules.lint import ColumnPlan
from anonymiser.stages.extract import ExtractedTable
from anonymiser.verify.model import CheckResult, VerificationReport, VerifySettings
from anonymiser.verify.output import BATCH_ROWS, Output, as_array, pg_text
from anonymiser.verify.wordsearch import WordIndex, expand_ranges, sorted_unique

__all__ = ["LeakPatterns", "check_leaks", "find_in", "json_forms", "matches", "searchable"]

_MERGE_AT = 1 << 20  # merge pending distinct values once this many are held


def searchable(dtype: pa.DataType) -> bool:
    """Columns an original can hide in: text (JSON, arrays, free text ...), integers, bytea.

    Not floats nor booleans (a documented gap): two booleans, or a measurement's digits,
    turn up by chance far more often than as a leak.
    """
    return bool(
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_integer(dtype)
        or pa.types.is_binary(dtype)
        or pa.types.is_large_binary(dtype)
    )


def _normalised(values: pa.Array, min_length: int) -> pa.Array:
    """Distinct values as text, surrounding whitespace stripped, of at least `min_length`.

    Case is kept: the JSON-escaped forms (LeakPatterns.add) of "É" and "é" differ.
    """
    # bytea compares as PostgreSQL's hex text (\x0aff): a copied value is found in a bytea
    # column and in text that holds it the way PostgreSQL prints it
    text = as_array(pc.utf8_trim_whitespace(pg_text(values))).drop_null()
    return as_array(pc.unique(text.filter(pc.greater_equal(pc.utf8_length(text), min_length))))


def json_forms(value: str) -> set[str]:
    """How `value` can be written inside a JSON document, other than as itself.

    PostgreSQL's json output and Python's json.dumps escape the same characters (quote,
    backslash, control characters); an application may also escape every non-ASCII one.
    """
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return set()  # the common case, without a json.dumps
    forms = {json.dumps(value, ensure_ascii=ascii)[1:-1] for ascii in (False, True)}
    forms.discard(value)
    return forms


def _distinct(pieces: list[pa.Array]) -> pa.Array:
    if not pieces:
        return pa.array([], pa.string())
    return as_array(pc.unique(pa.concat_arrays(pieces)))


def _collapse(pieces: list[pa.Array]) -> None:
    """Merge pending distinct values once they outgrow the merged ones (and _MERGE_AT), so
    the merges cost about as much as the values (merging on every batch is quadratic)."""
    pending = sum(map(len, pieces[1:]))
    if len(pieces) > 1 and pending > max(_MERGE_AT, len(pieces[0])):
        pieces[:] = [_distinct(pieces)]


_LETTERS = re.compile(r"[^\W\d_]+")


@dataclass
class LeakPatterns:
    """The originals searched for, each labelled with the masked column it came from."""

    sources: list[tuple[str, str, str]] = field(default_factory=list)  # table, column, rule
    counts: list[int] = field(default_factory=list)  # originals searched per source
    keys: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))  # distinct
    compound: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    excluded: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    # pattern p is held by sources owner_sources[owner_offsets[p]:owner_offsets[p + 1]]
    owner_offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    owner_sources: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _added: list[pa.Array] = field(default_factory=list)
    _originals: list[int] = field(default_factory=list)  # of each _added, the first n are
    _index: WordIndex | None = None  # the patterns not excluded

    @property
    def empty(self) -> bool:
        return self._index is None

    def add(self, source: tuple[str, str, str], originals: pa.Array) -> None:
        """Search for each of `originals` (lower-cased), and for its JSON-escaped forms."""
        self.sources.append(source)
        values = as_array(originals).cast(pa.string())
        # only values with a quote, a backslash or a non-printable or non-ASCII character
        # have other forms inside a JSON document ("zo\u00eb", "line\nbreak")
        odd = values.filter(pc.match_substring_regex(values, r'[^\x20-\x7e]|["\\]'))
        escaped = sorted({form for value in odd.to_pylist() for form in json_forms(value)})
        self._originals.append(len(values))  # the escaped forms are not counted as checked
        if escaped:
            values = pa.concat_arrays([values, pa.array(escaped, pa.string())])
        self._added.append(as_array(pc.utf8_lower(values)))

    def owners(self, pattern: int) -> list[int]:
        """The sources (masked columns) holding this original."""
        first, stop = self.owner_offsets[pattern], self.owner_offsets[pattern + 1]
        return [int(s) for s in self.owner_sources[first:stop]]

    def freeze(self, produced: pa.Array) -> None:
        """Index the originals; drop those equal to, or a word inside, a produced value."""
        sizes = [len(a) for a in self._added]
        every = pa.concat_arrays(self._added) if self._added else pa.array([], pa.string())
        # an FK child or a copy holds the same originals: one pattern, several owners
        encoded = pc.dictionary_encode(every)
        self.keys = encoded.dictionary
        pattern = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        source = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
        pairs = sorted_unique(pattern * max(1, len(sizes)) + source)
        owned, self.owner_sources = pairs // max(1, len(sizes)), pairs % max(1, len(sizes))
        self.owner_offsets = np.searchsorted(owned, np.arange(len(self.keys) + 1))
        self.compound = _compound(self.keys)
        self.excluded = np.zeros(len(self.keys), dtype=bool)
        if len(self.keys):
            self._index = WordIndex(self.keys)
            for start in range(0, len(produced), BATCH_ROWS):
                _, found, _ = self._index.find(_lowered(produced.slice(start, BATCH_ROWS)))
                self.excluded[found] = True
            self._index.drop(np.flatnonzero(self.excluded))
        # checked per source: its distinct originals not excluded (JSON-escaped forms aside)
        real = np.concatenate(
            [np.zeros(0, dtype=bool)]
            + [np.arange(size) < n for size, n in zip(sizes, self._originals, strict=True)]
        )
        counted = sorted_unique(pattern[real] * max(1, len(sizes)) + source[real])
        counted = counted[~self.excluded[counted // max(1, len(sizes))]]
        self.counts = np.bincount(
            counted % max(1, len(sizes)), minlength=len(self.sources)
        ).tolist()
        self._added, self._originals = [], []


def _compound(keys: pa.Array) -> np.ndarray:
    """Patterns searched inside text too: all but one word of letters ("olivia", "smith")."""
    ascii_word = pc.match_substring_regex(keys, "^[A-Za-z]+$").to_numpy(zero_copy_only=False)
    ascii_only = pc.string_is_ascii(keys).to_numpy(zero_copy_only=False)
    compound = ~ascii_word
    for at in np.flatnonzero(~ascii_only):
        compound[at] = not _LETTERS.fullmatch(keys[at].as_py())
    return np.asarray(compound, dtype=bool)


def _lowered(values: pa.Array) -> pa.Array:
    """Values as searched: PostgreSQL's text (bytea as hex), lower case, a whole value but
    for surrounding whitespace (originals are stripped too)."""
    return as_array(pc.utf8_lower(pc.utf8_trim_whitespace(pg_text(values))))


def matches(
    patterns: LeakPatterns, values: pa.Array, *, every_word: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, pattern, whole value?) arrays of the whole-word occurrences of patterns in
    `values`. A single-word pattern counts only as a whole value, unless `every_word`."""
    empty = np.zeros(0, dtype=np.int64)
    if patterns._index is None:
        return empty, empty, np.zeros(0, dtype=bool)
    # each distinct value is searched once (kept columns, fake names, redacted text repeat)
    encoded = pc.dictionary_encode(as_array(values))
    at, found, whole = patterns._index.find(_lowered(encoded.dictionary))
    keep = whole | every_word | patterns.compound[found]
    at, found, whole = at[keep], found[keep], whole[keep]
    if not len(at):
        return empty, empty, np.zeros(0, dtype=bool)
    # the rows holding each distinct value found: rows sorted by value, a range per value
    index = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    order = np.argsort(index, kind="stable")
    first = np.searchsorted(index[order], at, side="left")
    last = np.searchsorted(index[order], at, side="right")
    hit, position = expand_ranges(first, last)
    return order[position], found[hit], whole[hit]


def find_in(
    patterns: LeakPatterns, values: pa.Array, *, every_word: bool = False
) -> Iterator[tuple[int, int, bool]]:
    """(row, pattern, whole value?) of each whole-word occurrence of a pattern in `values`."""
    rows, found, whole = matches(patterns, values, every_word=every_word)
    yield from zip(rows.tolist(), found.tolist(), whole.tolist(), strict=True)


def _strategy_values(plan: ColumnPlan, values: pa.Array) -> pa.Array | None:
    found = plan.strategy.originals(as_array(values))
    return None if found is None else as_array(found)


def _produced(
    plan: ColumnPlan, before: pa.Array, after: pa.Array, found: pa.Array | None
) -> pa.Array | None:
    """What masking wrote into these rows: never a value the same row held before.

    So an original left in place (a masker that skipped a row) is not mistaken for a
    pseudonym. Nested values (JSON leaves, array elements) are compared per batch.
    `found` is _strategy_values of `before`, reused when every row changed.
    """
    before, after = as_array(before), as_array(after)
    changed = pc.fill_null(pc.not_equal(before, after), True)
    every = pc.all(changed).as_py() is not False
    made = _strategy_values(plan, after if every else after.filter(changed))
    if made is None or type(plan.strategy).originals is Strategy.originals:
        return made
    was = found if every else _strategy_values(plan, before.filter(changed))
    return made if was is None else made.filter(pc.invert(pc.is_in(made, value_set=was)))


def collect_patterns(output: Output, min_length: int, jobs: int = 1) -> LeakPatterns:
    """The originals of leak-checked masked columns, minus every value masking produced."""
    patterns = LeakPatterns()
    if output.plan is None:
        return patterns
    chosen = [p for p in output.plan.columns.values() if p.masks and p.strategy.leak_checked]
    units = [
        (plan, item)
        for plan in chosen
        for item in output.tables
        if output.plan.roots.get(item.table.qualified) == plan.table
    ]
    found = in_threads(lambda unit: _column_values(output, *unit, min_length), units, jobs)
    originals: dict[tuple[str, str], list[pa.Array]] = {}
    produced: list[pa.Array] = []
    for (plan, _), (values, made) in zip(units, found, strict=True):
        originals.setdefault((plan.table, plan.column), []).append(values)
        produced.append(made)
        _collapse(produced)
    for plan in chosen:
        values = _distinct(originals.get((plan.table, plan.column), []))
        patterns.add((plan.table, plan.column, plan.rule.strategy), values)
    patterns.freeze(_distinct(produced))
    return patterns


def _column_values(
    output: Output, plan: ColumnPlan, item: ExtractedTable, min_length: int
) -> tuple[pa.Array, pa.Array]:
    """Distinct originals of one masked column in one data table, and what masking wrote."""
    pieces: list[pa.Array] = []
    produced: list[pa.Array] = []
    for before, after in output.paired_batches(item, [plan.column]):
        found = _strategy_values(plan, before.column(0))
        if found is not None and len(found):
            pieces.append(_normalised(found, min_length))
        made = _produced(plan, before.column(0), after.column(0), found)
        if made is not None and len(made):
            produced.append(_normalised(made, 1))
        _collapse(pieces)
        _collapse(produced)
    return _distinct(pieces), _distinct(produced)


def _searched_columns(output: Output, item: ExtractedTable) -> list[str]:
    """Every stored column but those whose rule declares public values (keep, public: true)."""
    rules = output.rules(item.table)
    return [
        c.name
        for c in item.table.copy_columns
        if not (c.name in rules and rules[c.name].strategy.options.get("public"))
    ]


def check_leaks(
    output: Output, report: VerificationReport, settings: VerifySettings, jobs: int = 1
) -> None:
    """One result per masked column: output rows (any table) holding one of its originals.

    `jobs` tables are read and searched at once, in threads (the search is NumPy).
    """
    started = time.monotonic()
    patterns = collect_patterns(output, settings.leak_min_length, jobs)
    results = [
        CheckResult("leak", table, column, rule, checked=count)
        for (table, column, rule), count in zip(patterns.sources, patterns.counts, strict=True)
    ]
    where: list[dict[str, int]] = [{} for _ in results]
    if not patterns.empty:
        found = in_threads(lambda item: _search_table(output, patterns, item), output.tables, jobs)
        for source, label, count in (hit for hits in found for hit in hits):
            where[source][label] = where[source].get(label, 0) + count
            results[source].failures += count
    for result, places in zip(results, where, strict=True):
        if places:
            result.detail = "original values found in " + ", ".join(
                f"{label} ({rows} rows)" for label, rows in sorted(places.items())
            )
        result.seconds = (time.monotonic() - started) / max(1, len(results))
        report.add(result)


def _search_table(
    output: Output, patterns: LeakPatterns, item: ExtractedTable
) -> list[tuple[int, str, int]]:
    """(source, "table.column", rows) for the originals found in one table's output."""
    out: list[tuple[int, str, int]] = []
    paths = output.masked_paths(item)
    names = _searched_columns(output, item)
    for batch in output.batches(paths, names):
        for name in names:
            values = batch.column(name)
            if not searchable(values.type) or values.null_count == len(values):
                continue
            rows, found, _ = matches(patterns, values)
            if not len(rows):
                continue
            # every (source, row) once: a row holding two originals of one column counts
            # once for it
            owner, at = expand_ranges(
                patterns.owner_offsets[found], patterns.owner_offsets[found + 1]
            )
            hit = sorted_unique(patterns.owner_sources[at] * len(values) + rows[owner])
            label = f"{item.table.qualified}.{name}"
            counts = np.bincount(hit // len(values))
            out += [(int(s), label, int(counts[s])) for s in np.flatnonzero(counts)]
    return out
