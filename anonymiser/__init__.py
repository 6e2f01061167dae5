"""anonymiser: PostgreSQL -> PII-free versioned Parquet snapshots -> restore anywhere."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from anonymiser.memory import prefer_jemalloc

# before any module of the package imports pyarrow: Arrow reads its default pool only then
prefer_jemalloc()

try:
    __version__ = version("anonymiser")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
