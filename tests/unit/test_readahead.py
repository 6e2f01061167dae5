"""Restore's read-ahead: every row in order, and no thread left behind when a load stops early."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from anonymiser.manifest import FileEntry
from anonymiser.pg.writer import encode_batch
from anonymiser.stages.readahead import TableReader
from tests.conftest import restore_threads_alive


def write_parts(folder: Path, parts: int, rows: int) -> tuple[list[FileEntry], dict[str, Path]]:
    files, paths = [], {}
    for part in range(parts):
        path = folder / f"part-{part:05d}.parquet"
        ids = range(part * rows, (part + 1) * rows)
        # small row groups: each part is read as several batches
        pq.write_table(pa.table({"id": ids, "v": [f"row {i}" for i in ids]}), path, 1000)
        files.append(FileEntry(path.name, rows, path.stat().st_size, ""))
        paths[path.name] = path
    return files, paths


@pytest.mark.parametrize("jobs", [1, 3])
def test_reader_yields_every_row_in_order(tmp_path: Path, jobs: int) -> None:
    files, paths = write_parts(tmp_path, parts=3, rows=5000)
    reader = TableReader(files, paths, jobs)
    chunks = list(reader)
    reader.close()
    assert sum(chunk.rows for chunk in chunks) == 15000
    expected = pq.read_table(sorted(paths.values())).to_batches()
    assert b"".join(chunk.text for chunk in chunks) == b"".join(map(encode_batch, expected))
    assert not restore_threads_alive()


@pytest.mark.parametrize("jobs", [1, 3])
def test_closing_a_reader_mid_table_stops_its_threads(tmp_path: Path, jobs: int) -> None:
    files, paths = write_parts(tmp_path, parts=8, rows=20000)  # far more than it reads ahead
    reader = TableReader(files, paths, jobs)
    next(iter(reader))
    time.sleep(0.2)  # let it fill its queue and block
    reader.close()
    assert not restore_threads_alive(), "a reader thread is still running after close()"
