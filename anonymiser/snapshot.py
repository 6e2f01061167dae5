"""The library API: create, list, show, verify, delete and restore snapshots (the CLI is a thin
layer over it)."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from anonymiser import __version__
from anonymiser.config import DEFAULT_RULES_DIR, key_fingerprint, load_key, operator_identity
from anonymiser.datasets import Dataset, load_dataset, validate_name
from anonymiser.errors import ConfigError, NotFound, StoreError
from anonymiser.manifest import Manifest
from anonymiser.maskers._scanpool import scan_processes
from anonymiser.memory import trimming, tune_allocators
from anonymiser.pg.connect import SESSION_SETTINGS
from anonymiser.pg.locks import create_session
from anonymiser.progress import NULL_REPORTER, Reporter
from anonymiser.rules import RuleSet, load_rules, plan_or_raise, read_source_catalog
from anonymiser.rules.lint import LintResult
from anonymiser.rules.model import RULES_COPY
from anonymiser.signing import ENV_SIGNING_KEY, check_signature, load_signing_key
from anonymiser.stages.extract import Extracted, ExtractOptions, extract
from anonymiser.stages.fetch import fetch_and_verify
from anonymiser.stages.mask import MaskStats, mask
from anonymiser.stages.parts import DEFAULT_PART_BYTES
from anonymiser.stages.publish import manifest_key, publish, utc_now
from anonymiser.stages.restore import RestoreOptions, RestoreReport, restore
from anonymiser.stages.verify import verify
from anonymiser.stores import Store, open_store
from anonymiser.verify import VerifySettings
from anonymiser.workdir import work_directory

__all__ = [
    "create_snapshot",
    "delete_snapshot",
    "list_snapshots",
    "load_manifest",
    "masking_section",
    "prune_snapshots",
    "restore_snapshot",
    "trusted_manifest",
    "verify_snapshot",
]

log = logging.getLogger(__name__)


def _default_version() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def create_snapshot(
    source: str,
    store: Store | str | Path,
    dataset: str = "fullset",
    version: str | None = None,
    *,
    jobs: int = 1,
    datasets_dir: Path | None = None,
    workdir: Path | None = None,
    part_bytes: int = DEFAULT_PART_BYTES,
    signing_key: bytes | None = None,
    rules_dir: Path | None = None,
    key: bytes | None = None,
    unmasked: bool = False,
    reason: str = "",
    operator: str | None = None,
    verification: VerifySettings | None = None,
    reporter: Reporter = NULL_REPORTER,
) -> Manifest:
    """Extract `dataset` from `source`, mask it, and publish it as a new version in `store`.

    Masking fails closed: the rules (`rules_dir`, default ./rules) are linted against the
    source catalog before anything is extracted, and every problem is raised at once
    (RulesInvalid). `key` defaults to ANONYMISER_KEY; without one nothing runs.
    `unmasked=True` copies the data as is (manifest: masking.applied false); it exists for
    transport tests and benchmarks, and the CLI does not offer it.

    The manifest is signed with `signing_key` (default: ANONYMISER_SIGNING_KEY); without a
    key the snapshot is published unsigned, with a warning, and restores must allow that.
    A second create of the same dataset from the same source server fails fast.

    Before publishing, the verification gate (anonymiser.stages.verify, settings
    `verification`) checks the whole masked output; on any failure nothing is published and
    VerificationFailed lists every failed check. The manifest records the checks, `reason`
    and the operator (`operator`, default $USER or the OS account, plus $GITHUB_ACTOR).

    `reporter` receives the progress and stage events (anonymiser.progress).
    """
    tune_allocators()
    signing_key = signing_key if signing_key is not None else load_signing_key()
    who = operator_identity(operator)
    settings = verification or VerifySettings()
    definition = load_dataset(dataset, datasets_dir)
    version = validate_name("version", version or _default_version())
    reporter.context(dataset, version)
    rules: RuleSet | None = None
    if not unmasked:
        key = key if key is not None else load_key()
        rules = load_rules(rules_dir or DEFAULT_RULES_DIR)
    target_store = open_store(store, create=True)
    if target_store.exists(manifest_key(dataset, version)):
        # fail before reading anything from the source
        raise StoreError(
            f"{target_store.url}: {dataset} version {version} is already published and "
            "published versions are immutable; choose another --version"
        )
    if rules is not None:
        # fail closed before extracting anything: lint against the live catalog first
        plan_or_raise(rules, read_source_catalog(source), definition)
    with create_session(source, dataset) as source_fingerprint, trimming():
        return _create_locked(
            source,
            target_store,
            definition,
            dataset,
            version,
            source_fingerprint,
            jobs=jobs,
            workdir=workdir,
            part_bytes=part_bytes,
            signing_key=signing_key,
            rules=rules,
            key=key,
            settings=settings,
            audit={"reason": reason, "operator": who},
            reporter=reporter,
        )


def _create_locked(
    source: str,
    target_store: Store,
    definition: Dataset,
    dataset: str,
    version: str,
    source_fingerprint: str,
    *,
    jobs: int,
    workdir: Path | None,
    part_bytes: int,
    signing_key: bytes | None,
    rules: RuleSet | None,
    key: bytes | None,
    settings: VerifySettings,
    audit: dict[str, Any],
    reporter: Reporter,
) -> Manifest:
    created_at = utc_now()
    with work_directory(workdir) as work:
        timings: dict[str, float] = {}
        started = time.monotonic()
        options = ExtractOptions(jobs=jobs, part_bytes=part_bytes, reporter=reporter)
        with reporter.stage("extract"):
            extracted = extract(source, definition, work / "extract", options)
        timings["extract"] = time.monotonic() - started
        started = time.monotonic()
        original, plan = extracted, None
        if rules is None or key is None:
            masking: dict[str, Any] = {
                "applied": False,
                "note": "created with unmasked=True: every column was copied as is",
            }
        else:
            # the schema may have changed since the lint: plan from the extract's own catalog
            checked = plan_or_raise(rules, extracted.catalog, definition)
            plan = checked.plan
            # free text is scanned in `jobs` processes by the mask stage and by the verify
            # stage's re-scan (its last check); the workers stop in between, so the leak
            # check's peak memory does not carry them
            with reporter.stage("mask"), scan_processes(jobs):
                extracted, stats = mask(extracted, plan, key, work, reporter, jobs=jobs)
            masking = masking_section(rules, checked, key, stats)
            extracted = _with_rules_copy(extracted, rules)
        timings["mask"] = time.monotonic() - started
        started = time.monotonic()
        with reporter.stage("verify"), scan_processes(jobs):
            report = verify(original, extracted, plan, source, settings, jobs=jobs)
            # nothing is published after a failure, and the stage is reported as failed
            report.raise_if_failed(dataset, version)
        timings["verify"] = time.monotonic() - started
        manifest = Manifest(
            dataset=dataset,
            version=version,
            tool_version=__version__,
            created_at=created_at,
            source={
                "server_version": extracted.server_version,
                "server_version_num": extracted.catalog.server_version_num,
                "fingerprint": source_fingerprint,  # lets restore recognise the source
            },
            session_settings=dict(SESSION_SETTINGS),
            sequences=extracted.sequences,
            matviews=[[s, n] for s, n in extracted.matviews],
            catalog=extracted.catalog.to_dict(),
            masking=masking,
            dataset_definition=definition.describe(),
            timings=timings,
            verification=report.to_dict(),
            operator=audit["operator"],
            reason=audit["reason"],
        )
        started = time.monotonic()
        timings["publish"] = 0.0
        if signing_key is None:
            log.warning(
                "no signing key (%s or --signing-key-file): publishing %s/%s unsigned",
                ENV_SIGNING_KEY,
                dataset,
                version,
            )
        with reporter.stage("publish"):
            published = publish(
                extracted, target_store, manifest, signing_key=signing_key, reporter=reporter
            )
        published.timings["publish"] = time.monotonic() - started
        return published


def _with_rules_copy(extracted: Extracted, rules: RuleSet) -> Extracted:
    """Add the normalised rule set to the files published with the snapshot, so a reviewer
    (and `snapshot diff`) can read exactly which rules made it, by content and by hash."""
    (extracted.root / RULES_COPY).parent.mkdir(parents=True, exist_ok=True)
    (extracted.root / RULES_COPY).write_bytes(rules.copy_document())
    return replace(extracted, schema_files={**extracted.schema_files, "rules": RULES_COPY})


def masking_section(
    rules: RuleSet, checked: LintResult, key: bytes, stats: MaskStats
) -> dict[str, Any]:
    """The manifest's record of masking: rules by hash, key by fingerprint, never a secret."""
    columns = checked.plan.describe()
    return {
        "applied": True,
        "masked_columns": sum(
            1 for table in columns.values() for rule in table.values() if rule["strategy"] != "keep"
        ),
        "key_fingerprint": key_fingerprint(key),
        "rules_hash": rules.digest(),
        "rules_files": len(rules.files),
        "warnings": [str(p) for p in checked.warnings],
        "columns": columns,
        "unique_mappings": dict(sorted(stats.collisions.items())),
        "rows": stats.rows,
    }


