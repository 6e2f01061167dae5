"""Allocator tuning: Arrow's jemalloc pool unless the user chose a pool."""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pytest

# what Arrow's C++ library allocates from (Parquet, compute) and pyarrow's own default
PROBE = """
import os
import anonymiser, pyarrow as pa, pyarrow.compute as pc
from anonymiser.memory import tune_allocators
tune_allocators()
tune_allocators()  # a second call changes nothing
before = pa.total_allocated_bytes()
table = pa.table({"n": pa.array(range(100_000))})
pc.sum(table["n"])
print(os.environ["ARROW_DEFAULT_MEMORY_POOL"], pa.default_memory_pool().backend_name,
      pa.jemalloc_memory_pool().bytes_allocated() > 0)
"""


def _pool(**env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**environment, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not _has_jemalloc(),
    reason="jemalloc is chosen on Linux, where the pyarrow wheels have it",
)
def test_arrow_allocates_from_jemalloc_once_the_package_is_imported() -> None:
    # the variable Arrow's C++ library reads as pyarrow is imported, and pyarrow's default
    assert _pool() == "jemalloc jemalloc True"


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow has no jemalloc pool")
def test_a_pool_the_user_chose_stands() -> None:
    assert _pool(ARROW_DEFAULT_MEMORY_POOL="system") == "system system False"
