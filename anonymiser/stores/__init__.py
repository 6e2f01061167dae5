"""Snapshot stores: a small put/get/list contract with interchangeable backends."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from anonymiser.errors import ConfigError
from anonymiser.stores.base import Store
from anonymiser.stores.local import LocalStore

__all__ = ["LocalStore", "Store", "open_store"]


def open_store(url: str | Path | Store, *, create: bool = False) -> Store:
    """A store from a path, a file:// URL or s3://bucket/prefix (`create` makes a local root)."""
    if isinstance(url, Store):
        return url
    text = str(url)
    parsed = urlparse(text)
    if parsed.scheme == "file":
        return LocalStore(Path(unquote(parsed.path)), create=create)
    if parsed.scheme in ("",) or (len(parsed.scheme) == 1 and text[1:3] in (":\\", ":/")):
        return LocalStore(Path(text), create=create)
    if parsed.scheme == "s3":
        from anonymiser.stores.s3 import S3Store  # boto3 is imported only when S3 is used

        return S3Store.from_url(text)
    raise ConfigError(
        f"store {parsed.scheme}://...: unknown scheme {parsed.scheme!r} (use a path, file:// or s3://)"
    )
