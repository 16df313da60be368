"""A real Airflow 3 for the test session: api-server, scheduler, dag-processor.

:func:`start_airflow` starts a throwaway PostgreSQL cluster for the metadata
DB (:mod:`tests.support.postgres`), builds a fresh ``AIRFLOW_HOME``
(LocalExecutor, no example DAGs, a dags folder the tests write into),
migrates the DB, starts the three servers as subprocesses of the venv's own
``airflow`` executable, each in its own process group with its own log file,
and waits until the api-server reports the scheduler and the dag-processor
healthy. :class:`AirflowClient` is the small REST client the tests use.
:meth:`AirflowServers.stop` kills every process group it started, and the
processes those started, then the database, and nothing else.

Why PostgreSQL: it is what users run Airflow on, and SQLite's single writer
lock once failed a CI run (HTTP 500 "Database error" from the api-server).
``GRIDFLOW_TEST_AIRFLOW_DB=sqlite`` runs the same servers on a SQLite file
instead, for machines without PostgreSQL; only then does the client resend
requests that met the lock. docs/decisions/0002-airflow-environment.md has
the measurements of both.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from tests.support.postgres import PostgresCluster, PostgresUnavailable
from tests.support.processes import descendants, start_ticks
from tests.support.servers import free_port

__all__ = [
    "DB_ENV",
    "AirflowClient",
    "AirflowServers",
    "DatabaseUnavailable",
    "HarnessError",
    "RunTimeout",
    "metadata_db",
    "start_airflow",
]

# The venv running pytest is the one whose Airflow we start: its `airflow`
# script sits next to its python.
AIRFLOW_BIN = Path(sys.executable).with_name("airflow")

# Two shared cores and other test suites next to us: 4 task slots are enough
# for a mapped task over 3 values and cost ~250 MB less than the default 32.
PARALLELISM = 4
# How often the dag-processor lists the dags folder (default 5 minutes) and
# re-parses a file it already knows (default 30 s): new DAG files written by a
# test must show up in seconds.
REFRESH_INTERVAL_S = 3
MIN_FILE_PROCESS_INTERVAL_S = 5

# Migration plus start until healthy; measured 39–80 s on 2 loaded cores.
STARTUP_TIMEOUT_S = 180.0
STOP_GRACE_S = 10.0
FINISHED_STATES = frozenset({"success", "failed"})
SERVERS = ("api-server", "scheduler", "dag-processor")

#: Which metadata DB the session's Airflow runs on: ``postgres`` (the
#: default, what users run) or ``sqlite`` (no database server needed).
DB_ENV = "GRIDFLOW_TEST_AIRFLOW_DB"
DB_CHOICES = ("postgres", "sqlite")


class HarnessError(RuntimeError):
    """Airflow did not start, or answered the REST client unexpectedly."""


class RunTimeout(HarnessError):
    """Something awaited (a DAG, a run) did not happen in time."""


class DatabaseUnavailable(HarnessError):
    """The metadata DB asked for cannot run here; the message says what to do."""


def metadata_db(environ: Mapping[str, str] = os.environ) -> str:
    """``postgres`` or ``sqlite``, as :data:`DB_ENV` asks (default ``postgres``)."""
    value = environ.get(DB_ENV, "").strip().lower() or "postgres"
    if value not in DB_CHOICES:
        raise DatabaseUnavailable(
            f"{DB_ENV}={environ[DB_ENV]!r} is not a metadata DB the harness knows: "
            f"use {' or '.join(DB_CHOICES)} (default postgres)"
        )
    return value


def airflow_env(
    home: Path,
    dags_folder: Path,
    port: int,
    extra: Mapping[str, str] | None = None,
    *,
    sql_alchemy_conn: str | None = None,
) -> dict[str, str]:
    """The environment of every Airflow process of the session (and its CLI calls).

    The metadata DB is ``sql_alchemy_conn``, by default a SQLite file in
    ``home`` (enough for CLI calls that never reach the DB).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
                sql_alchemy_conn or f"sqlite:///{home / 'airflow.db'}"
            ),
            # Tasks report to the api-server's execution API; the default URL
            # assumes port 8080.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API__WORKERS": "1",
            # Each process would otherwise invent its own signing secret, and a
            # task token signed by the scheduler would be refused by the api-server.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
            # gridflow keeps records holding secrets encrypted in XCom with it.
            "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
            # gridflow's plan cache (dags-folder loader) stays in the session's home.
            "GRIDFLOW_HOME": str(home / "gridflow"),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": str(REFRESH_INTERVAL_S),
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": str(MIN_FILE_PROCESS_INTERVAL_S),
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": str(MIN_FILE_PROCESS_INTERVAL_S),
            # No outside network here; keep Airflow from trying.
            "AIRFLOW__CORE__CHECK_FOR_UPDATES": "False",
            "AIRFLOW__SCARF_ANALYTICS__ENABLED": "False",
            "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
            # `airflow` children (e.g. gunicorn or task runners) found on PATH
            # must be this venv's.
            "PATH": f"{AIRFLOW_BIN.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    env.update(extra or {})
    return env


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


