"""A throwaway PostgreSQL cluster for a test session (Debian ``postgresql``).

:class:`PostgresCluster` runs ``initdb`` into a fresh directory, starts the
server (``postgres``) on it as a child process and creates one database. The
server listens on a Unix socket in the cluster's own directory and on no TCP
address at all (``listen_addresses=''``): no port to pick, nothing reachable
from the network. Clients log in as the cluster's superuser without a
password (``trust``); the socket's directory is mode 0700, so only its owner
and root reach it. :attr:`PostgresCluster.url` is the SQLAlchemy URL.

PostgreSQL refuses to run as root. When the tests run as root, ``initdb`` and
the server run as the ``postgres`` system user the Debian package creates,
and the cluster directory is handed to that user. This is also why the
directory is made in the system's temp dir and not under pytest's: pytest's
base directory is mode 0700 and owned by root, so the ``postgres`` user could
not reach anything below it.

Durability is switched off (``fsync``, ``synchronous_commit``,
``full_page_writes``): the database is thrown away after the session.

Stopping (:meth:`PostgresCluster.stop`): SIGINT to the postmaster,
PostgreSQL's "fast" shutdown (clients are disconnected, a checkpoint written
without syncing, ≈0.1 s), SIGKILL to whatever of it is left after a grace
period (checked by pid start time, so a reused pid is never hit), then the
directory is removed. If the test process dies without stopping it (killed,
a hard timeout), Linux's parent-death signal gives the postmaster SIGQUIT,
the "immediate" shutdown, and the next cluster started on the machine removes
the directory left behind (:func:`remove_stale_clusters`).

Only the standard library: this module is imported by suites that have no
database driver installed.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.support.processes import alive, descendants, start_ticks
from tests.support.servers import StartStop

__all__ = [
    "INSTALL_HINT",
    "PostgresCluster",
    "PostgresError",
    "PostgresUnavailable",
    "find_bindir",
    "remove_stale_clusters",
]

#: Where Debian installs each PostgreSQL major version (``15/bin``, ...),
#: off PATH.
DEBIAN_ROOT = Path("/usr/lib/postgresql")
#: The programs a cluster needs: the server, its set-up and two clients.
TOOLS = ("initdb", "postgres", "createdb", "psql")
INSTALL_HINT = "install it with `tools/debian-packages postgresql` (Debian's PostgreSQL 15)"
#: The unprivileged account the Debian package creates; the server runs as it
#: when the tests run as root.
SERVER_ACCOUNT = "postgres"
DIR_PREFIX = "gridflow-test-pg-"
OWNER_FILE = "owner"

#: Server settings, passed as ``-c name=value``. A database thrown away after
#: the session needs no durability; shared memory is kept small next to
#: ~700 MB of Airflow (its metadata is a few MB).
SERVER_SETTINGS = {
    "listen_addresses": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
}

READY_TIMEOUT_S = 30.0
CLIENT_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's programs (or the account to run them as) are not on this machine."""


class PostgresError(RuntimeError):
    """The cluster did not start, or a client command failed."""


def find_bindir(candidates: Sequence[Path] | None = None) -> Path:
    """The first directory holding every program in :data:`TOOLS`.

    By default: Debian's newest ``/usr/lib/postgresql/N/bin``, then what
    ``pg_config --bindir`` says, then the directory of a ``postgres`` on PATH
    (other systems). ``pg_config`` alone proves little: Debian's ``libpq-dev``
    ships one without the server.
    """
    searched = list(candidates) if candidates is not None else _default_candidates()
    for folder in searched:
        if all(os.access(folder / tool, os.X_OK) for tool in TOOLS):
            return folder
    where = ", ".join(str(f) for f in searched) or "nowhere (no candidates)"
    raise PostgresUnavailable(
        f"PostgreSQL's {', '.join(TOOLS)} not found (looked in {where}); {INSTALL_HINT}"
    )


def _default_candidates() -> list[Path]:
    def major(bindir: Path) -> float:
        try:
            return float(bindir.parent.name)
        except ValueError:
            return -1.0

    found = sorted(DEBIAN_ROOT.glob("*/bin"), key=major, reverse=True)
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            found.append(Path(out.stdout.strip()))
    server = shutil.which("postgres")
    if server is not None:
        found.append(Path(server).parent)
    return found


