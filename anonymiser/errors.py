"""The one exception tree of anonymiser; every user-facing failure is an AnonymiserError.

AnonymiserError                 base; `exit_code` is what the CLI exits with
├── ConfigError                 bad flags, settings, dataset or rule files        (exit 2)
├── ConnectionFailed            a database that cannot be reached or logged into  (exit 3)
├── NotFound                    unknown dataset or version in a store             (exit 4)
├── StoreError                  a store that is missing or cannot be written      (exit 5)
├── IntegrityError              a snapshot whose files do not match its manifest  (exit 6)
├── SnapshotError               extraction failed                                 (exit 7)
│   └── LockHeld                another create of the dataset holds the lock      (exit 11)
├── RestoreError                restore failed; the target is left as it was      (exit 8)
│   ├── TargetNotEmpty          target holds objects and --clean was not given
│   └── ProtectedTarget         target is production (deny-list, marker, or the source)
├── ToolMissing                 a PostgreSQL client program (pg_dump) is missing  (exit 9)
└── VerificationFailed          the masked output failed a check; nothing published (exit 10)

Messages are one line, name the object involved (table, file, DSN without its password)
and say what to do about it.
"""

from __future__ import annotations

__all__ = [
    "AnonymiserError",
    "ConfigError",
    "ConnectionFailed",
    "IntegrityError",
    "LockHeld",
    "NotFound",
    "ProtectedTarget",
    "RestoreError",
    "SnapshotError",
    "StoreError",
    "TargetNotEmpty",
    "ToolMissing",
    "VerificationFailed",
]


class AnonymiserError(Exception):
    """Base of every error anonymiser reports to a user."""

    exit_code = 1


class ConfigError(AnonymiserError):
    exit_code = 2


class ConnectionFailed(AnonymiserError):
    exit_code = 3


class NotFound(AnonymiserError):
    exit_code = 4


class StoreError(AnonymiserError):
    exit_code = 5


class IntegrityError(AnonymiserError):
    exit_code = 6


class SnapshotError(AnonymiserError):
    exit_code = 7


class LockHeld(SnapshotError):
    exit_code = 11


class RestoreError(AnonymiserError):
    exit_code = 8


class TargetNotEmpty(RestoreError):
    pass


class ProtectedTarget(RestoreError):
    pass


class ToolMissing(AnonymiserError):
    exit_code = 9


class VerificationFailed(AnonymiserError):
    exit_code = 10