@dataclass
class ManagedProcess:
    """One Airflow server: a process group of its own and a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class AirflowServers:
    """The running Airflow of a test session."""

    home: Path
    dags_folder: Path
    port: int
    env: dict[str, str]
    client: AirflowClient
    #: The metadata DB's cluster; None when the servers run on SQLite.
    postgres: PostgresCluster | None = None
    processes: list[ManagedProcess] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> str:
        """``postgres`` or ``sqlite``: what the metadata DB is."""
        return "sqlite" if self.postgres is None else "postgres"

    def cli(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run ``airflow ARGS`` against this home; output captured, never raises on exit code."""
        return subprocess.run(
            [str(AIRFLOW_BIN), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def check_alive(self) -> None:
        """Raise with the log tail of any server (or the database) that has exited."""
        pg = self.postgres
        if pg is not None and (pg.process is None or pg.process.poll() is not None):
            raise HarnessError(
                f"the metadata DB's postgres has exited; last log lines ({pg.log_path}):\n"
                + pg.log_tail()
            )
        for proc in self.processes:
            code = proc.popen.poll()
            if code is not None:
                raise HarnessError(
                    f"airflow {proc.name} exited with {code}; last log lines "
                    f"({proc.log_path}):\n{proc.log_tail()}"
                )

    def diagnostics(self) -> str:
        """Log tails of every server and the database, for a failing test's message."""
        tails = [
            f"--- airflow {p.name} ({p.log_path}) ---\n{p.log_tail(25)}" for p in self.processes
        ]
        if self.postgres is not None:
            pg = self.postgres
            tails.append(f"--- postgres ({pg.log_path}) ---\n{pg.log_tail(25)}")
        return "\n\n".join(tails)

    def memory_pss_kb(self) -> int:
        """Proportional set size of every process we started, the database's included
        (forked workers share pages)."""
        total = 0
        db_pids = self.postgres.pids() if self.postgres is not None else []
        for pid in [pid for pid, _ in self._all_pids()] + db_pids:
            with contextlib.suppress(OSError, ValueError):
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        return total

    def stop(self) -> None:
        """SIGTERM each started process group; SIGKILL what is left after a grace period,
        including descendants that left their group; then stop the database.

        Only processes we started or that descend from them are signalled:
        other engineers' servers run on the same machine.
        """
        self.client.close()
        targets = self._all_pids()
        groups = [p.pid for p in self.processes if p.popen.poll() is None]
        # SIGTERM goes to the groups only: each server then stops its own
        # children. Signalling the children too made the scheduler wait ~10 s
        # for LocalExecutor workers interrupted twice (measured).
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGTERM)
        started = time.monotonic()
        deadline = started + STOP_GRACE_S
        for proc in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
                self.timings[f"stop_{proc.name}_s"] = time.monotonic() - started
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        for pid, ticks in targets:
            # The start time proves the PID was not reused by someone else's
            # process in the meantime.
            if start_ticks(pid) == ticks:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        for proc in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=5)
        # Last: the servers would log connection errors while stopping otherwise.
        if self.postgres is not None:
            self.postgres.stop()
            self.timings["stop_postgres_s"] = self.postgres.timings.get("stop_s", 0.0)

    def _all_pids(self) -> list[tuple[int, int]]:
        """``(pid, start time in clock ticks)`` of our live servers and their descendants."""
        roots = [p.pid for p in self.processes if p.popen.poll() is None]
        found = [(pid, start_ticks(pid)) for pid in descendants(roots) + roots]
        return [(pid, ticks) for pid, ticks in found if ticks is not None]


