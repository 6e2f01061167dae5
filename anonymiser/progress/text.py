"""How reported values are shown: passwords hidden, byte counts in binary units."""

from __future__ import annotations

import re

__all__ = ["human_bytes", "redact"]

# a quoted key=value password may hold \' (libpq's escape); a URL may have no user name
_PASSWORD = re.compile(
    r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)|(://[^:/@\s]*:)([^@\s]+)(@)", re.IGNORECASE
)


def redact(text: str) -> str:
    """Hide passwords in key=value DSNs and in URLs (user:secret@host)."""

    def hide(match: re.Match[str]) -> str:
        if match.group(1):
            return f"{match.group(1)}***"
        return f"{match.group(3)}***{match.group(5)}"

    return _PASSWORD.sub(hide, text)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
