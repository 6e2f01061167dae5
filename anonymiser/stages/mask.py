"""Mask: apply the rules to the extracted Parquet files, file by file, batch by batch.

Reads `extract/`, writes `mask/` with the same files, schemas and row order, and the schema
scripts copied over. Each column is masked by its rule's strategy in its namespace (its own,
its FK parent's, or a declared one), so equal inputs give equal outputs across tables. Unique
columns, and the columns sharing their mapping, go through a collision-free mapping built
first over the whole table (anonymiser.stages.mappings). `jobs` tables are masked at once,
in threads. Memory, per table being masked: one batch of rows, plus the distinct values of
the unique columns of the mapping groups that table uses.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from anonymiser.errors import AnonymiserError, SnapshotError
from anonymiser.maskers import MaskContext
from anonymiser.maskers._fixedpoints import remask_fixed_points
from anonymiser.maskers._knownpairs import KnownPairs
from anonymiser.maskers.presidio import release_known_values
from anonymiser.parallel import in_threads
from anonymiser.progress import NULL_REPORTER, Reporter, TableProgress
from anonymiser.rules.lint import ColumnPlan, MaskPlan
from anonymiser.stages.extract import Extracted
from anonymiser.stages.mappings import (
    Mapping,
    MappingFile,
    apply_mapping,
    distinct_values,
    mapped_in_order,
    mapping_file,
    resolve_injective,
)
from anonymiser.stages.parts import PARQUET_DICTIONARY_LIMIT, ExtractedTable, batch_rows

__all__ = ["MaskStats", "mask", "pseudonym_entity"]

log = logging.getLogger(__name__)

# Bigger batches amortise per-batch work (a mapping's hash table is rebuilt per batch): at
# 1M demo rows 256k rows cut the trainees table's CPU by a third; 32 MiB bounds wide rows.
BATCH_ROWS = 256 * 1024
BATCH_BYTES = 32 * 1024 * 1024
# Faker providers whose pseudonyms free-text scrubbing should reuse, by Presidio entity
_FAKE_ENTITIES = {
    "name": "PERSON",
    "first_name": "PERSON",
    "last_name": "PERSON",
    "full_name": "PERSON",
    "name_female": "PERSON",
    "name_male": "PERSON",
    "email": "EMAIL_ADDRESS",
    "safe_email": "EMAIL_ADDRESS",
    "free_email": "EMAIL_ADDRESS",
    "company_email": "EMAIL_ADDRESS",
    "phone_number": "PHONE_NUMBER",
}


@dataclass
class MaskStats:
    seconds: float = 0.0
    rows: int = 0
    collisions: dict[str, dict[str, int]] = field(default_factory=dict)  # namespace -> counts


def pseudonym_entity(plan: ColumnPlan) -> str | None:
    """The Presidio entity whose free-text mentions should reuse this column's pseudonyms."""
    declared = getattr(plan.strategy, "pseudonym_entity", None)
    if callable(declared):
        entity = declared()
        return entity if isinstance(entity, str) else None
    if plan.rule.strategy == "fake":
        return _FAKE_ENTITIES.get(str(plan.rule.params.get("provider", "")))
    if plan.rule.strategy == "pattern":
        fmt = plan.rule.params.get("format")
        return {"ni_number": "UK_NINO", "trn": "UK_TRN"}.get(str(fmt), "ID")
    return None


@dataclass
class _TableMappings:
    """The mappings of one table's columns, and where each column stands in its mapping's
    inputs (its next value, when read in the order the mapping was built; -1 once not).
    Each column reads its own (`readers`): two columns of a group stand at different inputs;
    a group's whole mapping (`whole`) is read once a column looks it up out of order."""

    readers: dict[str, MappingFile] = field(default_factory=dict)
    next_input: dict[str, int] = field(default_factory=dict)
    whole: dict[str, Mapping] = field(default_factory=dict)


