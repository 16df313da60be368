"""The harness itself on a real Airflow: a mapped task, a JSON XCom, conf, import errors,
the metadata DB it runs on; and the throwaway PostgreSQL cluster on its own.

One DAG run for the whole module (each task start costs seconds here); the
cluster tests start clusters of their own (≈1.5 s each), no Airflow.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from tests.airflow.harness import (
    DB_ENV,
    AirflowServers,
    DatabaseUnavailable,
    RunTimeout,
    metadata_db,
    start_postgres,
)
from tests.support.postgres import (
    DIR_PREFIX,
    OWNER_FILE,
    PostgresCluster,
    PostgresUnavailable,
    find_bindir,
    remove_stale_clusters,
)
from tests.support.processes import alive, start_ticks, wait_dead

pytestmark = pytest.mark.airflow

DAG_ID = "gridflow_harness_mapped"

# Hand-written on purpose: this checks the harness, not gridflow's builder.
GOOD_DAG = textwrap.dedent(
    f'''
    """Harness check: a mapped task over 3 values and a task returning JSON."""
    import pendulum
    from airflow.sdk import dag, task


    @dag(
        dag_id="{DAG_ID}",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        params={{"factor": 2}},
    )
    def harness_mapped():
        @task
        def times(x: int, **context) -> int:
            # conf given at trigger time overrides the DAG's params.
            return x * context["params"]["factor"]

        @task
        def summary(values) -> dict:
            values = list(values)
            return {{"total": sum(values), "items": values, "nested": {{"ok": True}}}}

        summary(times.expand(x=[1, 2, 3]))


    harness_mapped()
    '''
)

BROKEN_DAG = "from airflow.sdk import dag\n\ndef broken(:\n    pass\n"


@pytest.fixture(scope="module")
def mapped_run(airflow: AirflowServers) -> tuple[str, str]:
    """Both files dropped in at once; the good DAG run once with conf; (run_id, state)."""
    (airflow.dags_folder / "harness_broken.py").write_text(BROKEN_DAG)
    (airflow.dags_folder / "harness_mapped.py").write_text(GOOD_DAG)
    return airflow.client.run_dag(DAG_ID, conf={"factor": 10}, timeout=150)


def test_run_with_conf_is_green(airflow: AirflowServers, mapped_run: tuple[str, str]) -> None:
    run_id, state = mapped_run
    assert state == "success", airflow.diagnostics()
    assert airflow.client.states(DAG_ID, run_id) == {
        ("times", 0): "success",
        ("times", 1): "success",
        ("times", 2): "success",
        ("summary", -1): "success",
    }


def test_xcoms_per_map_index(airflow: AirflowServers, mapped_run: tuple[str, str]) -> None:
    run_id, _ = mapped_run
    client = airflow.client
    assert [client.xcom(DAG_ID, run_id, "times", map_index=i) for i in range(3)] == [10, 20, 30]
    assert client.xcom(DAG_ID, run_id, "summary") == {
        "total": 60,
        "items": [10, 20, 30],
        "nested": {"ok": True},
    }


def test_broken_file_is_an_import_error_and_hides_nothing(
    airflow: AirflowServers, mapped_run: tuple[str, str]
) -> None:
    # The good DAG ran (mapped_run), so it loaded next to the broken file.
    assert airflow.client.dag(DAG_ID) is not None
    errors = _wait_for_import_error(airflow, "harness_broken.py")
    assert "SyntaxError" in errors[0]["stack_trace"]
    assert not [e for e in airflow.client.import_errors() if "harness_mapped" in e["filename"]]


def _wait_for_import_error(airflow: AirflowServers, name: str) -> list[dict[str, str]]:
    # The dag-processor parses both files in the same pass, so this is at most
    # one refresh away from when the good DAG appeared.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [e for e in airflow.client.import_errors() if e["filename"].endswith(name)]
        if found:
            return found
        time.sleep(1)
    raise RunTimeout(f"no import error for {name}: {airflow.client.import_errors()}")


# -- the metadata DB ------------------------------------------------------


def test_servers_use_the_metadata_db_asked_for(airflow: AirflowServers) -> None:
    assert airflow.database == metadata_db()
    done = airflow.cli("config", "get-value", "database", "sql_alchemy_conn")
    assert done.returncode == 0, done.stderr
    conn = done.stdout.strip()
    if airflow.postgres is not None:
        assert conn == airflow.postgres.url
        assert conn.startswith("postgresql+psycopg2://")
    else:
        assert conn == f"sqlite:///{airflow.home / 'airflow.db'}"


def test_the_run_is_stored_in_that_db(airflow: AirflowServers, mapped_run: tuple[str, str]) -> None:
    """Read back from the database itself, not through Airflow."""
    run_id, _ = mapped_run
    query = (
        "select r.state, count(t.task_id) from dag_run r"
        " join task_instance t on t.dag_id = r.dag_id and t.run_id = r.run_id"
        f" where r.dag_id = {_literal(DAG_ID)} and r.run_id = {_literal(run_id)}"
        " group by r.state"
    )
    if airflow.postgres is not None:
        assert airflow.postgres.psql(query) == "success|4"
        # Nothing was written to the SQLite file a CLI call would default to.
        assert not (airflow.home / "airflow.db").exists()
    else:
        with sqlite3.connect(airflow.home / "airflow.db") as db:
            assert db.execute(query).fetchall() == [("success", 4)]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "postgres"),
        ({DB_ENV: ""}, "postgres"),
        ({DB_ENV: "postgres"}, "postgres"),
        ({DB_ENV: "sqlite"}, "sqlite"),
        ({DB_ENV: " SQLite "}, "sqlite"),
    ],
    ids=["unset", "empty", "postgres", "sqlite", "sqlite-any-case"],
)
def test_metadata_db_choice(environ: Mapping[str, str], expected: str) -> None:
    assert metadata_db(environ) == expected


def test_unknown_metadata_db_is_refused_with_the_choices() -> None:
    with pytest.raises(DatabaseUnavailable, match=r"'mysql'.*use postgres or sqlite"):
        metadata_db({DB_ENV: "mysql"})


def test_missing_postgres_says_how_to_install_it_or_use_sqlite(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        start_postgres(tmp_path / "postgres.log", bindir=tmp_path)
    message = str(caught.value)
    assert "tools/debian-packages postgresql" in message
    assert f"{DB_ENV}=sqlite" in message
    assert str(tmp_path) in message


def test_find_bindir_takes_the_first_complete_candidate(tmp_path: Path) -> None:
    partial, complete = tmp_path / "libpq-dev-only", tmp_path / "server"
    for folder, tools in (
        (partial, ["psql"]),
        (complete, ["initdb", "postgres", "createdb", "psql"]),
    ):
        folder.mkdir()
        for tool in tools:
            (folder / tool).write_text("#!/bin/sh\n")
            (folder / tool).chmod(0o755)
    assert find_bindir([partial, complete]) == complete
    with pytest.raises(PostgresUnavailable, match="initdb, postgres, createdb, psql not found"):
        find_bindir([partial])


# -- the PostgreSQL cluster on its own ------------------------------------


@pytest.fixture
def pg_bindir() -> Path:
    """This machine's PostgreSQL programs; a clear failure (a skip on SQLite) without them."""
    try:
        return find_bindir()
    except PostgresUnavailable as exc:
        if metadata_db() == "sqlite":
            pytest.skip(f"{DB_ENV}=sqlite and no PostgreSQL here: {exc}")
        raise pytest.fail.Exception(str(exc), pytrace=False) from None


