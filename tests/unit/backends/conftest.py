"""Fixtures of the backend tests: recording stand-ins on PATH."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.standins import WATCHED_ENV, Standins, write_standins


@pytest.fixture
def standins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Standins:
    """apt-get, dpkg-query, systemctl, curl and sudo stand-ins first on PATH.

    The variables the stand-ins record are removed from the test's own
    environment (this machine sets DEBIAN_FRONTEND globally), so what they
    record is what the backend set.
    """
    found = write_standins(tmp_path / "standins")
    monkeypatch.setenv("PATH", found.path_env())
    for name in WATCHED_ENV:
        monkeypatch.delenv(name, raising=False)
    return found
