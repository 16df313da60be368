"""Node fleets for job-run tests: which transport, and a session that says who it is.

A *transport* knows how to list a node in an inventory and how to open its
session. :class:`LocalTransport` puts every node on this machine
(``connection: local``); :class:`SshTransport` reaches each node through a
real sshd on 127.0.0.x (:mod:`tests.support.sshd`). Every test parametrized
over the ``session_factory`` fixture runs on both.

All local nodes are this machine, and so are the sshd nodes (as root, which
is why commands' marker files under the test's directory work on both): a
command cannot tell them apart by itself. :class:`TaggedSession` wraps a
node's real session and adds ``GF_NODE=<node id>`` to the environment of
every command it runs: job files in tests write ``case "$GF_NODE" in n2)
exit 1;; esac`` for node-specific behaviour. It also counts opens and
closes, so tests can check that a node's session is reused by all of its
tasks and closed at the end.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Protocol

from gridflow.nodes.base import Command, CommandResult, NodeSession, NodeSpec
from gridflow.nodes.local import LocalSession
from tests.support.sshd import SshNodes

NODE_ENV = "GF_NODE"


@dataclasses.dataclass
class SessionLog:
    """How many sessions were opened and closed, per node."""

    opened: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    closed: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    commands: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)


@dataclasses.dataclass
class TaggedSession:
    """A real node session that tells each command which node it runs on."""

    inner: NodeSession
    node_id: str
    log: SessionLog

    async def run(self, command: Command, *, timeout_s: float | None = None) -> CommandResult:
        self.log.commands[self.node_id] += 1
        tagged = dataclasses.replace(command, env={**command.env, NODE_ENV: self.node_id})
        return await self.inner.run(tagged, timeout_s=timeout_s)

    async def close(self) -> None:
        self.log.closed[self.node_id] += 1
        await self.inner.close()


class Transport(Protocol):
    name: str
    log: SessionLog

    def inventory_entry(self, node_id: str, groups: list[str]) -> str:
        """The node as one YAML flow mapping of an inventory's ``nodes`` list."""
        ...

    async def __call__(self, node: NodeSpec) -> NodeSession:
        """The session factory: open ``node``'s session."""
        ...


class LocalTransport:
    """Every node runs on this machine through a LocalSession."""

    name = "local"

    def __init__(self) -> None:
        self.log = SessionLog()

    def inventory_entry(self, node_id: str, groups: list[str]) -> str:
        return f"{{ id: {node_id}, groups: [{', '.join(groups)}], connection: local }}"

    async def __call__(self, node: NodeSpec) -> NodeSession:
        self.log.opened[node.id] += 1
        return TaggedSession(LocalSession(node_id=node.id), node.id, self.log)


class SshTransport:
    """Every node is one of ``nodes``' sshd processes, reached with the real
    SSH transport (:class:`gridflow.nodes.ssh.SshSession`).

    Test node ``nK`` is sshd node ``nodeK``; other ids take the sshd nodes in
    turn, in the order they are first listed. The inventory entry is what a
    user writes: host, port, user, key_file and known_hosts.
    """

    name = "ssh"

    def __init__(self, nodes: SshNodes) -> None:
        self.nodes = nodes
        self.log = SessionLog()
        self._assigned: dict[str, str] = {}

    def sshd_node(self, node_id: str) -> str:
        """The sshd node (``node1``...) that plays test node ``node_id``."""
        if node_id not in self._assigned:
            number = node_id[1:]
            if node_id.startswith("n") and number.isdigit() and f"node{number}" in self.nodes.nodes:
                self._assigned[node_id] = f"node{number}"
            else:
                self._assigned[node_id] = self.nodes.ids[len(self._assigned) % len(self.nodes)]
        return self._assigned[node_id]

    def inventory_entry(self, node_id: str, groups: list[str]) -> str:
        node = self.nodes[self.sshd_node(node_id)]
        return (
            f"{{ id: {node_id}, groups: [{', '.join(groups)}], connection: {{ type: ssh, "
            f"host: {node.host}, port: {node.port}, user: {self.nodes.user}, "
            f"key_file: {self.nodes.client_key}, known_hosts: {self.nodes.known_hosts} }} }}"
        )

    async def __call__(self, node: NodeSpec) -> NodeSession:
        from gridflow.nodes.ssh import SshSession

        assert node.ssh is not None, f"node {node.id} has no SSH settings"
        self.log.opened[node.id] += 1
        session = await SshSession.open(node.id, node.ssh)
        return TaggedSession(session, node.id, self.log)