def test_cluster_runs_unprivileged_and_leaves_nothing_after_stop(
    tmp_path: Path, pg_bindir: Path
) -> None:
    cluster = PostgresCluster(tmp_path / "postgres.log", bindir=pg_bindir).start()
    try:
        assert cluster.psql("select current_user, current_database()") == "airflow|airflow"
        assert cluster.psql("show listen_addresses") == ""
        postmaster, *workers = cluster.pids()
        assert workers  # checkpointer, walwriter, ...: stop() must get them too
        assert _uid(postmaster) == _expected_server_uid()
        root = cluster.root
        assert root is not None
    finally:
        cluster.stop()
    assert wait_dead([postmaster, *workers]) == []
    assert not root.exists()
    assert cluster.timings["stop_s"] < 5


CHILD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from tests.support.postgres import PostgresCluster

    cluster = PostgresCluster(Path(sys.argv[1]), bindir=Path(sys.argv[2])).start()
    print(json.dumps({"pids": cluster.pids(), "root": str(cluster.root)}), flush=True)
    time.sleep(120)
    """
)


@pytest.mark.timeout(60)
def test_cluster_dies_with_the_process_that_started_it(tmp_path: Path, pg_bindir: Path) -> None:
    """A test process killed outright (no teardown): its cluster stops anyway,
    and the next start removes the directory it left."""
    repo = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "postgres.log"), str(pg_bindir)],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, (tmp_path / "postgres.log").read_text(errors="replace")
        started = json.loads(line)
        pids, root = started["pids"], Path(started["root"])
        # The postmaster; its children come and go (a backend that served
        # createdb, the startup process), so only the postmaster must still run.
        assert alive(pids[0])
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert wait_dead(pids, within=15) == []
        assert root.exists()  # left behind: nobody ran stop()
        remove_stale_clusters()
        assert not root.exists()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)


def test_stale_clusters_are_only_those_of_dead_processes(tmp_path: Path) -> None:
    # A process that has exited (and been reaped): its pid names no one now.
    gone = subprocess.Popen(["true"])
    gone.wait()
    me = f"{os.getpid()} {start_ticks(os.getpid())}"
    folders = {
        "dead-owner": f"{gone.pid} 1",
        "live-owner": me,
        "no-owner": None,
    }
    for name, owner in folders.items():
        folder = tmp_path / f"{DIR_PREFIX}{name}"
        folder.mkdir()
        if owner is not None:
            (folder / OWNER_FILE).write_text(owner)
    (tmp_path / "someone-else").mkdir()
    (tmp_path / "someone-else" / OWNER_FILE).write_text(f"{gone.pid} 1")

    assert remove_stale_clusters(tmp_path) == [tmp_path / f"{DIR_PREFIX}dead-owner"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"{DIR_PREFIX}live-owner",
        f"{DIR_PREFIX}no-owner",
        "someone-else",
    ]


def _uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


def _expected_server_uid() -> int:
    # PostgreSQL refuses root: as root the harness runs it as Debian's `postgres` user.
    return pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.getuid()
