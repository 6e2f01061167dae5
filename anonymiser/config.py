"""Settings that come from flags or the environment: flags win, then ANONYMISER_* variables."""

from __future__ import annotations

from anonymiser.errors import ConfigError

__all__ = ["DEFAULT_STORE", "ENV_SOURCE", "ENV_STORE", "ENV_TARGET", "require"]

ENV_STORE = "ANONYMISER_STORE"
ENV_SOURCE = "ANONYMISER_SOURCE"
ENV_TARGET = "ANONYMISER_TARGET"
DEFAULT_STORE = "./anonymiser-store"


def require(value: str | None, *, flag: str, env: str, what: str) -> str:
    """A mandatory setting, or a ConfigError saying both ways to give it."""
    if not value:
        raise ConfigError(f"no {what}: pass {flag} or set {env}")
    return value
