"""Presidio re-scan: a sample of each scrubbed free-text column must hold no residual PII.

The sample (presidio_sample rows per column, spread over its partitions by their row
counts) is evenly spread over the rows; presidio_max_findings is per column too.

The masked text deliberately holds pseudonyms (fake emails and phones, the same fake names
as the structured columns), which Presidio detects again. A finding is residual only when
its text also appears in the original text of the same row: it survived masking. Anything
the mask stage introduced is a pseudonym by construction. (Row i of a masked part is row i
of the extracted part, so the original is at hand.) The engine is the mask stage's own
offline one (anonymiser.maskers._scan), looking for the default entities plus any the rule
adds, at the configured threshold whatever the rule's own.
"""

from __future__ import annotations

import pyarrow as pa

from anonymiser.maskers._scan import winners
from anonymiser.maskers._scanpool import submit_scan
from anonymiser.maskers.presidio import DEFAULT_ENTITIES
from anonymiser.stages.parts import ExtractedTable
from anonymiser.verify.model import CheckResult, VerificationReport, VerifySettings
from anonymiser.verify.output import Output, as_array

__all__ = ["check_presidio", "residual_findings", "sample_rows"]


def sample_rows(total: int, size: int) -> set[int]:
    """Evenly spread row numbers, `size` of them (every row when size is 0 or >= total)."""
    if size == 0 or size >= total:
        return set(range(total))
    step = total / size
    return {int(i * step) for i in range(size)}


def residual_findings(
    pairs: list[tuple[str, str]], entities: list[str], threshold: float, model: str | None = None
) -> dict[str, int]:
    """Findings per entity type in the masked texts whose text is also in the original row."""
    found: dict[str, int] = {}
    config = (model, tuple(entities), threshold)
    findings = submit_scan(config, [masked for _, masked in pairs]).result()
    for (original, masked), in_masked in zip(pairs, findings, strict=True):
        # as the mask stage does: the best finding of overlapping ones wins (a URL inside
        # an email address is part of that address)
        for start, end, kind, _ in winners(in_masked, []):
            if masked[start:end].casefold() in original.casefold():
                found[kind] = found.get(kind, 0) + 1
    return found


def check_presidio(output: Output, report: VerificationReport, settings: VerifySettings) -> None:
    """Re-scan sampled rows of every presidio column; fail above presidio_max_findings.

    The rule's entities and threshold govern masking, not verification: the re-scan looks
    for the default entities (plus any the rule adds) at the configured threshold, so a rule
    cannot weaken its own check.
    """
    if output.plan is None:
        return
    threshold = settings.presidio_threshold
    for plan in output.plan.columns.values():
        if plan.rule.strategy != "presidio":
            continue
        options = plan.strategy.options
        entities = sorted({*DEFAULT_ENTITIES, *options["entities"]})
        items = [i for i in output.tables if output.plan.roots.get(i.table.qualified) == plan.table]
        total = sum(i.rows for i in items)
        result = CheckResult("presidio", plan.table, plan.column, "presidio")
        with report.timed(result):
            found: dict[str, int] = {}
            for item in items:
                # the sample is per column: partitions share it in proportion to their rows
                share = settings.presidio_sample and max(
                    1, round(settings.presidio_sample * item.rows / max(1, total))
                )
                pairs = _sampled_pairs(output, item, plan.column, share)
                result.checked += len(pairs)
                for kind, count in residual_findings(
                    pairs, entities, threshold, options["model"]
                ).items():
                    found[kind] = found.get(kind, 0) + count
            residual = sum(found.values())
            if residual:
                kinds = ", ".join(f"{k} {n}" for k, n in sorted(found.items()))
                result.detail = (
                    f"{residual} residual findings at score >= {threshold} ({kinds}; "
                    f"{settings.presidio_max_findings} allowed)"
                )
            result.failures = residual if residual > settings.presidio_max_findings else 0


def _sampled_pairs(
    output: Output, item: ExtractedTable, column: str, size: int
) -> list[tuple[str, str]]:
    """(original, masked) texts of `size` evenly spread rows of one data table (0 = all)."""
    wanted = sample_rows(item.rows, size)
    pairs: list[tuple[str, str]] = []
    offset = 0
    for before, after in output.paired_batches(item, [column]):
        rows = [r - offset for r in range(offset, offset + before.num_rows) if r in wanted]
        offset += before.num_rows
        if not rows:
            continue
        picked = pa.array(rows, pa.int64())
        originals = as_array(before.column(0)).take(picked).to_pylist()
        masked = as_array(after.column(0)).take(picked).to_pylist()
        pairs += [(o or "", m) for o, m in zip(originals, masked, strict=True) if m]
    return pairs
