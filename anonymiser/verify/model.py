"""What the verification gate reports: its settings, one result per check, the failure message."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from anonymiser.errors import ConfigError, VerificationFailed

__all__ = ["CheckResult", "VerificationReport", "VerifySettings"]


@dataclass(frozen=True)
class VerifySettings:
    """Knobs of the verification gate; recorded in the manifest next to the results."""

    leak_min_length: int = 6  # shorter originals (initials, "Mr", "2019") are not searched for
    presidio_sample: int = 2000  # output rows re-scanned per free-text column; 0 = every row
    # lowest Presidio score counted as a finding (the presidio strategy's default), whatever
    # the rule's own threshold: the rule governs masking, not its verification
    presidio_threshold: float = 0.35
    presidio_max_findings: int = 0  # residual findings allowed per column before failing

    def __post_init__(self) -> None:
        if self.leak_min_length < 1:
            raise ConfigError("--leak-min-length must be at least 1")
        if self.presidio_sample < 0:
            raise ConfigError("--presidio-sample must be 0 (every row) or more")
        if not 0 <= self.presidio_threshold <= 1:
            raise ConfigError("--presidio-threshold must be between 0 and 1")
        if self.presidio_max_findings < 0:
            raise ConfigError("--presidio-max-findings must be 0 or more")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CheckResult:
    """One check of one table (and column, if any): how much was checked, what failed."""

    name: str  # row_count, foreign_key, unique, not_null, check, domain, leak, presidio
    table: str
    column: str = ""  # column(s), comma-separated for composite keys
    rule: str = ""  # the strategy (or constraint) held responsible
    checked: int = 0  # rows (or values) examined
    failures: int = 0
    seconds: float = 0.0
    detail: str = ""  # what failed, for the message (a constraint name, a sample value kind)

    @property
    def passed(self) -> bool:
        return self.failures == 0

    def describe(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        rule = f" (rule {self.rule})" if self.rule else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.name} {where}{rule}: {self.failures} failing of {self.checked}{detail}"

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 3) if k == "seconds" else v for k, v in asdict(self).items()}


@dataclass
class VerificationReport:
    settings: VerifySettings
    checks: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    @property
    def passed(self) -> bool:
        return not self.failed

    def add(self, result: CheckResult) -> CheckResult:
        self.checks.append(result)
        return result

    @contextmanager
    def timed(self, result: CheckResult) -> Iterator[CheckResult]:
        """Record `result` with the seconds its block took."""
        started = time.monotonic()
        try:
            yield result
        finally:
            result.seconds += time.monotonic() - started
            self.checks.append(result)

    def summary(self) -> str:
        names = sorted({c.name for c in self.checks})
        return (
            f"{len(self.checks) - len(self.failed)}/{len(self.checks)} checks passed "
            f"({', '.join(names) or 'none'}) in {self.seconds:.1f}s"
        )

    def raise_if_failed(self, dataset: str, version: str) -> None:
        """VerificationFailed: one line, summary first, then every failed check after a colon."""
        failed = self.failed
        if not failed:
            return
        raise VerificationFailed(
            f"{dataset} version {version} failed {len(failed)} of {len(self.checks)} "
            "verification checks, nothing was published (fix the rules, or the data, and run "
            "again): " + "; ".join(c.describe() for c in failed)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "seconds": round(self.seconds, 3),
            "settings": self.settings.to_dict(),
            "checks": [c.to_dict() for c in self.checks],
        }
