"""The restore transaction's own settings: for that transaction alone."""

from __future__ import annotations

import psycopg

from anonymiser.stages.restore import _tune_transaction


def test_restore_transaction_builds_indexes_with_parallel_workers_only_inside_it(
    target_dsn: str,
) -> None:
    with psycopg.connect(target_dsn, autocommit=True) as conn:
        before = conn.execute("SHOW max_parallel_maintenance_workers").fetchone()
        memory = conn.execute("SHOW maintenance_work_mem").fetchone()
        conn.execute("BEGIN")
        _tune_transaction(conn, jobs=3)
        assert conn.execute("SHOW max_parallel_maintenance_workers").fetchone() == ("2",)
        # more memory was measured and did not pay: the server's setting stands
        assert conn.execute("SHOW maintenance_work_mem").fetchone() == memory
        conn.execute("ROLLBACK")
        assert conn.execute("SHOW max_parallel_maintenance_workers").fetchone() == before
