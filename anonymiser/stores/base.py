"""The store contract every backend (local directory, S3) fulfils.

Keys are '/'-separated relative paths. Writers never expose a partly written object: a key is
either absent or complete.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from anonymiser.errors import StoreError

__all__ = ["Store", "key_parts"]


def key_parts(key: str) -> list[str]:
    """The segments of a store key; '.' and '..' are refused so no key escapes its store."""
    parts = [p for p in key.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise StoreError(f"invalid store key {key!r}")
    return parts


class Store(ABC):
    url: str

    @abstractmethod
    def put_file(self, key: str, path: Path) -> tuple[int, str]:
        """Store a local file under key; return (size in bytes, sha256 hex) of what was stored."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        """Store bytes under key; with if_absent, do nothing and return False if key exists."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The whole object (small objects: manifests, schema scripts); NotFound if absent."""

    @abstractmethod
    def local_path(self, key: str, cache_dir: Path) -> Path:
        """A readable local file holding the object (the file itself or a downloaded copy)."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list_dir(self, prefix: str) -> list[str]:
        """Names of the immediate children (objects and sub-prefixes) under prefix."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove one object; nothing happens if it is absent."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> None:
        """Remove every object under prefix."""
