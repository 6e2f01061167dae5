"""Presidio re-scan: a sample of each scrubbed free-text column must hold no residual PII.

The sample (presidio_sample rows per column, spread over its partitions by their row
counts) is evenly spread over the rows.

The masked text deliberately holds pseudonyms (fake emails and phones, the same fake names
as the structured columns), which Presidio detects again. A finding is residual only when
its text also appears in the original text of the same row: it survived masking. Anything
the mask stage introduced is a pseudonym by construction. (Row i of a masked part is row i
of the extracted part, so the original is at hand.) The engine is the mask stage's own
offline one (anonymiser.maskers._scan), with the rule's entities, at the higher
of the rule's threshold and the configured one.
"""

from __future__ import annotations

import pyarrow as pa

from anonymiser.maskers._scan import scanner, winners
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
    scan = scanner(model, tuple(entities), threshold).scan
    found: dict[str, int] = {}
    for original, masked in pairs:
        # as the mask stage does: the best finding of overlapping ones wins (a URL inside
        # an email address is part of that address)
        for start, end, kind, _ in winners(scan(masked), []):
            if masked[start:end].casefold() in original.casefold():
                found[kind] = found.get(kind, 0) + 1
    return found


def check_presidio(output: Output, report: VerificationReport, settings: VerifySettings) -> None:
    """Re-scan sampled rows of every presidio column; fail above presidio_max_findings."""
    if output.plan is None:
        return
    for plan in output.plan.columns.values():
        if plan.rule.strategy != "presidio":
            continue
        options = plan.strategy.options
        threshold = max(settings.presidio_threshold, float(options["threshold"]))
        items = [i for i in output.tables if output.plan.roots.get(i.table.qualified) == plan.table]
        total = sum(i.rows for i in items)
        for item in items:
            # the sample is per column: partitions share it in proportion to their rows
            share = settings.presidio_sample and max(
                1, round(settings.presidio_sample * item.rows / max(1, total))
            )
            result = CheckResult("presidio", item.table.qualified, plan.column, "presidio")
            with report.timed(result):
                wanted = sample_rows(item.rows, share)
                pairs: list[tuple[str, str]] = []
                offset = 0
                for before, after in output.paired_batches(item, [plan.column]):
                    rows = [
                        r - offset for r in range(offset, offset + before.num_rows) if r in wanted
                    ]
                    offset += before.num_rows
                    if not rows:
                        continue
                    picked = pa.array(rows, pa.int64())
                    originals = as_array(before.column(0)).take(picked).to_pylist()
                    masked = as_array(after.column(0)).take(picked).to_pylist()
                    pairs += [(o or "", m) for o, m in zip(originals, masked, strict=True) if m]
                result.checked = len(pairs)
                found = residual_findings(
                    pairs, list(options["entities"]), threshold, options["model"]
                )
                residual = sum(found.values())
                if residual:
                    kinds = ", ".join(f"{k} {n}" for k, n in sorted(found.items()))
                    result.detail = (
                        f"{residual} residual findings at score >= {threshold} ({kinds}; "
                        f"{settings.presidio_max_findings} allowed)"
                    )
                result.failures = residual if residual > settings.presidio_max_findings else 0
