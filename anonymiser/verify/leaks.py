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
The originals are held by anonymiser.verify.patterns (spilled to the work directory, hashes
indexed). Past INDEX_BUDGET they are split by hash into parts, indexed one at a time: the
output is read once, its spans that may be originals spilled by part
(anonymiser.verify.candidates), and each part looks up and confirms its own. Memory stays
bounded as the data grows; a part costs its index and its candidates, not a pass over the
output.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers.base import Strategy
from anonymiser.parallel import in_threads
from anonymiser.rules.lint import ColumnPlan
from anonymiser.stages.parts import ExtractedTable
from anonymiser.verify.candidates import Candidates, Column
from anonymiser.verify.matching import find_in, matches
from anonymiser.verify.model import CheckResult, VerificationReport, VerifySettings
from anonymiser.verify.output import Output, as_array
from anonymiser.verify.patterns import INTEGER_MIN_DIGITS, LeakPatterns, normalised
from anonymiser.verify.shapes import json_forms

log = logging.getLogger(__name__)

# bytes the originals' index of one part may hold: past it, the originals are split by hash
# into parts, each indexed and resolved in turn (~1 s a part at 3M demo rows, the output
# read once for all; the 1M demo's 2.2M originals fit in one part)
INDEX_BUDGET = 256 << 20

__all__ = [
    "INDEX_BUDGET",
    "INTEGER_MIN_DIGITS",
    "LeakPatterns",
    "check_leaks",
    "find_in",
    "json_forms",
    "matches",
    "searchable",
]


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


def _strategy_values(plan: ColumnPlan, values: pa.Array) -> pa.Array | None:
    found = plan.strategy.originals(as_array(values))
    return None if found is None else as_array(found)


def _nested(plan: ColumnPlan) -> bool:
    """Whether the strategy replaces values inside a value (JSON leaves, array elements)."""
    return type(plan.strategy).originals is not Strategy.originals


def _changed(before: pa.Array, after: pa.Array) -> pa.Array:
    """Per row: masking wrote its value (never a value the same row held before, so an
    original left in place by a masker that skipped a row is not mistaken for a pseudonym)."""
    return as_array(pc.fill_null(pc.not_equal(as_array(before), as_array(after)), True))


def _produced(
    plan: ColumnPlan, before: pa.Array, after: pa.Array, found: pa.Array | None
) -> pa.Array | None:
    """The values a nested strategy wrote into these rows: the leaves or elements of the
    rows it changed, but for those the row held before (compared per batch). `found` is
    _strategy_values of `before`, reused when every row changed."""
    before, after = as_array(before), as_array(after)
    changed = _changed(before, after)
    every = pc.all(changed).as_py() is not False
    made = _strategy_values(plan, after if every else after.filter(changed))
    was = found if every else _strategy_values(plan, before.filter(changed))
    if made is None or was is None:
        return made
    return made.filter(pc.invert(pc.is_in(made, value_set=was)))


# (data table, part, column) -> rows of that part whose value masking wrote (None: every row)
Changes = dict[tuple[str, str, str], pa.Array | None]


def collect_patterns(
    output: Output, min_length: int, jobs: int = 1, folder: Path | None = None
) -> tuple[LeakPatterns, Changes]:
    """The originals of leak-checked masked columns (spilled into `folder`, a temporary
    directory if None; not frozen yet), and which rows masking wrote.

    What a nested strategy wrote (JSON leaves, array elements) is excluded here; the values
    a plain strategy wrote are the output's own values in the rows it changed, so the
    output search excludes them as it reads them (`matches(produced=...)`).
    """
    patterns = LeakPatterns(folder)
    changes: Changes = {}
    if output.plan is None:
        return patterns, changes
    chosen = [p for p in output.plan.columns.values() if p.masks and p.strategy.leak_checked]
    for plan in chosen:  # results in rule order, whichever thread adds first
        patterns.register(_source(plan))
    units = [
        (plan, item)
        for plan in chosen
        for item in output.tables
        if output.plan.roots.get(item.table.qualified) == plan.table
    ]
    in_threads(lambda unit: _add_column(output, patterns, changes, *unit, min_length), units, jobs)
    return patterns, changes


def _source(plan: ColumnPlan) -> tuple[str, str, str]:
    return plan.table, plan.column, plan.rule.strategy


def _add_column(
    output: Output,
    patterns: LeakPatterns,
    changes: Changes,
    plan: ColumnPlan,
    item: ExtractedTable,
    min_length: int,
) -> None:
    """Add the originals of one masked column in one data table, batch by batch (distinct
    within each batch), and what masking wrote: a nested strategy's values, or which rows
    a plain strategy changed (per part, into `changes`)."""
    for rel, pairs in output.paired_parts(item, [plan.column]):
        changed: list[pa.Array] = []
        for before, after in pairs:
            found = _strategy_values(plan, before.column(0))
            if found is not None and len(found):
                patterns.add(_source(plan), normalised(found, min_length))
            if _nested(plan):
                made = _produced(plan, before.column(0), after.column(0), found)
                if made is not None and len(made):
                    # not made distinct here: freeze searches each distinct hash once
                    patterns.add_produced(made)
            else:
                changed.append(_changed(before.column(0), after.column(0)))
        if changed:
            rows = pa.concat_arrays(changed)
            every = pc.all(rows).as_py() is not False
            changes[(item.table.qualified, rel, plan.column)] = None if every else rows


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
    # the originals' texts wait in the work directory, next to the masked files
    with tempfile.TemporaryDirectory(prefix="leaks-", dir=output.masked.root.parent) as spill:
        _check(output, report, settings, jobs, Path(spill), started)