class _Masker:
    def __init__(self, extracted: Extracted, plan: MaskPlan, key: bytes, work: Path) -> None:
        self.extracted = extracted
        self.plan = plan
        self.key = key
        self.work = work
        self.groups = plan.injective_groups()
        self.known = KnownPairs()
        self.stats = MaskStats()

    def ctx(self, plan: ColumnPlan) -> MaskContext:
        return MaskContext(self.key, plan.namespace, known=self.known)

    def sources(self, plans: list[ColumnPlan]) -> list[tuple[Path, str]]:
        """The (part file, column) pairs holding the values of these columns, every table."""
        wanted = {(p.table, p.column) for p in plans}
        out = []
        for item in self.extracted.tables:
            root = self.plan.roots.get(item.table.qualified, item.table.qualified)
            for _, column in sorted(c for c in wanted if c[0] == root):
                out += [(self.extracted.root / rel, column) for rel, _ in item.files]
        return out

    def build_mappings(self, jobs: int = 1) -> None:
        """Every group's mapping, `jobs` groups at once (threads)."""
        groups = sorted(self.groups.items())
        # recorded in group order, whichever finished first
        for namespace, found in in_threads(lambda g: self.build_mapping(*g), groups, jobs):
            self.stats.collisions[namespace] = found

    def build_mapping(self, group: str, plans: list[ColumnPlan]) -> tuple[str, dict[str, int]]:
        """Build and write one group's mapping; return its namespace and collision counts."""
        unique = [p for p in plans if p.needs_injective]
        owner = unique[0]
        arrow_type = owner.strategy.column.arrow_type
        label = ", ".join(f"{p.table}.{p.column}" for p in unique)
        started = time.monotonic()
        inputs = distinct_values(self.sources(unique), arrow_type)
        fold = any(p.unique is not None and p.unique.fold for p in unique)
        try:
            mapping = resolve_injective(
                owner.strategy, inputs, self.ctx(owner), fold=fold, label=label
            )
        except AnonymiserError:
            raise
        except Exception as exc:
            raise SnapshotError(
                f"masking {label} with {owner.rule.strategy} failed: {exc}"
            ) from None
        mapping.write(mapping_file(self.work / "mappings", group))
        log.info(
            "mapping for %s: %d values, %d re-masked, %d rounds, %.1fs",
            label,
            len(inputs),
            mapping.collisions,
            mapping.rounds,
            time.monotonic() - started,
        )
        counts = {
            "distinct_values": len(inputs),
            "re_masked": mapping.collisions,
            "rounds": mapping.rounds,
        }
        return owner.namespace, counts

    def mask_values(self, plan: ColumnPlan, values: pa.Array, cache: _TableMappings) -> pa.Array:
        """Masked `values` of one column: through its group's mapping if it has one (`cache`:
        the table's readers of the mappings, opened once per table)."""
        ctx = self.ctx(plan)
        if plan.group not in self.groups:
            out = plan.strategy.mask(values, ctx)
            out = out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out
            return remask_fixed_points(plan.strategy, values, out, ctx)
        path = mapping_file(self.work / "mappings", plan.group)
        start = cache.next_input.get(plan.column, 0)
        if start >= 0:
            reader = cache.readers.get(plan.column) or MappingFile(path)
            cache.readers[plan.column] = reader
            masked = mapped_in_order(values, reader, start)
            if masked is not None:
                cache.next_input[plan.column] = start + len(values) - values.null_count
                return masked
            cache.next_input[plan.column] = -1  # out of order: look up from now on
            del cache.readers[plan.column]  # and let its row groups go
        if plan.group not in cache.whole:
            cache.whole[plan.group] = Mapping.read(path)
        return apply_mapping(values, cache.whole[plan.group], plan.strategy, ctx)

    def collect_known(self) -> None:
        """Original -> pseudonym of structured columns, for free-text scrubbing (presidio)."""
        if not any(p.rule.strategy == "presidio" for p in self.plan.columns.values()):
            return
        for plan in self.plan.columns.values():
            entity = pseudonym_entity(plan)
            if entity is None or not plan.strategy.column.is_text:
                continue
            inputs = distinct_values(self.sources([plan]), pa.string())
            masked = self.mask_values(plan, inputs, _TableMappings())
            self.known.add(entity, inputs, masked.cast(pa.string()))

    def mask_table(self, item: ExtractedTable, out_root: Path, progress: TableProgress) -> int:
        """Mask one table's parts; return its rows. Safe to run for several tables at once."""
        columns = self.plan.for_table(item.table.qualified)
        plans = [columns.get(c.name) for c in item.table.copy_columns]
        if all(p is not None and not p.masks for p in plans):
            # every column is kept: the extracted parts are the output, unread
            for rel, rows in item.files:
                _link_or_copy(self.extracted.root / rel, out_root / rel)
                progress.advance(rows, (out_root / rel).stat().st_size)
            return sum(rows for _, rows in item.files)
        cache = _TableMappings()  # mappings stay in memory for this table only
        done = 0
        for rel, _ in item.files:
            source = pq.ParquetFile(self.extracted.root / rel)
            schema = source.schema_arrow
            target = out_root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with pq.ParquetWriter(
                target,
                schema,
                compression="zstd",
                dictionary_pagesize_limit=PARQUET_DICTIONARY_LIMIT,
            ) as writer:
                rows = batch_rows(source, BATCH_BYTES, BATCH_ROWS)
                for batch in source.iter_batches(batch_size=rows):
                    arrays = []
                    for index, fld in enumerate(schema):
                        values = batch.column(index)
                        plan = columns.get(fld.name)
                        if plan is None:
                            # the lint guarantees a plan for every copied column
                            raise SnapshotError(
                                f"{item.table.qualified}.{fld.name} has no masking plan"
                            )
                        if plan.masks:
                            values = self._masked(item, plan, values, fld, cache)
                        arrays.append(values)
                    writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
                    done += batch.num_rows
                    progress.advance(batch.num_rows, batch.nbytes)
        return done

    def _masked(
        self,
        item: ExtractedTable,
        plan: ColumnPlan,
        values: pa.Array,
        fld: pa.Field,
        cache: _TableMappings,
    ) -> pa.Array:
        try:
            out = self.mask_values(plan, values, cache)
            if len(out) != len(values):
                raise ValueError(f"returned {len(out)} values for {len(values)}")
            return out if out.type == fld.type else out.cast(fld.type)
        except AnonymiserError:
            raise
        except Exception as exc:
            raise SnapshotError(
                f"masking {item.table.qualified}.{plan.column} with strategy "
                f"{plan.rule.strategy} failed: {type(exc).__name__}: {exc}"
            ) from None


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.hardlink_to(source)  # same work directory: no bytes copied
    except OSError:
        shutil.copyfile(source, target)


