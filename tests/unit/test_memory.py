"""Allocator tuning: Arrow's jemalloc pool unless the user chose a pool."""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pytest

PROBE = """
import pyarrow as pa
from anonymiser.memory import tune_allocators
tune_allocators()
tune_allocators()  # a second call changes nothing
print(pa.default_memory_pool().backend_name)
"""


def _backend(**env: str) -> str:
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


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow has no jemalloc pool")
def test_arrow_allocates_from_jemalloc_after_tuning() -> None:
    assert _backend() == "jemalloc"


def test_a_pool_the_user_chose_stands() -> None:
    assert _backend(ARROW_DEFAULT_MEMORY_POOL="system") == "system"
