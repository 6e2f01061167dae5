"""Publish: copy a stage's files into a store, data first and a signed manifest.json last.

Each publish uploads into its own folder, <dataset>/<version>/runs/<run id>/, and the manifest
lists those paths. The manifest is written with a create-if-absent (S3: If-None-Match), so a
version becomes visible all at once, two publishers of one version cannot both win, and a
published version is never overwritten. A publish that dies before the manifest leaves an
invisible folder; a later publish of the dataset removes it once it is ABANDONED_AFTER old
(younger, it may be a publish still under way: creates from different source servers do not
share a lock).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import UTC, datetime, timedelta

from anonymiser.errors import AnonymiserError, StoreError
from anonymiser.manifest import FileEntry, Manifest, TableEntry
from anonymiser.pg.reader import arrow_schema
from anonymiser.progress import NULL_REPORTER, Reporter
from anonymiser.signing import sign
from anonymiser.stages.extract import Extracted
from anonymiser.stores import Store

__all__ = ["ABANDONED_AFTER", "manifest_key", "publish", "remove_abandoned", "utc_now"]

log = logging.getLogger(__name__)

# a run folder of a version without a manifest is removed once its run began this long ago;
# before that it may be another publish uploading (its manifest not written yet)
ABANDONED_AFTER = timedelta(hours=6)
_RUN_STARTED = "%Y%m%dT%H%M%SZ"  # a run id begins with its UTC start (publish())


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def manifest_key(dataset: str, version: str) -> str:
    return f"{dataset}/{version}/manifest.json"


def remove_abandoned(
    store: Store, dataset: str, *, keep_run: str = "", now: datetime | None = None
) -> list[str]:
    """Delete what interrupted publishes of `dataset` left: the runs of versions without a
    manifest once ABANDONED_AFTER old (the whole version folder when none is younger), and
    run folders a published manifest does not use. Returns what was removed.
    """
    now = now or datetime.now(UTC)
    removed = []
    for version in store.list_dir(dataset):
        folder = f"{dataset}/{version}"
        if not store.exists(manifest_key(dataset, version)):
            runs = store.list_dir(f"{folder}/runs")
            young = {run for run in runs if now - _run_started(run) < ABANDONED_AFTER}
            if not young:
                store.delete_prefix(folder)
                removed.append(folder)
            for run in sorted(set(runs) - young) if young else []:
                store.delete_prefix(f"{folder}/runs/{run}")
                removed.append(f"{folder}/runs/{run}")
            continue
        runs = store.list_dir(f"{folder}/runs")
        if not runs:
            continue
        used = Manifest.from_json(
            store.get_bytes(manifest_key(dataset, version)), where=folder
        ).run_id
        for run in runs:
            if run not in (used, keep_run):
                store.delete_prefix(f"{folder}/runs/{run}")
                removed.append(f"{folder}/runs/{run}")
    for path in removed:
        log.warning("removed %s left in %s by an interrupted publish", path, store.url)
    return removed


def _run_started(run: str) -> datetime:
    """When a run began, from its id (long ago for a folder not named so: not ours)."""
    try:
        return datetime.strptime(run.split("-", 1)[0], _RUN_STARTED).replace(tzinfo=UTC)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def publish(
    extracted: Extracted,
    store: Store,
    manifest: Manifest,
    *,
    signing_key: bytes | None = None,
    reporter: Reporter = NULL_REPORTER,
) -> Manifest:
    """Upload every file, fill in sizes and sha256, sign, then write the manifest; return it."""
    prefix = f"{manifest.dataset}/{manifest.version}"
    key = manifest_key(manifest.dataset, manifest.version)
    if store.exists(key):
        raise StoreError(
            f"{store.url}: {manifest.dataset} version {manifest.version} is already published "
            "and published versions are immutable; choose another --version"
        )
    remove_abandoned(store, manifest.dataset)
    manifest.run_id = f"{datetime.now(UTC):{_RUN_STARTED}}-{uuid.uuid4().hex[:8]}"
    run = f"runs/{manifest.run_id}"
    try:
        _upload(extracted, store, manifest, f"{prefix}/{run}", run, reporter)
    except (AnonymiserError, OSError):
        with contextlib.suppress(AnonymiserError, OSError):  # else the next publish does it
            store.delete_prefix(f"{prefix}/{run}")
        raise
    manifest.completed_at = utc_now()
    if signing_key is not None:
        sign(manifest, signing_key)
    # An error here leaves the run folder alone: the write may have landed before it failed.
    if not store.put_bytes(key, manifest.to_json(), if_absent=True):
        winner = Manifest.from_json(store.get_bytes(key), where=key)
        if winner.run_id == manifest.run_id:
            return manifest  # a retried request found our own first attempt
        store.delete_prefix(f"{prefix}/{run}")
        raise StoreError(
            f"{store.url}: another run published {manifest.dataset} version {manifest.version} "
            "first; nothing of this run was made visible"
        )
    return manifest


def _upload(
    extracted: Extracted,
    store: Store,
    manifest: Manifest,
    folder: str,
    run: str,
    reporter: Reporter,
) -> None:
    for section, rel in extracted.schema_files.items():
        size, digest = store.put_file(f"{folder}/{rel}", extracted.root / rel)
        manifest.schema_files[section] = FileEntry(f"{run}/{rel}", 0, size, digest)
    for item in extracted.tables:
        table = item.table
        entry = TableEntry(
            schema=table.schema,
            name=table.name,
            kind="partition" if table.parent else "table",
            columns=[
                {
                    "name": f.name,
                    "pg_type": (f.metadata or {}).get(b"pg_type", b"").decode(),
                    "arrow_type": str(f.type),
                }
                for f in arrow_schema(table)
            ],
            rows=item.rows,
        )
        total = sum((extracted.root / rel).stat().st_size for rel, _ in item.files)
        with reporter.table_progress("publish", table.qualified, total_bytes=total) as progress:
            for rel, rows in item.files:
                size, digest = store.put_file(f"{folder}/{rel}", extracted.root / rel)
                entry.files.append(FileEntry(f"{run}/{rel}", rows, size, digest))
                entry.bytes += size
                progress.advance(rows, size)
        manifest.tables.append(entry)