def mask(
    extracted: Extracted,
    plan: MaskPlan,
    key: bytes,
    work: Path,
    reporter: Reporter = NULL_REPORTER,
    jobs: int = 1,
) -> tuple[Extracted, MaskStats]:
    """Mask `extracted` into `work/mask` (mappings in `work/mappings`); return the new extract.

    `jobs` tables are masked at once, in threads (Arrow, Parquet and NumPy release the GIL).
    """
    started = time.monotonic()
    out_root = work / "mask"
    out_root.mkdir(parents=True, exist_ok=True)
    masker = _Masker(extracted, plan, key, work)
    masker.build_mappings(jobs)
    masker.collect_known()
    for rel in extracted.schema_files.values():
        (out_root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(extracted.root / rel, out_root / rel)

    def one(item: ExtractedTable) -> int:
        with reporter.table_progress(
            "mask", item.table.qualified, total_rows=item.rows
        ) as progress:
            rows = masker.mask_table(item, out_root, progress)
        log.info("masked %s", item.table.qualified)
        return rows

    # the largest tables first, so the last one to finish is a small one
    tables = sorted(extracted.tables, key=lambda item: -item.rows)
    try:
        masker.stats.rows = sum(in_threads(one, tables, jobs))
    finally:
        # the known values' index (hundreds of MiB at 1M rows) is not kept for the verify stage
        release_known_values()
    masker.stats.seconds = time.monotonic() - started
    return replace(extracted, root=out_root), masker.stats
