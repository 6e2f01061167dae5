"""Publish: copy a stage's files into a store, data first and manifest.json last.

The manifest is written with a create-if-absent, so a version becomes visible all at once and
a published version is never overwritten. A publish interrupted before the manifest leaves an
invisible folder that the next publish of the same version overwrites.
"""

from __future__ import annotations

from datetime import UTC, datetime

from anonymiser.errors import StoreError
from anonymiser.manifest import FileEntry, Manifest, TableEntry
from anonymiser.pg.reader import arrow_schema
from anonymiser.stages.extract import Extracted
from anonymiser.stores import Store

__all__ = ["manifest_key", "publish", "utc_now"]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def manifest_key(dataset: str, version: str) -> str:
    return f"{dataset}/{version}/manifest.json"


def publish(extracted: Extracted, store: Store, manifest: Manifest) -> Manifest:
    """Upload every file, fill in sizes and sha256, then write the manifest; return it."""
    prefix = f"{manifest.dataset}/{manifest.version}"
    key = manifest_key(manifest.dataset, manifest.version)
    if store.exists(key):
        raise StoreError(
            f"{store.url}: {manifest.dataset} version {manifest.version} is already published "
            "and published versions are immutable; choose another --version"
        )
    for section, rel in extracted.schema_files.items():
        size, digest = store.put_file(f"{prefix}/{rel}", extracted.root / rel)
        manifest.schema_files[section] = FileEntry(rel, 0, size, digest)
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
        for rel, rows in item.files:
            size, digest = store.put_file(f"{prefix}/{rel}", extracted.root / rel)
            entry.files.append(FileEntry(rel, rows, size, digest))
            entry.bytes += size
        manifest.tables.append(entry)
    manifest.completed_at = utc_now()
    if not store.put_bytes(key, manifest.to_json(), if_absent=True):
        raise StoreError(
            f"{store.url}: another run published {manifest.dataset} version {manifest.version} "
            "first; nothing of this run was made visible"
        )
    return manifest
