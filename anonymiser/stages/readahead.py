"""Reading a snapshot's tables ahead of restore's COPY: Parquet and text encoding in threads."""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from queue import Empty, Queue
from typing import Any, NamedTuple, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from anonymiser.manifest import FileEntry
from anonymiser.pg.writer import encode_batch
from anonymiser.stages.parts import batch_rows

__all__ = ["Chunk", "TableReader"]

_BATCH_BYTES = 16 * 1024 * 1024  # Arrow bytes per batch sent to COPY, whatever the row width
_MAX_BATCH_ROWS = 64 * 1024
_DEPTH = 4  # encoded chunks waiting for the COPY, per table

T = TypeVar("T")


class Chunk(NamedTuple):
    rows: int
    arrow_bytes: int
    text: bytes  # COPY text format


def _ordered_parallel_map(
    func: Callable[[Any], T], items: Iterable[Any], jobs: int
) -> Generator[T]:
    """map() over a thread pool keeping order, with at most 2*jobs items in flight."""
    if jobs <= 1:
        yield from map(func, items)
        return
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="encode") as pool:
        window: deque[Future[T]] = deque()
        for item in items:
            window.append(pool.submit(func, item))
            if len(window) >= 2 * jobs:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def _batches(files: list[FileEntry], paths: dict[str, Path]) -> Iterator[pa.RecordBatch]:
    for entry in files:
        with pq.ParquetFile(paths[entry.path]) as parquet:
            rows = batch_rows(parquet, _BATCH_BYTES, _MAX_BATCH_ROWS)
            yield from parquet.iter_batches(batch_size=rows)


def _encode(batch: pa.RecordBatch) -> Chunk:
    return Chunk(batch.num_rows, batch.nbytes, encode_batch(batch))


class TableReader:
    """One table's files, read and encoded in a background thread up to _DEPTH chunks ahead.

    The thread starts at once, so restore reads the next table while the current one loads
    (tables are mostly one or two batches: without it, each would be read, then sent).
    `close()` (idempotent; also after a failed COPY) stops the thread and waits for it, and
    the thread shuts its encoder pool and closes its Parquet files, so nothing stays blocked
    on a full queue in a long-lived process.
    """

    def __init__(self, files: list[FileEntry], paths: dict[str, Path], jobs: int) -> None:
        self._queue: Queue[tuple[str, Any]] = Queue(maxsize=_DEPTH)
        self._stop = threading.Event()
        self._chunks = _ordered_parallel_map(_encode, _batches(files, paths), jobs)
        self._thread = threading.Thread(target=self._produce, name="restore-read", daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        try:
            for chunk in self._chunks:
                if self._stop.is_set():
                    return
                self._queue.put(("data", chunk))
            self._queue.put(("end", None))
        except BaseException as exc:
            self._queue.put(("error", exc))
        finally:
            self._chunks.close()

    def __iter__(self) -> Iterator[Chunk]:
        while True:
            kind, value = self._queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a put() waiting on the full queue
            with contextlib.suppress(Empty):
                self._queue.get_nowait()
            self._thread.join(timeout=0.05)
