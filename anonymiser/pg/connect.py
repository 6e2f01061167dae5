"""Opening PostgreSQL connections with clear errors and one fixed, lossless session setup."""

from __future__ import annotations

import os
import re

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from anonymiser.errors import ConfigError, ConnectionFailed

__all__ = [
    "SESSION_SETTINGS",
    "connect",
    "dsn_for_display",
    "dsn_without_password",
    "first_line",
    "tool_environment",
    "without_values",
]

# Text forms exchanged with the server are fixed whatever the server's or client's defaults,
# so what extract writes is exactly what restore reads back: timestamptz always in UTC,
# ISO dates, shortest-exact floats, hex bytea, locale-free money. Like pg_dump, refuse to be
# silently filtered by row-level security, and do not inherit production timeouts that would
# cancel a long COPY.
SESSION_SETTINGS: dict[str, str] = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "1",
    "bytea_output": "hex",
    "client_encoding": "UTF8",
    "xmloption": "content",
    "lc_monetary": "C",
    "row_security": "off",
    "statement_timeout": "0",
    "lock_timeout": "0",
    "idle_in_transaction_session_timeout": "0",
}


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (libpq messages span lines)."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


# the value a server message quotes after a colon: `invalid input syntax for type date: "x"`
_QUOTED_VALUE = re.compile(r'(:\s*)".*"')


def without_values(message: str) -> str:
    """A server message without the data value it quotes (a masked or an original value)."""
    return _QUOTED_VALUE.sub(r'\1"..."', message)


def _parse(dsn: str) -> dict[str, str]:
    try:
        return {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    except psycopg.ProgrammingError:
        # libpq's message can quote the offending token, which may be the password
        raise ConfigError(
            "invalid connection string: expected key=value pairs or a postgresql:// URL "
            "(check quoting, and percent-encoding of the password in a URL)"
        ) from None


def dsn_without_password(dsn: str) -> tuple[str, str | None]:
    """Split a DSN into (conninfo without password, password) for handing to client tools."""
    params = _parse(dsn)
    password = params.pop("password", None)
    return make_conninfo(**params), password


def tool_environment(dsn: str) -> tuple[str, dict[str, str]]:
    """Conninfo and environment for a client program (pg_dump, psql): the password goes in
    PGPASSWORD, never on a command line that `ps` would show."""
    conninfo, password = dsn_without_password(dsn)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password
    return conninfo, env


def dsn_for_display(dsn: str) -> str:
    """A DSN safe to print: host, port, database and user only, never the password."""
    try:
        params = _parse(dsn)
    except ConfigError:
        return "<unparseable DSN>"
    parts = [f"{key}={params[key]}" for key in ("host", "port", "dbname", "user") if key in params]
    return " ".join(parts) or "<default connection>"


def connect(dsn: str, *, role: str, autocommit: bool = True) -> psycopg.Connection:
    """Connect to the `role` ("source" or "target") database with the lossless session setup."""
    _parse(dsn)
    try:
        conn = psycopg.connect(
            dsn, autocommit=autocommit, connect_timeout=10, application_name="anonymiser"
        )
    except psycopg.OperationalError as exc:
        raise ConnectionFailed(
            f"cannot connect to the {role} database ({dsn_for_display(dsn)}): {first_line(exc)}"
        ) from None
    with conn.cursor() as cur:
        for name, value in SESSION_SETTINGS.items():
            cur.execute("SELECT pg_catalog.set_config(%s, %s, false)", (name, value))
    if not autocommit:
        conn.commit()
    return conn
