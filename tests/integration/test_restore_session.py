"""The restore transaction's own settings: raised for it alone, never lowered."""

from __future__ import annotations

import psycopg
import pytest

from anonymiser.stages.restore import _tune_transaction


@pytest.mark.parametrize(
    ("session", "inside"), [("64MB", "256MB"), ("1GB", "1GB")], ids=["raised", "kept"]
)
def test_restore_transaction_raises_maintenance_work_mem_but_never_lowers_it(
    target_dsn: str, session: str, inside: str
) -> None:
    with psycopg.connect(target_dsn, autocommit=True) as conn:
        conn.execute(f"SET maintenance_work_mem = '{session}'")
        conn.execute("BEGIN")
        _tune_transaction(conn, jobs=2)
        assert conn.execute("SHOW maintenance_work_mem").fetchone() == (inside,)
        assert conn.execute("SHOW max_parallel_maintenance_workers").fetchone() == ("1",)
        conn.execute("ROLLBACK")
        assert conn.execute("SHOW maintenance_work_mem").fetchone() == (session,)
