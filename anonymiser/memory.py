"""Allocators that give freed memory back, so a run's peak memory is what it uses at once.

Arrow's default pool in the Linux wheels (mimalloc) keeps memory a stage has freed for later:
at 1M demo rows the masking process held ~300 MiB more than Arrow had allocated, and the
verify stage started with what the mask stage had left behind. Arrow's jemalloc pool hands
freed pages back at once. Arrow's C++ library reads its default pool from
ARROW_DEFAULT_MEMORY_POOL once, when pyarrow is imported, and every allocation inside it
(Parquet readers, compute kernels) comes from that pool: so `prefer_jemalloc` sets the
variable (unless the user did) when the anonymiser package is imported, before pyarrow is.
`tune_allocators` also makes jemalloc pyarrow's own default, for a process that imported
pyarrow first (then only allocations made from Python move to jemalloc).

Measured at 1M demo rows (docs/performance-history.md, "Allocators"): peak PSS of the mask stage
~1.23 -> ~1.02 GiB, of the verify stage ~1.0 GiB -> ~670-780 MiB, for ~5 s more system CPU
(pages faulted in afresh; an unmasked create 12-18 % slower, a restore no slower). Not
done: glibc's mmap threshold fixed at 128 KiB or 4 MiB (NumPy's large arrays handed back on
free) saved ~150 MiB more for ~12 s more system CPU.

NumPy's arrays and Python's objects come from glibc's malloc, which keeps what is freed in
the middle of its heaps for reuse, never handing it back: at 3M demo rows the masking
process held 300-450 MiB of such free memory. `trimming` watches the amount and, once it
grew past a threshold, asks glibc to return it (malloc_trim), from a thread, at most once a
second.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator

__all__ = ["POOL_VARIABLE", "TRIM_THRESHOLD", "prefer_jemalloc", "trimming", "tune_allocators"]

log = logging.getLogger(__name__)

POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def prefer_jemalloc() -> None:
    """Name jemalloc as Arrow's default pool unless the user named one; Linux only, where the
    pyarrow wheels have it built in (elsewhere Arrow would warn about an unknown pool)."""
    if sys.platform.startswith("linux"):
        os.environ.setdefault(POOL_VARIABLE, "jemalloc")


def tune_allocators() -> None:
    """Make jemalloc pyarrow's own default too, if built in and the user chose no pool (for a
    process that imported pyarrow before this package; calling it again changes nothing)."""
    if os.environ.get(POOL_VARIABLE, "jemalloc") != "jemalloc":
        return  # the user's choice stands
    import pyarrow as pa  # here: the package's import must not import pyarrow first

    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc: keep its default
        log.debug("pyarrow has no jemalloc pool; keeping %s", pa.default_memory_pool())
        return
    pa.set_memory_pool(pool)


# free heap memory worth handing back: below it, the pages would be faulted in again soon
TRIM_THRESHOLD = 64 * 1024 * 1024
_TRIM_INTERVAL = 1.0  # seconds between looks at the amount


class _MallInfo2(ctypes.Structure):
    """glibc's struct mallinfo2 (2.33 and later): byte counts over every arena."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _glibc_trim() -> tuple[Callable[[], int], Callable[[], None]] | None:
    """(free heap bytes, hand them back) from the C library, if it is glibc 2.33 or later."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallinfo2, malloc_trim = libc.mallinfo2, libc.malloc_trim
    except (OSError, AttributeError):  # musl, or an older glibc
        return None
    mallinfo2.restype = _MallInfo2
    malloc_trim.argtypes = [ctypes.c_size_t]

    def free_bytes() -> int:
        return int(mallinfo2().fordblks)

    def trim() -> None:
        malloc_trim(0)

    return free_bytes, trim


@contextlib.contextmanager
def trimming(threshold: int = TRIM_THRESHOLD) -> Iterator[None]:
    """While the block runs, hand glibc's free heap memory back to the system whenever
    `threshold` bytes more of it have piled up since it last did (looked at once a second,
    from a thread). Does nothing where the C library is not glibc."""
    calls = _glibc_trim()
    if calls is None:
        yield
        return
    free_bytes, trim = calls
    done = threading.Event()

    def watch() -> None:
        # glibc still counts trimmed chunks as free (their pages are gone, not the chunks):
        # trim again only once the free memory grew past the threshold since the last trim
        floor = 0
        while not done.wait(_TRIM_INTERVAL):
            free = free_bytes()
            if free > floor + threshold:
                trim()
                floor = free
            else:
                floor = min(floor, free)  # reused: freed again later, it is resident again

    watcher = threading.Thread(target=watch, name="anonymiser-trim", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
