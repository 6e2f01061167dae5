"""A throwaway PostgreSQL server on a random loopback port, for tests and `anonymiser demo`."""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from anonymiser.errors import AnonymiserError, ToolMissing

__all__ = ["EphemeralCluster", "find_server_bin_dir"]

SERVER_TOOLS = ("initdb", "pg_ctl", "postgres")
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
INSTALL_HINT = (
    "install the PostgreSQL server (e.g. `apt-get install postgresql`) "
    "or put the directory holding initdb, pg_ctl and postgres on PATH"
)
# The system account PostgreSQL runs as when we are root (it refuses to run as root).
SERVICE_USER = "postgres"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
PORT_ATTEMPTS = 5
LOG_TAIL_LINES = 40


def _has_server_tools(directory: Path) -> bool:
    return all(os.access(directory / tool, os.X_OK) for tool in SERVER_TOOLS)


def _debian_major(directory: str) -> int:
    match = re.search(r"/(\d+)/bin$", directory)
    return int(match.group(1)) if match else -1


def find_server_bin_dir() -> Path:
    """Where initdb, pg_ctl and postgres are: ANONYMISER_PG_BIN, PATH, then Debian's layout."""
    candidates: list[Path] = []
    explicit = os.environ.get("ANONYMISER_PG_BIN")
    if explicit:
        candidates.append(Path(explicit))
    on_path = shutil.which("initdb")
    if on_path:
        # Both the PATH entry itself and where its symlink points (e.g. /usr/local/bin -> real dir).
        candidates += [Path(on_path).parent, Path(on_path).resolve().parent]
    debian_dirs = sorted(glob.glob(DEBIAN_BIN_GLOB), key=_debian_major, reverse=True)
    candidates += [Path(d) for d in debian_dirs]
    for directory in candidates:
        if _has_server_tools(directory):
            return directory
    raise ToolMissing(
        f"no PostgreSQL server binaries (initdb, pg_ctl, postgres) found; {INSTALL_HINT}"
    )


