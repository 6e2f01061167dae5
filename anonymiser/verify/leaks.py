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
One Aho-Corasick automaton (pyahocorasick, C) holds every original; each batch of a column
is searched as one string, so Python only sees matches, never rows. Memory: the distinct
originals and pseudonyms of the masked columns, plus one batch.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import ahocorasick
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers.base import Strategy, byte_view
from anonymiser.rules.lint import ColumnPlan
from anonymiser.stages.extract import ExtractedTable
from anonymiser.verify.model import CheckResult, VerificationReport, VerifySettings
from anonymiser.verify.output import BATCH_ROWS, Output, as_array, pg_text

__all__ = ["LeakPatterns", "check_leaks", "find_in", "json_forms", "searchable"]

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


_LETTERS = re.compile(r"[^\W\d_]+")


@dataclass
class LeakPatterns:
    """The originals searched for, each labelled with the masked column it came from."""

    automaton: ahocorasick.Automaton = field(default_factory=ahocorasick.Automaton)
    sources: list[tuple[str, str, str]] = field(default_factory=list)  # table, column, rule
    owners: list[list[int]] = field(default_factory=list)  # pattern -> the sources holding it
    compound: list[bool] = field(default_factory=list)  # pattern searched inside text too
    excluded: set[int] = field(default_factory=set)  # patterns masking itself produced
    members: list[list[int]] = field(default_factory=list)  # source -> its patterns
    counts: list[int] = field(default_factory=list)  # originals searched per source

    @property
    def empty(self) -> bool:
        return len(self.automaton) == 0

    def add(self, source: tuple[str, str, str], originals: pa.Array) -> None:
        """Search for each of `originals` (lower-cased), and for its JSON-escaped forms."""
        self.sources.append(source)
        owner = len(self.sources) - 1
        members: dict[int, None] = {}  # ordered set: "Jane" and "jane" are one pattern
        for value in originals.to_pylist():
            key = value.lower()
            if key in self.automaton:  # an FK child or a copy holds the same originals
                pattern = self.automaton.get(key)[0]
            else:
                pattern = len(self.owners)
                self.automaton.add_word(key, (pattern, len(key)))
                self.owners.append([])
                # one word of letters ("olivia", "smith") is only a leak as a whole value
                self.compound.append(not _LETTERS.fullmatch(key))
            if owner not in self.owners[pattern]:
                self.owners[pattern].append(owner)
            members[pattern] = None
            # the same value escaped inside a JSON document ("zo\u00eb", "line\nbreak")
            for form in {f.lower() for f in json_forms(value) | json_forms(key)}:
                if form not in self.automaton:
                    self.automaton.add_word(form, (pattern, len(form)))
        self.members.append(list(members))

    def freeze(self, produced: pa.Array) -> None:
        """Build the automaton; drop originals equal to, or a word inside, a produced value."""
        if not self.empty:
            self._exclude(produced)
        self.counts = [sum(p not in self.excluded for p in ps) for ps in self.members]

    def _exclude(self, produced: pa.Array) -> None:
        self.automaton.make_automaton()
        for start in range(0, len(produced), BATCH_ROWS):
            chunk = produced.slice(start, BATCH_ROWS)
            self.excluded.update(p for _, p, _ in find_in(self, chunk, every_word=True))


def find_in(
    patterns: LeakPatterns, values: pa.Array, *, every_word: bool = False
) -> Iterator[tuple[int, int, bool]]:
    """(row, pattern, whole value?) of each whole-word occurrence of a pattern in `values`.

    A single-word pattern counts only as a whole value, unless `every_word`.
    """
    text_values = as_array(pc.utf8_lower(pg_text(values)))
    if not len(text_values):
        return
    offsets, data, _ = byte_view(text_values)
    raw = data[offsets[0] : offsets[-1]].tobytes()
    text = raw.decode("utf-8")
    if len(text) == len(raw):  # ASCII: characters are bytes
        starts = offsets - offsets[0]
    else:
        lengths = pc.fill_null(pc.utf8_length(text_values), 0).to_numpy(zero_copy_only=False)
        starts = np.concatenate(([0], np.cumsum(lengths)))
    for end, (pattern, length) in patterns.automaton.iter(text):
        if pattern in patterns.excluded:
            continue
        begin = end - length + 1
        row = int(np.searchsorted(starts, begin, side="right")) - 1
        row_start, row_end = int(starts[row]), int(starts[row + 1])
        if end >= row_end:
            continue  # spans two values of the batch
        # a whole value, but for surrounding whitespace (originals are stripped)
        whole = not text[row_start:begin].strip() and not text[end + 1 : row_end].strip()
        if not whole and not (every_word or patterns.compound[pattern]):
            continue
        if begin > row_start and text[begin - 1].isalnum():
            continue  # inside a longer word
        if end + 1 < row_end and text[end + 1].isalnum():
            continue
        yield row, pattern, whole


