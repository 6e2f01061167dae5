"""Fetch a snapshot version's files from its store and check each one's size and sha256."""

from __future__ import annotations

from pathlib import Path

from anonymiser.errors import AnonymiserError, IntegrityError
from anonymiser.manifest import FileEntry, Manifest
from anonymiser.progress import NULL_REPORTER, Reporter
from anonymiser.stores import Store
from anonymiser.stores.local import sha256_file

__all__ = ["fetch_and_verify"]


def fetch_and_verify(
    manifest: Manifest, store: Store, cache: Path, reporter: Reporter = NULL_REPORTER
) -> dict[str, Path]:
    """Local paths of every file of the version, each checked for size and sha256 first."""
    prefix = f"{manifest.dataset}/{manifest.version}"
    paths: dict[str, Path] = {}
    files = manifest.all_files()
    with reporter.table_progress(
        "fetch", f"{len(files)} files", total_bytes=sum(e.bytes for e in files)
    ) as progress:
        for entry in files:
            paths[entry.path] = _fetch_one(manifest, store, cache, prefix, entry)
            progress.advance(entry.rows, entry.bytes)
    return paths


def _fetch_one(
    manifest: Manifest, store: Store, cache: Path, prefix: str, entry: FileEntry
) -> Path:
    """Fetch one file (S3: download to the cache) and check its size and sha256."""
    key = f"{prefix}/{entry.path}"
    try:
        path = store.local_path(key, cache)
    except AnonymiserError:
        raise IntegrityError(
            f"snapshot {manifest.dataset}/{manifest.version} is missing file {entry.path}"
        ) from None
    size, digest = sha256_file(path)
    if size != entry.bytes or digest != entry.sha256:
        raise IntegrityError(
            f"snapshot {manifest.dataset}/{manifest.version}: file {entry.path} does not "
            f"match its manifest (size {size} vs {entry.bytes}, sha256 mismatch="
            f"{digest != entry.sha256}); refusing to restore a corrupt or tampered snapshot"
        )
    return path
