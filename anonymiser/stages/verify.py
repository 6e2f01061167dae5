"""Verify: prove on the whole masked output that it is safe and loadable, before publish.

Runs every check family of anonymiser.verify over the mask stage's Parquet files (and the
extract stage's, for the original values): row counts, foreign keys, unique keys, NOT NULL
(Arrow), CHECK and domain constraints and expression/partial unique indexes (evaluated by
the read-only source server), the leak check and the Presidio re-scan. Every check runs,
so the report lists every failure at once. `verify` returns the report; the caller
(create_snapshot) raises VerificationFailed through report.raise_if_failed before
publishing anything. An unmasked snapshot runs the row-count and foreign-key checks only.
The server's checks run in a thread beside the others: the server evaluates them in its own
process, and this one would otherwise only wait for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from anonymiser.parallel import in_threads
from anonymiser.rules.lint import MaskPlan
from anonymiser.stages.extract import Extracted
from anonymiser.verify.constraints import (
    check_foreign_keys,
    check_not_null,
    check_row_counts,
    check_unique_keys,
)
from anonymiser.verify.leaks import check_leaks
from anonymiser.verify.model import VerificationReport, VerifySettings
from anonymiser.verify.output import Output
from anonymiser.verify.rescan import check_presidio
from anonymiser.verify.server import check_on_server

__all__ = ["verify"]

log = logging.getLogger(__name__)


def verify(
    original: Extracted,
    masked: Extracted,
    plan: MaskPlan | None,
    source_dsn: str,
    settings: VerifySettings | None = None,
    jobs: int = 1,
) -> VerificationReport:
    """Run every check; the report says what passed (raise_if_failed turns failures into errors).

    `jobs`: tables searched at once by the leak check (threads). The server's checks run
    in a thread of their own beside the rest; the report lists the checks in one order.
    """
    settings = settings or VerifySettings()
    started = time.monotonic()
    output = Output(original, masked, plan)
    constraints, server, leaks = (VerificationReport(settings) for _ in range(3))

    def on_server() -> None:  # this thread mostly waits for the server
        check_on_server(output, server, source_dsn)

    def in_turn() -> None:
        check_row_counts(output, constraints)
        check_foreign_keys(output, constraints)
        check_unique_keys(output, constraints)
        check_not_null(output, constraints)
        check_leaks(output, leaks, settings, jobs)

    in_threads(_run, [on_server, in_turn], 2)
    report = VerificationReport(settings, constraints.checks + server.checks + leaks.checks)
    check_presidio(output, report, settings)
    report.seconds = time.monotonic() - started
    log.info("verification: %s", report.summary())
    return report


def _run(family: Callable[[], None]) -> None:
    family()
