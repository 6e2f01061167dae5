"""Allocators that give freed memory back, so a run's peak memory is what it uses at once.

Arrow's default pool in the Linux wheels (mimalloc) keeps memory a stage has freed for later:
at 1M demo rows the masking process held ~300 MiB more than Arrow had allocated, and the
verify stage started with what the mask stage had left behind.
Arrow's jemalloc pool hands freed pages back at once. `tune_allocators` selects it once per
process, unless ARROW_DEFAULT_MEMORY_POOL says which pool the user wants.

Measured at 1M demo rows (docs/performance.md, "Allocators"): peak PSS of the mask stage
~1.23 -> ~1.02 GiB, of the verify stage ~1.0 GiB -> ~670-780 MiB, for ~5 s more system CPU
(pages faulted in afresh). Not done, and why: a jemalloc decay of 250-1000 ms saved the CPU
but kept most of the memory; glibc's mmap threshold fixed at 128 KiB or 4 MiB (NumPy's large
arrays handed back on free) saved ~150 MiB more for ~12 s more system CPU.
"""

from __future__ import annotations

import logging
import os
import threading

import pyarrow as pa

__all__ = ["tune_allocators"]

log = logging.getLogger(__name__)

_lock = threading.Lock()
_tuned = False


def tune_allocators() -> None:
    """Use Arrow's jemalloc pool (if built in, and the user chose none); once per process."""
    global _tuned
    with _lock:
        if _tuned:
            return
        _tuned = True
        if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
            return  # the user's choice stands
        try:
            pool = pa.jemalloc_memory_pool()
        except NotImplementedError:  # a pyarrow built without jemalloc: keep its default
            log.debug("pyarrow has no jemalloc pool; keeping %s", pa.default_memory_pool())
            return
        pa.set_memory_pool(pool)