def list_snapshots(store: Store | str | Path, dataset: str | None = None) -> list[Manifest]:
    """Every complete version (those with a manifest), oldest first."""
    source = open_store(store)
    datasets = [validate_name("dataset", dataset)] if dataset else source.list_dir("")
    found = []
    for name in datasets:
        for version in source.list_dir(name):
            key = manifest_key(name, version)
            if source.exists(key):
                found.append(Manifest.from_json(source.get_bytes(key), where=key))
    return sorted(found, key=lambda m: (m.dataset, m.completed_at, m.version))


def load_manifest(store: Store | str | Path, dataset: str, version: str | None = None) -> Manifest:
    """The manifest of `version`, or of the newest complete version when version is None."""
    source = open_store(store)
    validate_name("dataset", dataset)
    if version is None:
        versions = list_snapshots(source, dataset)
        if not versions:
            known = ", ".join(source.list_dir("")) or "none"
            raise NotFound(
                f"{source.url}: no complete snapshot of dataset {dataset!r} "
                f"(datasets here: {known})"
            )
        return versions[-1]
    validate_name("version", version)
    key = manifest_key(dataset, version)
    if not source.exists(key):
        raise NotFound(f"{source.url}: dataset {dataset!r} has no complete version {version!r}")
    return Manifest.from_json(source.get_bytes(key), where=key)


