"""The production guard: restore refuses a target that is, or may be, a production database.

A target is refused when (1) its host, port and database are on the deny-list
ANONYMISER_PROTECTED_DSNS, (2) the database carries the marker setting
anonymiser.environment = 'production' (ALTER DATABASE ... SET, ALTER ROLE ... SET or
postgresql.conf), or (3) it is the very database the snapshot was taken from, known by the
non-secret fingerprint recorded at create. Only allow_production (--allow-production)
overrides, and that is logged.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
import re

import psycopg
from psycopg.conninfo import conninfo_to_dict

from anonymiser.errors import ConfigError, ProtectedTarget
from anonymiser.manifest import Manifest
from anonymiser.pg.connect import dsn_for_display

__all__ = [
    "ENV_PROTECTED_DSNS",
    "MARKER_SETTING",
    "check_target",
    "database_fingerprint",
    "protected_dsns",
]

log = logging.getLogger(__name__)

ENV_PROTECTED_DSNS = "ANONYMISER_PROTECTED_DSNS"
MARKER_SETTING = "anonymiser.environment"
PRODUCTION_MARKERS = frozenset({"production", "prod"})
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})

Address = tuple[str, str, str]  # normalised host, port, database


def database_fingerprint(conn: psycopg.Connection) -> str:
    """sha256 of the cluster's system identifier, the database oid and name (not secret).

    A physical replica shares the primary's system identifier and oids, so a snapshot taken
    from a replica recognises the primary too.
    """
    try:
        row = conn.execute(
            "SELECT system_identifier FROM pg_catalog.pg_control_system()"
        ).fetchone()
        system = str(row[0]) if row else "?"
    except psycopg.Error:  # EXECUTE revoked: the oid and name still tell databases apart
        system = "?"
    row = conn.execute(
        "SELECT oid, datname FROM pg_catalog.pg_database WHERE datname = current_database()"
    ).fetchone()
    oid, name = (row[0], row[1]) if row else ("?", "?")
    return hashlib.sha256(f"{system}/{oid}/{name}".encode()).hexdigest()[:32]


def _normalise(params: dict[str, str]) -> Address:
    host = (params.get("host") or os.environ.get("PGHOST") or "localhost").split(",")[0]
    host = host.strip().lower().rstrip(".")
    if host.startswith("/") or host in _LOOPBACK:
        host = "localhost"  # a Unix socket or loopback: this machine
    port = (params.get("port") or os.environ.get("PGPORT") or "5432").split(",")[0].strip()
    user = params.get("user") or os.environ.get("PGUSER") or getpass.getuser()
    dbname = params.get("dbname") or os.environ.get("PGDATABASE") or user
    return host, port, dbname


def protected_dsns(text: str | None = None) -> list[Address]:
    """The deny-list: DSNs or URLs separated by commas or newlines (default: the environment)."""
    raw = os.environ.get(ENV_PROTECTED_DSNS, "") if text is None else text
    found = []
    for number, entry in enumerate(re.split(r"[,\n]", raw), start=1):
        if not entry.strip():
            continue
        try:
            params = {k: str(v) for k, v in conninfo_to_dict(entry.strip()).items()}
        except psycopg.ProgrammingError:
            # never echo the entry: it may hold a password
            raise ConfigError(
                f"{ENV_PROTECTED_DSNS}: entry {number} is not a valid connection string"
            ) from None
        found.append(_normalise(params))
    return found


def check_target(
    conn: psycopg.Connection, target_dsn: str, manifest: Manifest, *, allow_production: bool
) -> None:
    """ProtectedTarget if `conn`'s database looks like production, unless allow_production."""
    given = {k: str(v) for k, v in conninfo_to_dict(target_dsn).items()}
    info = conn.info
    connected = {"host": info.host, "port": str(info.port), "dbname": info.dbname}
    addresses = {_normalise(given), _normalise({**given, **connected})}
    reasons = []
    if addresses & set(protected_dsns()):
        reasons.append(f"it is on the deny-list {ENV_PROTECTED_DSNS}")
    row = conn.execute("SELECT current_setting(%s, true)", (MARKER_SETTING,)).fetchone()
    marker = str(row[0] or "") if row else ""
    if marker.strip().lower() in PRODUCTION_MARKERS:
        reasons.append(f"the database is marked {MARKER_SETTING} = {marker!r}")
    source = manifest.source.get("fingerprint")
    if source and source == database_fingerprint(conn):
        reasons.append(
            f"it is the database snapshot {manifest.dataset}/{manifest.version} was taken from"
        )
    if not reasons:
        return
    what = f"target {dsn_for_display(target_dsn)}: {'; '.join(reasons)}"
    if allow_production:
        log.warning("restoring into a protected %s (--allow-production given)", what)
        return
    raise ProtectedTarget(
        f"refusing to restore into production {what}; restore into a QA, staging or local "
        "database, or pass --allow-production if overwriting it is really intended"
    )
