"""Settings that come from flags or the environment: flags win, then ANONYMISER_* variables.

The masking key is the one secret: it comes from `--key-file` or ANONYMISER_KEY, never from a
rule file, and only its fingerprint is ever written anywhere (manifest, logs).
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
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
    "operator_identity",
    "read_secret",
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


def read_secret(
    key_file: Path | None, env_name: str, what: str, *, environ: Mapping[str, str] | None = None
) -> bytes | None:
    """A secret from `key_file` (wins) or the `env_name` variable; None when neither is set.

    Both keys of anonymiser (masking, signing) come this way, never from a rule file, and
    must be long enough not to be guessed.
    """
    if key_file is not None:
        try:
            key = key_file.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the {what} file {key_file}: {exc.strerror}") from None
        where = f"{what} file {key_file}"
    else:
        key = (os.environ if environ is None else environ).get(env_name, "").strip().encode()
        where = env_name
        if not key:
            return None
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"the {what} in {where} is shorter than {MIN_KEY_BYTES} bytes: "
            "use a long random secret, e.g. `openssl rand -hex 32`"
        )
    return key


def load_key(key_file: Path | None = None, *, environ: Mapping[str, str] | None = None) -> bytes:
    """The masking key from `key_file` (wins) or ANONYMISER_KEY; refuses to run without one."""
    key = read_secret(key_file, ENV_KEY, "masking key", environ=environ)
    if key is None:
        raise ConfigError(
            f"no masking key: set {ENV_KEY} or pass --key-file FILE "
            "(a long random secret, e.g. `openssl rand -hex 32`; keep it out of git)"
        )
    return key


def key_fingerprint(key: bytes) -> str:
    """Identifies a key in manifests without revealing it: 16 hex of an HMAC, not of the key."""
    return hmac.new(key, b"anonymiser-fingerprint", hashlib.sha256).hexdigest()[:16]


def throwaway_key() -> bytes:
    """A random key for the demo: its pseudonyms cannot be reproduced by anyone."""
    return secrets.token_hex(32).encode()


def operator_identity(
    name: str | None = None, *, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Who ran a create, for the manifest: --operator, else $USER, else the OS account; plus
    the CI actor ($GITHUB_ACTOR) when a workflow ran it."""
    env = os.environ if environ is None else environ
    found = name or env.get("USER") or env.get("USERNAME")
    if not found:
        try:
            found = getpass.getuser()
        except (OSError, KeyError):  # a container user without a passwd entry
            found = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
    identity = {"name": found}
    if env.get("GITHUB_ACTOR"):
        identity["ci_actor"] = env["GITHUB_ACTOR"]
    return identity
