"""The source-side session of `snapshot create`: a per-dataset lock and the source fingerprint.

The lock is a session-level advisory lock, allowed in a read-only session and on a hot
standby; it is released when the session ends, however the process ends. A create that
ends normally releases it itself before closing: a closed connection's server process
lets its locks go only as it exits, a moment later, and a create run right after (a script,
a retry) would find the lock still held.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg

from anonymiser.errors import LockHeld, SnapshotError
from anonymiser.guard import database_fingerprint
from anonymiser.pg.connect import connect, dsn_for_display, first_line

__all__ = ["CREATE_LOCK", "create_session"]

CREATE_LOCK = "anonymiser:create"  # with the dataset name: the two int4 keys of the lock


@contextlib.contextmanager
def create_session(source_dsn: str, dataset: str) -> Iterator[str]:
    """Hold the create lock of `dataset` on the source; yield the source's fingerprint."""
    conn = connect(source_dsn, role="source")
    held = False
    try:
        try:
            # every statement of this session runs read-only: it cannot write, whatever it runs
            conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            row = conn.execute(
                "SELECT pg_catalog.pg_try_advisory_lock(hashtext(%s), hashtext(%s))",
                (CREATE_LOCK, dataset),
            ).fetchone()
            held = bool(row and row[0])
            fingerprint = database_fingerprint(conn)
        except psycopg.Error as exc:
            raise SnapshotError(
                f"cannot prepare the snapshot on {dsn_for_display(source_dsn)}: {first_line(exc)}"
            ) from None
        if not held:
            raise LockHeld(
                f"another `snapshot create {dataset}` is running against "
                f"{dsn_for_display(source_dsn)}; wait for it to finish and try again"
            )
        yield fingerprint
    finally:
        if held:
            with contextlib.suppress(psycopg.Error):  # a broken session lets it go as it ends
                conn.execute(
                    "SELECT pg_catalog.pg_advisory_unlock(hashtext(%s), hashtext(%s))",
                    (CREATE_LOCK, dataset),
                )
        conn.close()  # ends the session (which releases the lock if it is still held)