def remove_stale_clusters(tmp_root: Path | None = None) -> list[Path]:
    """Remove cluster directories whose test process is gone; returns them.

    A directory is stale when the process that made it (its ``owner`` file:
    pid and start time) no longer runs and no postmaster runs on it. Others
    (a session still running, a directory being made, not ours) are left.
    """
    removed: list[Path] = []
    for folder in sorted(Path(tmp_root or tempfile.gettempdir()).glob(f"{DIR_PREFIX}*")):
        owner = _read_owner(folder)
        if owner is None or start_ticks(owner[0]) == owner[1]:
            continue
        postmaster = _postmaster_pid(folder / "data")
        if postmaster is not None and alive(postmaster):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _read_owner(folder: Path) -> tuple[int, int] | None:
    try:
        pid, ticks = (folder / OWNER_FILE).read_text().split()
        return int(pid), int(ticks)
    except (OSError, ValueError):
        return None


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


class PostgresCluster(StartStop):
    """One initdb'd cluster with one database, started by :meth:`start`.

    ``log_path`` receives initdb's output and the server's log; it may be
    anywhere (the file is opened by this process, not the server's account),
    and it stays after :meth:`stop` removes the cluster.
    """

    def __init__(
        self,
        log_path: Path,
        *,
        database: str = "airflow",
        user: str = "airflow",
        bindir: Path | None = None,
    ) -> None:
        self.log_path = log_path
        self.database = database
        self.user = user
        self.bindir = bindir
        self.root: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.timings: dict[str, float] = {}

    # -- where things are ---------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._root() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._root() / "socket"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL (psycopg2); a socket directory goes in ``host=``."""
        host = quote(str(self.socket_dir), safe="/")
        return f"postgresql+psycopg2://{self.user}@/{self.database}?host={host}"

    def _root(self) -> Path:
        if self.root is None:
            raise PostgresError("the cluster is not started")
        return self.root

    # -- start / stop -------------------------------------------------------

    def start(self) -> PostgresCluster:
        """Make, start and fill the cluster; on any failure, undo what was done and raise."""
        if self.process is not None:
            return self
        # A bindir given by the caller must hold every tool too.
        self.bindir = find_bindir([self.bindir]) if self.bindir else find_bindir()
        account = _server_account()
        remove_stale_clusters()
        started = time.monotonic()
        self.root = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
        try:
            (self.root / OWNER_FILE).write_text(f"{os.getpid()} {start_ticks(os.getpid())}\n")
            self.socket_dir.mkdir(mode=0o700)
            if account is not None:
                for folder in (self.root, self.socket_dir):
                    os.chown(folder, account.pw_uid, account.pw_gid)
            self._initdb(account)
            self.timings["initdb_s"] = time.monotonic() - started
            self.process = self._spawn_server(account)
            self._wait_ready(started)
            self.timings["ready_s"] = time.monotonic() - started
            self._client("createdb", self.database)
            self.timings["started_s"] = time.monotonic() - started
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Fast shutdown, SIGKILL after a grace period, directory removed. Safe to call twice."""
        process, self.process = self.process, None
        if process is not None:
            began = time.monotonic()
            targets = self._pids_of(process)
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=STOP_GRACE_S)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            for pid, ticks in targets:
                # The start time proves the pid was not reused meanwhile.
                if start_ticks(pid) == ticks:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
            self.timings["stop_s"] = time.monotonic() - began
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    # -- clients ------------------------------------------------------------

    def psql(self, sql: str) -> str:
        """Run ``sql`` on the database; the rows as ``psql -At`` prints them."""
        return self._client(
            "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.database, "-c", sql
        )

    def pids(self) -> list[int]:
        """The postmaster and every process below it (backends, background workers)."""
        return [pid for pid, _ in self._pids_of(self.process)] if self.process else []

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- internals ----------------------------------------------------------

    def _tool(self, name: str) -> str:
        if self.bindir is None:
            raise PostgresError("the cluster is not started")
        return str(self.bindir / name)

    def _initdb(self, account: pwd.struct_passwd | None) -> None:
        argv = [
            self._tool("initdb"),
            "--pgdata",
            str(self.data_dir),
            "--username",
            self.user,
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--auth",
            "trust",
            # Nothing to make durable: the cluster is thrown away.
            "--no-sync",
        ]
        with self.log_path.open("ab") as log:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=READY_TIMEOUT_S * 2,
                check=False,
                **_as_server(self._root(), account, signal.SIGTERM),
            )
        if done.returncode != 0:
            raise PostgresError(
                f"initdb exited with {done.returncode}; last lines of {self.log_path}:\n"
                + self.log_tail()
            )

    def _spawn_server(self, account: pwd.struct_passwd | None) -> subprocess.Popen[bytes]:
        settings = {**SERVER_SETTINGS, "unix_socket_directories": str(self.socket_dir)}
        argv = [self._tool("postgres"), "-D", str(self.data_dir)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own process group: stop() can kill the backends with it.
                start_new_session=True,
                # SIGQUIT is the "immediate" shutdown: nobody waits for it.
                **_as_server(self._root(), account, signal.SIGQUIT),
            )

    def _wait_ready(self, started: float) -> None:
        """Until the postmaster marks itself ready in postmaster.pid, as ``pg_ctl -w`` waits."""
        deadline = started + READY_TIMEOUT_S
        pid_file = self.data_dir / "postmaster.pid"
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise PostgresError(
                    f"postgres exited with {code}; last lines of {self.log_path}:\n"
                    + self.log_tail()
                )
            with contextlib.suppress(OSError):
                lines = pid_file.read_text().splitlines()
                # Line 8 is the postmaster's status (PostgreSQL's pidfile.h).
                if len(lines) >= 8 and lines[7].strip() == "ready":
                    return
            time.sleep(0.02)
        raise PostgresError(
            f"postgres not ready within {READY_TIMEOUT_S:.0f}s; last lines of {self.log_path}:\n"
            + self.log_tail()
        )

    def _client(self, tool: str, *args: str) -> str:
        """A client program against the socket as the superuser; its stdout."""
        done = subprocess.run(
            [self._tool(tool), "-h", str(self.socket_dir), "-U", self.user, *args],
            env=_clean_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise PostgresError(f"{tool} {' '.join(args)}: exit {done.returncode}: {done.stderr}")
        return done.stdout.strip()

    @staticmethod
    def _pids_of(process: subprocess.Popen[bytes] | None) -> list[tuple[int, int]]:
        """``(pid, start ticks)`` of the postmaster and its descendants while they run."""
        if process is None or process.poll() is not None:
            return []
        pids = [process.pid, *descendants([process.pid])]
        found = [(pid, start_ticks(pid)) for pid in pids]
        return [(pid, ticks) for pid, ticks in found if ticks is not None]


def _server_account() -> pwd.struct_passwd | None:
    """The account initdb and the server run as: None (this process's) unless root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, and PostgreSQL refuses root: it needs the unprivileged "
            f"{SERVER_ACCOUNT!r} user, which Debian's package creates; {INSTALL_HINT}"
        ) from None


def _as_server(
    cwd: Path, account: pwd.struct_passwd | None, death_signal: signal.Signals
) -> dict[str, Any]:
    """``subprocess`` arguments running a program as the server's account."""
    kwargs: dict[str, Any] = {
        "cwd": cwd,
        "env": _clean_env(),
        "preexec_fn": functools.partial(_die_with_parent, death_signal),
    }
    if account is not None:
        # Root's supplementary groups are dropped too (extra_groups=[]).
        kwargs.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
    return kwargs


def _clean_env() -> dict[str, str]:
    """No inherited ``PG*`` variable (PGHOST, PGDATA, ...) may redirect a tool."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    # English messages, whatever the caller's locale; initdb gets --locale C anyway.
    env["LC_ALL"] = "C"
    return env


def _die_with_parent(death_signal: signal.Signals) -> None:
    # Runs in the child after the switch to the server's account: changing
    # the uid clears a parent-death signal set before it. Nothing may be
    # imported here: that account cannot read this interpreter's files.
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(death_signal))


def _load_prctl() -> Any:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None  # not Linux: stop() still stops the cluster


_PR_SET_PDEATHSIG = 1
_PRCTL = _load_prctl()
