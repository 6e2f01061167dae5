"""Settings that come from flags or the environment: flags win, then ANONYMISER_* variables.

The masking key is the one secret: it comes from `--key-file` or ANONYMISER_KEY, never from a
rule file, and only its fingerprint is ever written anywhere (manifest, logs).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from anonymiser.errors import ConfigError

__all__ = [
    "DEFAULT_RULES_DIR",
    "DEFAULT_STORE",
    "ENV_KEY",
    "ENV_SOURCE",
    "ENV_STORE",
    "ENV_TARGET",
    "MIN_KEY_BYTES",
    "key_fingerprint",
    "load_key",
    "require",
    "throwaway_key",
]

ENV_STORE = "ANONYMISER_STORE"
ENV_SOURCE = "ANONYMISER_SOURCE"
ENV_TARGET = "ANONYMISER_TARGET"
ENV_KEY = "ANONYMISER_KEY"
DEFAULT_STORE = "./anonymiser-store"
DEFAULT_RULES_DIR = Path("rules")
MIN_KEY_BYTES = 16  # a short key could be guessed, and with it every pseudonym reversed


def require(value: str | None, *, flag: str, env: str, what: str) -> str:
    """A mandatory setting, or a ConfigError saying both ways to give it."""
    if not value:
        raise ConfigError(f"no {what}: pass {flag} or set {env}")
    return value


def load_key(key_file: Path | None = None, *, environ: dict[str, str] | None = None) -> bytes:
    """The masking key from `key_file` (wins) or ANONYMISER_KEY; refuses to run without one."""
    if key_file is not None:
        try:
            key = key_file.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the key file {key_file}: {exc.strerror}") from None
        where = f"key file {key_file}"
    else:
        value = (os.environ if environ is None else environ).get(ENV_KEY, "")
        key = value.strip().encode()
        where = ENV_KEY
        if not key:
            raise ConfigError(
                f"no masking key: set {ENV_KEY} or pass --key-file FILE "
                "(a long random secret, e.g. `openssl rand -hex 32`; keep it out of git)"
            )
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"the masking key in {where} is shorter than {MIN_KEY_BYTES} bytes: "
            "use a long random secret, e.g. `openssl rand -hex 32`"
        )
    return key


def key_fingerprint(key: bytes) -> str:
    """Identifies a key in manifests without revealing it: 16 hex of an HMAC, not of the key."""
    return hmac.new(key, b"anonymiser-fingerprint", hashlib.sha256).hexdigest()[:16]


def throwaway_key() -> bytes:
    """A random key for the demo: its pseudonyms cannot be reproduced by anyone."""
    return secrets.token_hex(32).encode()