def _server_major_version(bin_dir: Path) -> int:
    # `postgres --version` is allowed even as root: "postgres (PostgreSQL) 15.8 (Debian 15.8-1)".
    out = subprocess.run(
        [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    if not match:
        raise ToolMissing(
            f"cannot tell the version of {bin_dir / 'postgres'} ({out.strip()!r}); {INSTALL_HINT}"
        )
    return int(match.group(1))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The server log's last errors (or last lines), joined onto one line for an error message."""
    try:
        recent = [ln.strip() for ln in path.read_text(errors="replace").splitlines()[-lines:]]
    except OSError:
        return "(no server log)"
    errors = [
        ln
        for ln in recent
        if any(level in ln for level in ("FATAL", "PANIC", "ERROR", "could not"))
    ]
    return " | ".join(errors[-3:] or [ln for ln in recent if ln][-5:]) or "(empty server log)"


def _port_taken(log: Path) -> bool:
    """Whether the last start failed because another process had bound the port."""
    try:
        recent = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except OSError:
        return False
    return any("Address already in use" in line for line in recent)


class EphemeralCluster:
    """A private PostgreSQL cluster: initdb into a temp dir, start, hand out DSNs, stop and delete.

    Trust authentication is safe here only because the server listens on 127.0.0.1 and a socket
    directory nobody else can enter, and lives no longer than the process that started it.
    """

    def __init__(self, bin_dir: str | Path | None = None, start_timeout: float = 60.0) -> None:
        self.bin_dir: Path = Path(bin_dir) if bin_dir else find_server_bin_dir()
        if not _has_server_tools(self.bin_dir):
            raise ToolMissing(f"{self.bin_dir} lacks initdb, pg_ctl or postgres; {INSTALL_HINT}")
        self.version: int = _server_major_version(self.bin_dir)
        self.start_timeout = start_timeout
        self._port: int | None = None
        self._base_dir: Path | None = None
        self._run_as: pwd.struct_passwd | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("EphemeralCluster is not running; call start() first")
        return self._port

    @property
    def data_dir(self) -> Path:
        if self._base_dir is None:
            raise RuntimeError("EphemeralCluster is not running; call start() first")
        return self._base_dir / "data"

    @property
    def running(self) -> bool:
        return self._port is not None

    def start(self) -> EphemeralCluster:
        """Create, configure and start the cluster; return self once it accepts connections."""
        if self.running:
            return self
        self._run_as = self._service_account()
        self._base_dir = Path(tempfile.mkdtemp(prefix="anonymiser-pg-"))
        atexit.register(self.stop)
        try:
            socket_dir = self._base_dir / "socket"
            socket_dir.mkdir()
            if self._run_as is not None:
                for path in (self._base_dir, socket_dir):
                    os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)
            self._initdb(socket_dir)
            self._start_on_free_port()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its files; safe to call more than once."""
        atexit.unregister(self.stop)
        base, self._base_dir = self._base_dir, None
        if base is None:
            return
        data_dir = base / "data"
        if (data_dir / "postmaster.pid").exists():
            stopped = self._pg_ctl(["stop", "-m", "fast", "-w", "-t", "30"], data_dir)
            if stopped.returncode != 0:
                self._pg_ctl(["stop", "-m", "immediate", "-w", "-t", "30"], data_dir)
        self._port = None
        shutil.rmtree(base, ignore_errors=True)

    def __enter__(self) -> EphemeralCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- databases -----------------------------------------------------------------------------

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq key=value conninfo for `dbname` as the superuser over loopback TCP."""
        return make_conninfo(host=HOST, port=self.port, user=SUPERUSER, dbname=dbname)

    def create_database(self, name: str) -> str:
        """Create an empty database called `name` and return its DSN."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                    sql.Identifier(name)
                )
            )
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        """Drop `name` if it exists, disconnecting anyone still using it."""
        force = sql.SQL(" WITH (FORCE)") if self.version >= 13 else sql.SQL("")
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {}{}").format(sql.Identifier(name), force)
            )

    # -- internals -----------------------------------------------------------------------------

    def _service_account(self) -> pwd.struct_passwd | None:
        """The account to run the server as: None (ourselves) unless we are root."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SERVICE_USER)
        except KeyError:
            raise ToolMissing(
                f"PostgreSQL refuses to run as root and there is no {SERVICE_USER!r} system user; "
                "run as an ordinary user, or create it (`apt-get install postgresql` does)"
            ) from None

    def _run(self, args: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        if self._run_as is not None:
            kwargs.update(
                user=self._run_as.pw_uid,
                group=self._run_as.pw_gid,
                extra_groups=[],  # drop root's supplementary groups
            )
            env["HOME"] = self._run_as.pw_dir
            env["USER"] = env["LOGNAME"] = self._run_as.pw_name
        # a process group of its own: initdb runs the server in single-user mode as a child,
        # which must not outlive an interrupted initdb and write into the deleted cluster
        with subprocess.Popen(
            list(args),
            env=env,
            cwd=self._base_dir or tempfile.gettempdir(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            **kwargs,
        ) as process:
            try:
                stdout, stderr = process.communicate()
            except BaseException:  # interrupted (Ctrl-C, SIGTERM): the group goes with it
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def _pg_ctl(self, args: Sequence[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
        return self._run([str(self.bin_dir / "pg_ctl"), "-D", str(data_dir), *args])

    def _initdb(self, socket_dir: Path) -> None:
        result = self._run(
            [
                str(self.bin_dir / "initdb"),
                "-D", str(self.data_dir),
                "--auth=trust", "-U", SUPERUSER,
                "--encoding=UTF8", "--locale=C", "--no-sync",
            ]
        )  # fmt: skip
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise AnonymiserError(f"initdb failed in {self.data_dir}: {' | '.join(detail)}")
        settings = {
            "listen_addresses": HOST,
            "unix_socket_directories": str(socket_dir),
            # Durability is pointless for a throwaway cluster; speed is not.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        quoted = {key: value.replace("'", "''") for key, value in settings.items()}
        lines = [f"{key} = '{value}'" for key, value in quoted.items()]
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# anonymiser ephemeral cluster\n" + "\n".join(lines) + "\n")

    def _start_on_free_port(self) -> None:
        log = self.data_dir / "server.log"
        for _attempt in range(PORT_ATTEMPTS):
            port = _free_port()
            wait = ["-w", "-t", str(int(self.start_timeout))]
            start = ["start", *wait, "-l", str(log), "-o", f"-p {port}"]
            result = self._pg_ctl(start, self.data_dir)
            if result.returncode == 0:
                self._port = port
                self._wait_until_ready()
                return
            # Someone else took the port between our probe and the server's bind: try another.
            if not _port_taken(log):
                break
            # A failed start can leave the server stopping; make sure it is gone before retrying.
            self._pg_ctl(["stop", "-m", "immediate", "-w"], self.data_dir)
        raise AnonymiserError(f"PostgreSQL in {self.data_dir} did not start: {_tail(log)}")

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise AnonymiserError(
                        f"PostgreSQL on {HOST}:{self.port} is not accepting connections: "
                        f"{str(exc).strip()} | {_tail(self.data_dir / 'server.log')}"
                    ) from exc
                time.sleep(0.1)
