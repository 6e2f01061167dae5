"""The library API: create, list, show and restore snapshots (the CLI is a thin layer over it)."""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from anonymiser import __version__
from anonymiser.config import DEFAULT_RULES_DIR, key_fingerprint, load_key
from anonymiser.datasets import load_dataset, validate_name
from anonymiser.errors import NotFound, StoreError
from anonymiser.manifest import Manifest
from anonymiser.pg.connect import SESSION_SETTINGS
from anonymiser.rules import RuleSet, load_rules, plan_or_raise, read_source_catalog
from anonymiser.rules.lint import LintResult
from anonymiser.stages.extract import DEFAULT_PART_BYTES, ExtractOptions, extract
from anonymiser.stages.mask import MaskStats, mask
from anonymiser.stages.publish import manifest_key, publish, utc_now
from anonymiser.stages.restore import RestoreOptions, RestoreReport, restore
from anonymiser.stores import Store, open_store

__all__ = [
    "create_snapshot",
    "list_snapshots",
    "load_manifest",
    "masking_section",
    "restore_snapshot",
]


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
    rules_dir: Path | None = None,
    key: bytes | None = None,
    unmasked: bool = False,
) -> Manifest:
    """Extract `dataset` from `source`, mask it, and publish it as a new version in `store`.

    Masking fails closed: the rules (`rules_dir`, default ./rules) are linted against the
    source catalog before anything is extracted, and every problem is raised at once
    (RulesInvalid). `key` defaults to ANONYMISER_KEY; without one nothing runs.
    `unmasked=True` copies the data as is (manifest: masking.applied false); it exists for
    transport tests and benchmarks, and the CLI does not offer it.
    """
    definition = load_dataset(dataset, datasets_dir)
    version = validate_name("version", version or _default_version())
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
    created_at = utc_now()
    work = Path(tempfile.mkdtemp(prefix="anonymiser-work-", dir=workdir))
    try:
        timings: dict[str, float] = {}
        started = time.monotonic()
        extracted = extract(
            source, definition, work / "extract", ExtractOptions(jobs=jobs, part_bytes=part_bytes)
        )
        timings["extract"] = time.monotonic() - started
        started = time.monotonic()
        if rules is None or key is None:
            masking: dict[str, Any] = {
                "applied": False,
                "note": "created with unmasked=True: every column was copied as is",
            }
        else:
            # the schema may have changed since the lint: plan from the extract's own catalog
            checked = plan_or_raise(rules, extracted.catalog, definition)
            extracted, stats = mask(extracted, checked.plan, key, work)
            masking = masking_section(rules, checked, key, stats)
        timings["mask"] = time.monotonic() - started
        manifest = Manifest(
            dataset=dataset,
            version=version,
            tool_version=__version__,
            created_at=created_at,
            source={
                "server_version": extracted.server_version,
                "server_version_num": extracted.catalog.server_version_num,
            },
            session_settings=dict(SESSION_SETTINGS),
            sequences=extracted.sequences,
            matviews=[[s, n] for s, n in extracted.matviews],
            catalog=extracted.catalog.to_dict(),
            masking=masking,
            timings=timings,
        )
        started = time.monotonic()
        timings["publish"] = 0.0
        published = publish(extracted, target_store, manifest)
        published.timings["publish"] = time.monotonic() - started
        return published
    finally:
        shutil.rmtree(work, ignore_errors=True)


def masking_section(
    rules: RuleSet, checked: LintResult, key: bytes, stats: MaskStats
) -> dict[str, Any]:
    """The manifest's record of masking: rules by hash, key by fingerprint, never a secret."""
    return {
        "applied": True,
        "key_fingerprint": key_fingerprint(key),
        "rules_hash": rules.digest(),
        "rules_files": len(rules.files),
        "warnings": [str(p) for p in checked.warnings],
        "columns": checked.plan.describe(),
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


def restore_snapshot(
    target: str,
    store: Store | str | Path,
    dataset: str = "fullset",
    version: str | None = None,
    *,
    clean: bool = False,
    jobs: int = 1,
) -> RestoreReport:
    """Restore a version (default: latest complete) into `target`, all or nothing."""
    source = open_store(store)
    manifest = load_manifest(source, dataset, version)
    return restore(manifest, source, target, RestoreOptions(clean=clean, jobs=jobs))
