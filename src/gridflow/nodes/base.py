"""The transport interface of fleet nodes (issue #6).

A backend (apt, systemd, rke2, ping, test, cmd) turns validated parameters
into a :class:`Command` and runs it through a :class:`NodeSession`: an open
connection to one node, reused for every command a task sends to that node.
Two transports implement it: ``local`` (asyncio subprocesses on the worker)
and ``ssh`` (paramiko). Neither imports Airflow or Prefect.

Failures are gridflow runner errors, chosen by type:

* :class:`NodeUnreachable` (retryable): could not connect or authenticate
  transiently, or the connection dropped while a command ran;
* :class:`HostKeyRejected` (expected): the node's host key is unknown or
  changed; never retried, since trying again cannot make it trusted;
* :class:`NodeAuthFailed` (expected): the node refused the credentials, or
  the key could not be read; never retried, since a wrong key or password
  does not fix itself (and repeated failures can lock the account out);
* :class:`CommandTimedOut` (a :class:`~gridflow.errors.StepTimeout`): the
  command ran past its timeout and was stopped.

A command that runs and exits non-zero is *not* an exception here: the
result carries the exit code and the backend decides what it means.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Literal, Protocol

from gridflow.errors import ExpectedError, RetryableError, StepTimeout

#: Bytes kept of each of stdout and stderr (stdout its start, stderr its end).
MAX_OUTPUT_BYTES = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Command:
    """One command for a node: ``argv`` (run without a shell) or ``shell``
    (a string for ``/bin/sh -c``), never both."""

    argv: tuple[str, ...] | None = None
    shell: str | None = None
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    cwd: str | None = None
    input: str | None = None  # written to stdin; stdin is empty otherwise
    sudo: bool = False  # run as root through `sudo -n` (non-interactive)

    def __post_init__(self) -> None:
        if (self.argv is None) == (self.shell is None):
            raise ValueError("a Command has exactly one of argv and shell")
        if self.argv is not None and not self.argv:
            raise ValueError("argv must not be empty")


@dataclasses.dataclass(frozen=True)
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str
    duration_s: float
    stdout_truncated: bool = False
    stderr_truncated: bool = False


@dataclasses.dataclass(frozen=True)
class SshTarget:
    """How to reach a node over SSH (from an inventory entry or a connection).

    Secrets (``password``, ``key_passphrase``, an inline ``private_key``) come
    from a connection or a secret store, never from job text in clear.
    Host keys are checked against ``known_hosts`` (default
    ``~/.ssh/known_hosts``); an unknown or changed key is refused unless
    ``insecure_skip_host_key_check`` is set explicitly.
    """

    host: str
    port: int = 22
    user: str | None = None
    key_file: str | None = None
    # Secrets stay out of repr(), so a logged target or traceback shows none.
    private_key: str | None = dataclasses.field(default=None, repr=False)  # PEM/OpenSSH text
    key_passphrase: str | None = dataclasses.field(default=None, repr=False)
    password: str | None = dataclasses.field(default=None, repr=False)
    known_hosts: str | None = None
    insecure_skip_host_key_check: bool = False
    connect_timeout_s: float = 10.0
    sudo: bool = False  # run every command of this node through sudo -n


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    """One node of an inventory."""

    id: str
    groups: tuple[str, ...] = ()
    transport: Literal["local", "ssh"] = "local"
    ssh: SshTarget | None = None  # set when transport == "ssh"
    conn_id: str | None = None  # a scheduler connection to read the SshTarget from


class NodeSession(Protocol):
    """An open connection to one node."""

    node_id: str

    async def run(self, command: Command, *, timeout_s: float | None = None) -> CommandResult:
        """Run ``command``; raise NodeUnreachable / CommandTimedOut, never for a
        non-zero exit."""
        ...

    async def close(self) -> None:
        """Release the connection; safe to call twice and after a failed open."""
        ...


class NodeUnreachable(RetryableError):
    """The node could not be reached, or the connection dropped."""


class HostKeyRejected(ExpectedError):
    """The node's host key is not in known_hosts, or differs from it."""


class NodeAuthFailed(ExpectedError):
    """The node refused the user's key or password, or the key is unreadable."""


class CommandTimedOut(StepTimeout):
    """The command ran past its timeout and was stopped."""
