"""Fixtures of the node transport tests."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.sshd import PasswordUser, SshNodes


@pytest.fixture(scope="session")
def ssh_password_user() -> Iterator[PasswordUser]:
    """A throw-away local account with a random password (deleted afterwards),
    for password logins to the ``ssh_nodes`` (root may log in by key only)."""
    home = Path(tempfile.mkdtemp(prefix="gridflow-ssh-user-"))
    home.chmod(0o755)
    user = PasswordUser("gridflowssh", secrets.token_urlsafe(16), home).create()
    try:
        yield user
    finally:
        user.remove()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def own_ssh_node(tmp_path: Path) -> Iterator[SshNodes]:
    """One sshd node (``node1`` on 127.0.0.5) for this test alone, for tests
    that kill it or change its host key."""
    with SshNodes(tmp_path / "sshd", count=1, first_address=5) as nodes:
        yield nodes
