"""Allocator tuning: Arrow's jemalloc pool unless the user chose a pool; glibc's free heap
memory handed back."""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pytest

from anonymiser.memory import _glibc_trim

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


# holes of 64 KiB between small blocks that stay: glibc keeps them for reuse, not the system
HOLES = """
import sys, time
from anonymiser.memory import trimming

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096

kept, holes = [], []
for _ in range(3000):
    holes.append(bytearray(64 * 1024))
    kept.append(bytearray(512))
before = rss()
del holes
freed = before - rss()
with trimming() if sys.argv[1] == "trim" else open("/dev/null"):
    deadline = time.monotonic() + 5
    while before - rss() < 100 << 20 and time.monotonic() < deadline:
        time.sleep(0.1)
print(freed >> 20, (before - rss()) >> 20)
"""


def _handed_back(mode: str) -> tuple[int, int]:
    """MiB the system got back from freeing ~190 MiB of holes: at once, and by the end."""
    done = subprocess.run(
        [sys.executable, "-c", HOLES, mode], capture_output=True, text=True, check=True, timeout=60
    )
    at_once, by_the_end = map(int, done.stdout.split())
    return at_once, by_the_end


@pytest.mark.skipif(_glibc_trim() is None, reason="hands memory back only with glibc")
def test_trimming_hands_freed_heap_memory_back_to_the_system() -> None:
    at_once, by_the_end = _handed_back("plain")
    assert at_once < 20 and by_the_end < 20  # glibc alone keeps the holes
    _, trimmed = _handed_back("trim")
    assert trimmed >= 100
