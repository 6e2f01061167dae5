"""Run one function over many items in a few threads: results in order, the first error wins."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TypeVar

__all__ = ["in_threads"]

Item = TypeVar("Item")
Result = TypeVar("Result")


def in_threads(func: Callable[[Item], Result], items: Iterable[Item], jobs: int) -> list[Result]:
    """[func(item) for item in items], `jobs` at a time.

    Worth it where the work releases the GIL (Arrow, Parquet, NumPy, zstd). On the first
    exception, or an interruption, the items not started are dropped, the running ones
    finish, and it is raised.
    """
    todo = list(items)
    if jobs <= 1 or len(todo) <= 1:
        return [func(item) for item in todo]
    with ThreadPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
        futures = [pool.submit(func, item) for item in todo]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:  # interrupted (Ctrl-C, SIGTERM): start nothing more either
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        failed = next((f for f in futures if f in done and f.exception() is not None), None)
        if failed is not None:
            pool.shutdown(wait=True, cancel_futures=True)
            failed.result()  # raises
        return [f.result() for f in futures]