class _RetryLockedDb(httpx.HTTPTransport):
    """Sends a request again when the api-server answers 500 "Database error".

    Only on SQLite (``GRIDFLOW_TEST_AIRFLOW_DB=sqlite``): the servers then
    share one file, and a write that meets another process's write lock
    fails with that answer after SQLite's busy timeout; its transaction is
    rolled back, so sending it again is safe. Seen on a busy CI machine (an
    unpause failing); anything else is returned as it came. On PostgreSQL
    such an answer is a real failure and reaches the test.
    """

    RETRIES = 5

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for attempt in range(self.RETRIES + 1):
            response = super().handle_request(request)
            if response.status_code != 500 or attempt == self.RETRIES:
                return response
            body = response.read()
            if b'"Database error"' not in body:
                return response
            response.close()
            time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")


class AirflowClient:
    """The REST calls the tests need (Airflow 3 public API v2, simple auth manager)."""

    def __init__(self, base_url: str, home: Path, *, resend_locked_db: bool = False) -> None:
        self._base_url = base_url
        self._home = home
        # trust_env=False: a proxy from the environment must never see these calls.
        self._http = httpx.Client(
            base_url=base_url,
            timeout=30.0,
            trust_env=False,
            transport=_RetryLockedDb() if resend_locked_db else None,
        )

    def close(self) -> None:
        self._http.close()

    # -- auth ---------------------------------------------------------------

    def login(self) -> None:
        """Get a bearer token for the generated admin user."""
        pw_file = self._home / "simple_auth_manager_passwords.json.generated"
        passwords: dict[str, str] = json.loads(pw_file.read_text())
        username, password = next(iter(passwords.items()))
        resp = self._http.post("/auth/token", json={"username": username, "password": password})
        _check(resp, "POST /auth/token")
        self._http.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"

    def health(self) -> dict[str, Any]:
        resp = self._http.get("/api/v2/monitor/health")
        _check(resp, "GET /api/v2/monitor/health")
        body: dict[str, Any] = resp.json()
        return body

    # -- DAGs ---------------------------------------------------------------

    def dag(self, dag_id: str) -> dict[str, Any] | None:
        """The DAG as the api-server knows it, or None while it is not parsed yet."""
        resp = self._http.get(f"/api/v2/dags/{_q(dag_id)}")
        if resp.status_code == 404:
            return None
        _check(resp, f"GET dag {dag_id}")
        body: dict[str, Any] = resp.json()
        return body

    def wait_for_dag(self, dag_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the dag-processor has parsed and stored ``dag_id``."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.dag(dag_id)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                errors = [e.get("filename") for e in self.import_errors()]
                raise RunTimeout(
                    f"DAG {dag_id!r} not parsed within {timeout:.0f}s; import errors in: {errors}"
                )
            time.sleep(1.0)

    def unpause(self, dag_id: str) -> None:
        resp = self._http.patch(f"/api/v2/dags/{_q(dag_id)}", json={"is_paused": False})
        _check(resp, f"unpause {dag_id}")

    def import_errors(self) -> list[dict[str, Any]]:
        """Every import error (``filename``, ``stack_trace``, ...) the dag-processor recorded."""
        resp = self._http.get("/api/v2/importErrors", params={"limit": 100})
        _check(resp, "GET importErrors")
        errors: list[dict[str, Any]] = resp.json()["import_errors"]
        return errors

    # -- runs ---------------------------------------------------------------

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Start a run now; returns its ``dag_run_id``.

        ``logical_date`` must be sent as null: Airflow 3 requires the key.
        """
        body = {"logical_date": None, "conf": dict(conf or {})}
        resp = self._http.post(f"/api/v2/dags/{_q(dag_id)}/dagRuns", json=body)
        _check(resp, f"trigger {dag_id}")
        run_id: str = resp.json()["dag_run_id"]
        return run_id

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        resp = self._http.get(f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}")
        _check(resp, f"GET run {dag_id}/{run_id}")
        run: dict[str, Any] = resp.json()
        return run

    def run_state(self, dag_id: str, run_id: str) -> str:
        state: str = self.dag_run(dag_id, run_id)["state"]
        return state

    def wait(self, dag_id: str, run_id: str, timeout: float = 120.0) -> str:
        """Wait for the run to finish; returns ``success`` or ``failed``."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.run_state(dag_id, run_id)
            if state in FINISHED_STATES:
                return state
            if time.monotonic() > deadline:
                raise RunTimeout(
                    f"run {dag_id}/{run_id} still {state!r} after {timeout:.0f}s; "
                    f"tasks: {self.states(dag_id, run_id)}"
                )
            time.sleep(1.0)

    def run_dag(
        self, dag_id: str, conf: Mapping[str, Any] | None = None, timeout: float = 120.0
    ) -> tuple[str, str]:
        """Wait for the DAG, unpause it, trigger it and wait; returns ``(run_id, state)``."""
        self.wait_for_dag(dag_id)
        self.unpause(dag_id)
        run_id = self.trigger(dag_id, conf)
        return run_id, self.wait(dag_id, run_id, timeout)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run (mapped ones once per ``map_index``)."""
        resp = self._http.get(
            f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances", params={"limit": 100}
        )
        _check(resp, f"GET task instances {dag_id}/{run_id}")
        tis: list[dict[str, Any]] = resp.json()["task_instances"]
        return tis

    def states(self, dag_id: str, run_id: str) -> dict[tuple[str, int], str | None]:
        """``{(task_id, map_index): state}``; ``map_index`` is -1 for unmapped tasks."""
        return {
            (t["task_id"], t["map_index"]): t["state"] for t in self.task_instances(dag_id, run_id)
        }

    def xcom(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        *,
        key: str = "return_value",
        map_index: int = -1,
    ) -> Any:
        """The XCom value as JSON (a mapped instance's with its ``map_index``)."""
        resp = self._http.get(
            f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
            f"/xcomEntries/{_q(key)}",
            params={"map_index": map_index},
        )
        _check(resp, f"GET xcom {dag_id}/{run_id}/{task_id}[{map_index}]/{key}")
        return resp.json()["value"]

    def extra_links(
        self, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1
    ) -> dict[str, str | None]:
        """The task instance's extra links, ``{name: url}`` (None: no link), as the UI gets them."""
        resp = self._http.get(
            f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/links",
            params={"map_index": map_index},
        )
        _check(resp, f"GET links {dag_id}/{run_id}/{task_id}[{map_index}]")
        links: dict[str, str | None] = resp.json()["extra_links"]
        return links

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, *, try_number: int = 1, map_index: int = -1
    ) -> str:
        """The task's log as text, one event per line, as the UI shows it."""
        resp = self._http.get(
            f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
            f"/logs/{try_number}",
            params={"map_index": map_index, "full_content": True},
            headers={"Accept": "application/json"},
        )
        _check(resp, f"GET log {dag_id}/{run_id}/{task_id}")
        lines: list[str] = []
        for item in resp.json()["content"]:
            if isinstance(item, dict):
                lines.append(json.dumps(item, sort_keys=True, default=str))
            else:
                lines.append(str(item))
        return "\n".join(lines)


def start_airflow(
    root: Path, extra_env: Mapping[str, str] | None = None, *, database: str | None = None
) -> AirflowServers:
    """Start a fresh Airflow under ``root``; the caller must call ``stop()``.

    ``database`` is ``postgres`` or ``sqlite``; by default what
    :data:`DB_ENV` asks (:func:`metadata_db`). On any failure while starting,
    what was started is stopped before the error propagates.
    """
    if not AIRFLOW_BIN.exists():
        raise HarnessError(f"{AIRFLOW_BIN} not found: run the airflow tests from .venv-airflow")
    database = metadata_db({DB_ENV: database} if database else os.environ)
    home = root / "home"
    dags_folder = root / "dags"
    logs = root / "server-logs"
    for folder in (home, dags_folder, logs):
        folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    postgres = start_postgres(logs / "postgres.log") if database == "postgres" else None
    db_ready = time.monotonic()
    try:
        port = free_port()
        servers = AirflowServers(
            home=home,
            dags_folder=dags_folder,
            port=port,
            env=airflow_env(
                home,
                dags_folder,
                port,
                extra_env,
                sql_alchemy_conn=None if postgres is None else postgres.url,
            ),
            client=AirflowClient(
                f"http://127.0.0.1:{port}", home, resend_locked_db=postgres is None
            ),
            postgres=postgres,
        )
    except BaseException:
        if postgres is not None:
            postgres.stop()
        raise
    if postgres is not None:
        servers.timings["postgres_s"] = db_ready - started
    try:
        migrate = servers.cli("db", "migrate", timeout=STARTUP_TIMEOUT_S)
        if migrate.returncode != 0:
            raise HarnessError(f"airflow db migrate failed:\n{migrate.stdout}\n{migrate.stderr}")
        servers.timings["db_migrate_s"] = time.monotonic() - db_ready
        for name in SERVERS:
            servers.processes.append(_spawn(name, servers.env, logs / f"{name}.log"))
        _wait_healthy(servers, started)
        servers.timings["healthy_s"] = time.monotonic() - started
    except BaseException:
        servers.stop()
        raise
    return servers


def start_postgres(log_path: Path, bindir: Path | None = None) -> PostgresCluster:
    """The metadata DB's cluster, started; its programs missing is a :class:`DatabaseUnavailable`
    saying how to install them or to choose SQLite instead."""
    try:
        return PostgresCluster(log_path, bindir=bindir).start()
    except PostgresUnavailable as exc:
        raise DatabaseUnavailable(
            f"the real-Airflow tests run on PostgreSQL: {exc}; "
            f"or run them on SQLite with {DB_ENV}=sqlite"
        ) from None


def _spawn(name: str, env: Mapping[str, str], log_path: Path) -> ManagedProcess:
    log = log_path.open("wb")
    try:
        popen = subprocess.Popen(
            [str(AIRFLOW_BIN), name],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Own process group: stop() signals the whole group (gunicorn or
            # uvicorn workers, executor workers) without touching pytest's.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    finally:
        log.close()  # the child holds its own descriptor
    return ManagedProcess(name=name, popen=popen, log_path=log_path)


def _die_with_parent() -> None:
    # If pytest itself is killed (SIGKILL, a hard timeout), fixture teardown
    # never runs; Linux's parent-death signal makes each server get SIGTERM
    # then, and each server stops its own children on SIGTERM.
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _wait_healthy(servers: AirflowServers, started: float) -> None:
    """Until the api-server answers and reports scheduler and dag-processor healthy."""
    deadline = started + STARTUP_TIMEOUT_S
    last: object = "no answer yet"
    logged_in = False
    while time.monotonic() < deadline:
        servers.check_alive()
        try:
            if not logged_in:
                servers.client.login()
                logged_in = True
                servers.timings["api_up_s"] = time.monotonic() - started
            health = servers.client.health()
        except (httpx.HTTPError, HarnessError, OSError, ValueError) as exc:
            last = exc
        else:
            last = health
            if all(
                (health.get(part) or {}).get("status") == "healthy"
                for part in ("metadatabase", "scheduler", "dag_processor")
            ):
                return
        time.sleep(1.0)
    raise HarnessError(
        f"Airflow not healthy within {STARTUP_TIMEOUT_S:.0f}s (last: {last!r})\n"
        + servers.diagnostics()
    )


def _check(resp: httpx.Response, what: str) -> None:
    if resp.status_code >= 400:
        raise HarnessError(f"{what}: HTTP {resp.status_code}: {resp.text[:500]}")


def _q(part: str) -> str:
    # Run ids contain ':' and '+'; path parts must be quoted entirely.
    return quote(part, safe="")


@contextlib.contextmanager
def running_airflow(
    root: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[AirflowServers]:
    """``start_airflow`` as a context manager: stopped on exit, even on errors."""
    servers = start_airflow(root, extra_env)
    try:
        yield servers
    finally:
        servers.stop()
