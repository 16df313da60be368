"""Fixtures shared by every test directory.

Keep each fixture small and documented; put helpers they need in
``tests/support/``. Fixtures used by one directory only belong in that
directory's ``conftest.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.http_server import LocalHTTPServer
from tests.support.moto_server import moto_s3  # noqa: F401  (session fixture: S3 on 127.0.0.1)
from tests.support.socketio_server import LocalSocketIOServer
from tests.support.sshd import SshNodes
from tests.support.standins import WATCHED_ENV, Standins, write_standins


@pytest.fixture(scope="session")
def http_server() -> Iterator[LocalHTTPServer]:
    """A real HTTP server on 127.0.0.1 (random port) for the whole session.

    ``http_server.url`` is its base URL without a trailing slash; the
    endpoints are listed in :mod:`tests.support.http_server`. Shared by every
    test: use unique paths or keys instead of clearing its log.
    """
    with LocalHTTPServer() as server:
        yield server


@pytest.fixture(scope="session")
def socketio_server() -> Iterator[LocalSocketIOServer]:
    """A real python-socketio server on 127.0.0.1 (random port) for the session.

    ``socketio_server.url`` is its base URL; namespaces and events are listed
    in :mod:`tests.support.socketio_server`. Send a unique ``X-Client-Id``
    header to find your client's session on the server.
    """
    with LocalSocketIOServer() as server:
        yield server


@pytest.fixture
def standins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Standins:
    """Recording apt-get, dpkg-query, systemctl, curl and sudo stand-ins first
    on PATH (see :mod:`tests.support.standins`), for backends run locally.

    The variables the stand-ins record are removed from the test's own
    environment (this machine sets DEBIAN_FRONTEND globally), so what they
    record is what the backend set.
    """
    found = write_standins(tmp_path / "standins")
    monkeypatch.setenv("PATH", found.path_env())
    for name in WATCHED_ENV:
        monkeypatch.delenv(name, raising=False)
    return found


@pytest.fixture(scope="session")
def ssh_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshNodes]:
    """Three real sshd nodes for the whole session: ``node1``..``node3`` on
    127.0.0.2..127.0.0.4, logins as root with ``ssh_nodes.client_key``, host
    keys in ``ssh_nodes.known_hosts`` (see :mod:`tests.support.sshd`).

    ``ssh_nodes.target("node1")`` is a ready SshTarget. On every node
    ``apt-get``, ``dpkg-query``, ``systemctl``, ``curl`` and ``sudo`` are recording
    stand-ins: ``ssh_nodes.calls("node1", "apt-get")`` lists their calls.
    Shared by every test: clear or filter calls, undo queued failures, and
    never kill or re-key these nodes (start an ``SshNodes`` of your own).
    Installs ``openssh-server`` on first use if it is missing (needs root).
    """
    with SshNodes(tmp_path_factory.mktemp("sshd"), count=3) as nodes:
        yield nodes


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One temporary Prefect API server for the whole session (it costs
    20-60 s to start here); every flow run after that is a real Prefect run.
    Shared by the grid (tests/e2e) and job (tests/jobrun) engine tests."""
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