def _strategy_values(plan: ColumnPlan, values: pa.Array) -> pa.Array | None:
    found = plan.strategy.originals(as_array(values))
    return None if found is None else as_array(found)


def _produced(plan: ColumnPlan, before: pa.Array, after: pa.Array) -> pa.Array | None:
    """What masking wrote into these rows: never a value the same row held before.

    So an original left in place (a masker that skipped a row) is not mistaken for a
    pseudonym. Nested values (JSON leaves, array elements) are compared per batch.
    """
    before, after = as_array(before), as_array(after)
    changed = pc.fill_null(pc.not_equal(before, after), True)
    made = _strategy_values(plan, after.filter(changed))
    if made is None or type(plan.strategy).originals is Strategy.originals:
        return made
    was = _strategy_values(plan, before.filter(changed))
    return made if was is None else made.filter(pc.invert(pc.is_in(made, value_set=was)))


def collect_patterns(output: Output, min_length: int) -> LeakPatterns:
    """The originals of leak-checked masked columns, minus every value masking produced."""
    patterns = LeakPatterns()
    if output.plan is None:
        return patterns
    chosen = [p for p in output.plan.columns.values() if p.masks and p.strategy.leak_checked]
    originals: dict[tuple[str, str], list[pa.Array]] = {}
    produced: list[pa.Array] = []
    for plan in chosen:
        for item in output.tables:
            if output.plan.roots.get(item.table.qualified) != plan.table:
                continue
            pieces = originals.setdefault((plan.table, plan.column), [])
            for before, after in output.paired_batches(item, [plan.column]):
                found = _strategy_values(plan, before.column(0))
                if found is not None and len(found):
                    pieces.append(_normalised(found, min_length))
                made = _produced(plan, before.column(0), after.column(0))
                if made is not None and len(made):
                    produced.append(_normalised(made, 1))
                if sum(map(len, pieces)) > _MERGE_AT:
                    pieces[:] = [_distinct(pieces)]
                if sum(map(len, produced)) > _MERGE_AT:
                    produced[:] = [_distinct(produced)]
    for plan in chosen:
        values = _distinct(originals.get((plan.table, plan.column), []))
        patterns.add((plan.table, plan.column, plan.rule.strategy), values)
    patterns.freeze(_distinct(produced))
    return patterns


def _searched_columns(output: Output, item: ExtractedTable) -> list[str]:
    """Every stored column but those whose rule declares public values (keep, public: true)."""
    rules = output.rules(item.table)
    return [
        c.name
        for c in item.table.copy_columns
        if not (c.name in rules and rules[c.name].strategy.options.get("public"))
    ]


def check_leaks(output: Output, report: VerificationReport, settings: VerifySettings) -> None:
    """One result per masked column: output rows (any table) holding one of its originals."""
    started = time.monotonic()
    patterns = collect_patterns(output, settings.leak_min_length)
    results = [
        CheckResult("leak", table, column, rule, checked=count)
        for (table, column, rule), count in zip(patterns.sources, patterns.counts, strict=True)
    ]
    where: list[dict[str, int]] = [{} for _ in results]
    if not patterns.empty:
        for item in output.tables:
            paths = output.masked_paths(item)
            names = _searched_columns(output, item)
            for batch in output.batches(paths, names):
                for name in names:
                    values = batch.column(name)
                    if not searchable(values.type) or values.null_count == len(values):
                        continue
                    rows: dict[int, set[int]] = {}
                    for row, pattern, _ in find_in(patterns, values):
                        for source in patterns.owners[pattern]:
                            rows.setdefault(source, set()).add(row)
                    for source, hit in rows.items():
                        label = f"{item.table.qualified}.{name}"
                        where[source][label] = where[source].get(label, 0) + len(hit)
                        results[source].failures += len(hit)
    for result, found in zip(results, where, strict=True):
        if found:
            result.detail = "original values found in " + ", ".join(
                f"{label} ({rows} rows)" for label, rows in sorted(found.items())
            )
        result.seconds = (time.monotonic() - started) / max(1, len(results))
        report.add(result)
