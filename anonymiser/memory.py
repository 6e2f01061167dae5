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

Measured at 1M demo rows (docs/performance.md, "Allocators"): peak PSS of the mask stage
~1.23 -> ~1.02 GiB, of the verify stage ~1.0 GiB -> ~670-780 MiB, for ~5 s more system CPU
(pages faulted in afresh; an unmasked create 12-18 % slower, a restore no slower). Not
done: glibc's mmap threshold fixed at 128 KiB or 4 MiB (NumPy's large arrays handed back on
free) saved ~150 MiB more for ~12 s more system CPU.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["POOL_VARIABLE", "prefer_jemalloc", "tune_allocators"]

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
