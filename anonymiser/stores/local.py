"""The default store: a directory on a local or mounted filesystem."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from anonymiser.errors import NotFound, StoreError
from anonymiser.stores.base import Store, key_parts

__all__ = ["LocalStore", "sha256_file"]

_CHUNK = 4 * 1024 * 1024


def sha256_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class LocalStore(Store):
    def __init__(self, root: Path, *, create: bool = False) -> None:
        self.root = root.expanduser().absolute()
        self.url = str(root)
        # create=True: the root is made by the first write, so a run that fails before
        # publishing leaves nothing behind
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"store {root} is not a directory")
        if not create and not self.root.is_dir():
            raise StoreError(f"store {root} does not exist (no such directory)")

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key_parts(key))

    def _temp_beside(self, path: Path) -> Path:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create store directory {path.parent}: {exc.strerror}"
            ) from None
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        os.close(fd)
        return Path(tmp)

    def put_file(self, key: str, path: Path) -> tuple[int, str]:
        dest = self._path(key)
        tmp = self._temp_beside(dest)
        digest = hashlib.sha256()
        size = 0
        try:
            with path.open("rb") as src, tmp.open("wb") as out:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dest)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write {dest}: {exc.strerror}") from None
        return size, digest.hexdigest()

    def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        dest = self._path(key)
        tmp = self._temp_beside(dest)
        try:
            with tmp.open("wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            if if_absent:
                try:
                    os.link(tmp, dest)  # atomic create-if-absent
                except FileExistsError:
                    return False
                finally:
                    tmp.unlink(missing_ok=True)
            else:
                os.replace(tmp, dest)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write {dest}: {exc.strerror}") from None
        return True

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"{self.url}: no object {key}") from None
        except OSError as exc:
            raise StoreError(f"{self.url}: cannot read {key}: {exc.strerror}") from None

    def local_path(self, key: str, cache_dir: Path) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise NotFound(f"{self.url}: no object {key}")
        return path

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def list_dir(self, prefix: str) -> list[str]:
        path = self._path(prefix)
        if not path.is_dir():
            return []
        try:
            return sorted(e.name for e in os.scandir(path) if not e.name.startswith("."))
        except OSError as exc:
            raise StoreError(f"{self.url}: cannot list {prefix or '/'}: {exc.strerror}") from None

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.url}: cannot delete {key}: {exc.strerror}") from None

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self._path(prefix), ignore_errors=True)
