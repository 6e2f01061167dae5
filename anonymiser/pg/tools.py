"""Finding PostgreSQL client programs (pg_dump) of a version able to read a given server."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

from anonymiser.errors import ToolMissing

__all__ = ["find_pg_tool", "tool_major_version"]

_DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def tool_major_version(path: Path) -> int:
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"\)\s+(\d+)", out.stdout) or re.search(r"(\d+)", out.stdout)
    return int(match.group(1)) if match else 0


def _candidates(name: str) -> list[Path]:
    found: list[Path] = []
    explicit = os.environ.get("ANONYMISER_PG_BIN")
    if explicit:
        found.append(Path(explicit) / name)
    on_path = shutil.which(name)
    if on_path:
        found.append(Path(on_path))
    found.extend(Path(d) / name for d in glob.glob(_DEBIAN_BIN_GLOB))
    return [p for p in dict.fromkeys(found) if p.is_file() and os.access(p, os.X_OK)]


def find_pg_tool(name: str, server_major: int) -> Path:
    """The newest `name` (e.g. pg_dump) whose major version is at least the server's."""
    versions = [(tool_major_version(p), p) for p in _candidates(name)]
    usable = [vp for vp in versions if vp[0] >= server_major]
    if usable:
        return max(usable, key=lambda vp: vp[0])[1]
    seen = ", ".join(f"{p} ({v})" for v, p in versions) or "none"
    raise ToolMissing(
        f"{name} {server_major} or newer is needed for a PostgreSQL {server_major} server "
        f"(found: {seen}); install the PostgreSQL {server_major} client tools "
        f"or set ANONYMISER_PG_BIN to their bin directory"
    )