def trusted_manifest(
    store: Store | str | Path,
    dataset: str,
    version: str | None = None,
    *,
    signing_key: bytes | None = None,
    allow_unsigned: bool = False,
) -> Manifest:
    """load_manifest, then check its signature (key default: ANONYMISER_SIGNING_KEY)."""
    manifest = load_manifest(store, dataset, version)
    key = signing_key if signing_key is not None else load_signing_key()
    check_signature(manifest, key, allow_unsigned=allow_unsigned)
    return manifest


def restore_snapshot(
    target: str,
    store: Store | str | Path,
    dataset: str = "fullset",
    version: str | None = None,
    *,
    clean: bool = False,
    jobs: int = 1,
    signing_key: bytes | None = None,
    allow_unsigned: bool = False,
    allow_production: bool = False,
    reporter: Reporter = NULL_REPORTER,
    analyze: bool = True,
) -> RestoreReport:
    """Restore a version (default: latest complete) into `target`, all or nothing.

    Refuses an unsigned or wrongly signed manifest unless allow_unsigned, and a production
    target (see anonymiser.guard) unless allow_production. `analyze=False` skips the
    ANALYZE that follows the commit (as pg_restore does). `reporter` receives the progress.
    """
    tune_allocators()
    source = open_store(store)
    manifest = trusted_manifest(
        source, dataset, version, signing_key=signing_key, allow_unsigned=allow_unsigned
    )
    reporter.context(dataset, manifest.version)
    options = RestoreOptions(
        clean=clean,
        jobs=jobs,
        allow_production=allow_production,
        analyze=analyze,
        reporter=reporter,
    )
    with reporter.stage("restore"), trimming():
        return restore(manifest, source, target, options)


def verify_snapshot(
    store: Store | str | Path,
    dataset: str,
    version: str | None = None,
    *,
    signing_key: bytes | None = None,
    allow_unsigned: bool = False,
    reporter: Reporter = NULL_REPORTER,
) -> Manifest:
    """Check the signature and every file's size and sha256; IntegrityError names what fails."""
    source = open_store(store)
    manifest = trusted_manifest(
        source, dataset, version, signing_key=signing_key, allow_unsigned=allow_unsigned
    )
    reporter.context(dataset, manifest.version)
    with tempfile.TemporaryDirectory(prefix="anonymiser-verify-") as cache, reporter.stage("fetch"):
        fetch_and_verify(manifest, source, Path(cache), reporter)
    return manifest


def delete_snapshot(store: Store | str | Path, dataset: str, version: str) -> None:
    """Delete one complete version: its manifest first (it vanishes at once), then its files."""
    target = open_store(store)
    validate_name("dataset", dataset)
    validate_name("version", version)
    key = manifest_key(dataset, version)
    if not target.exists(key):
        raise NotFound(f"{target.url}: dataset {dataset!r} has no complete version {version!r}")
    target.delete(key)
    target.delete_prefix(f"{dataset}/{version}")


def prune_snapshots(store: Store | str | Path, dataset: str, keep: int) -> list[str]:
    """Delete all but the newest `keep` complete versions of `dataset`; return the deleted."""
    if keep < 1:
        raise ConfigError("--keep must be at least 1 (use `snapshot delete` to remove the last)")
    target = open_store(store)
    versions = list_snapshots(target, dataset)
    doomed = [m.version for m in versions[: max(0, len(versions) - keep)]]
    for version in doomed:
        delete_snapshot(target, dataset, version)
    return doomed
