"""Extracting a table far larger than the memory budget keeps the process's peak RSS bounded."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

from anonymiser.manifest import Manifest

TABLE_BYTES = 600 * 1024 * 1024  # ~600 MB of text in the source table
ROW_TEXT = 32 * 30  # repeat(md5(...), 30): 960 characters a row, under the TOAST threshold
PEAK_RSS_LIMIT = 400 * 1024 * 1024

# The child reports its own peak RSS (and its children's, e.g. pg_dump) as JSON on stdout.
CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from anonymiser.snapshot import create_snapshot
    manifest = create_snapshot(
        sys.argv[1], sys.argv[2], dataset="fullset", version="big", jobs=1, unmasked=True
    )
    peak_kib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(json.dumps({"peak_rss": peak_kib * 1024, "manifest": manifest.to_dict()}))
    """
)


@pytest.mark.slow
def test_large_table_is_extracted_with_bounded_memory(source_dsn: str, tmp_path: Path) -> None:
    rows = TABLE_BYTES // ROW_TEXT
    started = time.monotonic()
    with psycopg.connect(source_dsn) as conn:
        conn.execute("CREATE TABLE public.big (id bigint PRIMARY KEY, body text NOT NULL)")
        conn.execute(
            "INSERT INTO public.big SELECT g, repeat(md5(g::text), 30) "
            "FROM generate_series(1, %s) AS g",
            (rows,),
        )
    generated = time.monotonic() - started

    store = tmp_path / "store"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, source_dsn, str(store)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, f"snapshot failed: {done.stderr.strip()[-2000:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    peak = report["peak_rss"]
    manifest = Manifest.from_json(json.dumps(report["manifest"]).encode(), where="child")
    big = next(t for t in manifest.tables if (t.schema, t.name) == ("public", "big"))

    print(
        f"generated {rows} rows in {generated:.1f}s; extract peak RSS {peak / 2**20:.0f} MiB; "
        f"{len(big.files)} files, {big.bytes / 2**20:.0f} MiB of Parquet"
    )
    assert big.rows == rows
    assert len(big.files) >= 2, "a large table must be split into several Parquet files"
    assert peak < PEAK_RSS_LIMIT, (
        f"extract peak RSS {peak / 2**20:.0f} MiB exceeds {PEAK_RSS_LIMIT / 2**20:.0f} MiB "
        f"for a {TABLE_BYTES / 2**20:.0f} MiB table"
    )