def _check(
    output: Output,
    report: VerificationReport,
    settings: VerifySettings,
    jobs: int,
    folder: Path,
    started: float,
) -> None:
    patterns, changes = collect_patterns(output, settings.leak_min_length, jobs, folder)
    if not patterns.entries:  # no original to look for (keep-only rules): nothing is read
        patterns.close()
        for table, column, rule in patterns.sources:
            result = CheckResult("leak", table, column, rule, checked=0)
            result.seconds = (time.monotonic() - started) / len(patterns.sources)
            report.add(result)
        return
    parts = patterns.parts(INDEX_BUDGET)
    if parts > 1:
        log.info("leak check: %d originals searched in %d parts", patterns.entries, parts)
    # the output is read once; each part then resolves its own candidates
    candidates = Candidates(patterns, folder, parts)
    in_threads(lambda item: _search_table(output, candidates, changes, item), output.tables, jobs)
    candidates.add_produced(jobs)
    candidates.finish()
    counts = [0] * len(patterns.sources)
    found: list[tuple[np.ndarray, ...]] = []  # batch, source, distinct value, rows of leaks
    for part in range(parts):
        patterns.freeze(jobs=jobs, part=part, parts=parts, lookup=True)
        batch, entry, at, rows = candidates.resolve(part)
        log.debug("leak check, part %d: %d occurrences", part, len(entry))
        # every value masking wrote is searched now: its originals are excluded, not counted
        patterns.settle()
        counts = [a + b for a, b in zip(counts, patterns.counts, strict=True)]
        left = ~patterns.excluded[entry]
        found.append((batch[left], patterns.source[entry[left]], at[left], rows[left]))
    results = [
        CheckResult("leak", table, column, rule, checked=count)
        for (table, column, rule), count in zip(patterns.sources, counts, strict=True)
    ]
    where: list[dict[str, int]] = [{} for _ in results]
    leaking = _leaking(candidates, *map(np.concatenate, zip(*found, strict=True)))
    for label, owner, count in leaking:
        where[owner][label] = where[owner].get(label, 0) + count
        results[owner].failures += count
    for result, places in zip(results, where, strict=True):
        if places:
            result.detail = "original values found in " + ", ".join(
                f"{label} ({rows} rows)" for label, rows in sorted(places.items())
            )
        result.seconds = (time.monotonic() - started) / max(1, len(results))
        report.add(result)


def _leaking(
    candidates: Candidates, batch: np.ndarray, source: np.ndarray, at: np.ndarray, rows: np.ndarray
) -> Iterator[tuple[str, int, int]]:
    """("table.column", source, rows) of the leaks found: the rows of a batch holding an
    original of a source counted once (a value holding two, in one part or two, is one)."""
    key = (batch.astype(np.int64) * max(1, int(source.max(initial=0)) + 1) + source) << 32 | at
    order = np.argsort(key, kind="stable")
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    chosen = order[first]
    per: dict[tuple[str, int], int] = {}
    for number, owner, count in zip(
        batch[chosen].tolist(), source[chosen].tolist(), rows[chosen].tolist(), strict=True
    ):
        label = candidates.columns[candidates.batches[number][0]].label
        per[(label, owner)] = per.get((label, owner), 0) + count
    for (label, owner), count in per.items():
        yield label, owner, count


def _search_table(
    output: Output, candidates: Candidates, changes: Changes, item: ExtractedTable
) -> None:
    """Spill the candidate spans of one table's output (those that may be an original, or
    a word of one, and what masking wrote)."""
    names = _searched_columns(output, item)
    patterns = candidates.patterns
    # each column's own sources (a partition's are its root's): a short number left in its
    # own integer column is a leak
    roots = output.plan.roots if output.plan is not None else {}
    root = roots.get(item.table.qualified, item.table.qualified)
    homes = {
        name: frozenset(
            i
            for i, (table, column, _) in enumerate(patterns.sources)
            if (table, column) == (root, name)
        )
        for name in names
    }
    for rel, start, batch in output.part_batches(item, names):
        for name in names:
            values = batch.column(name)
            wrote = _wrote(changes, (item.table.qualified, rel, name), start, len(values))
            search = searchable(values.type)
            if values.null_count == len(values) or not (search or wrote is not None):
                continue
            label = f"{item.table.qualified}.{name}"
            column = Column(label, pa.types.is_integer(values.type), search, homes[name])
            candidates.add(column, rel, start, values, wrote)


def _wrote(changes: Changes, key: tuple[str, str, str], start: int, size: int) -> np.ndarray | None:
    """Per row of a batch: masking wrote its value (None: not a column masking wrote)."""
    if key not in changes:
        return None
    rows = changes[key]
    if rows is None:
        return np.ones(size, dtype=bool)
    return np.asarray(rows.slice(start, size).to_numpy(zero_copy_only=False), dtype=bool)
