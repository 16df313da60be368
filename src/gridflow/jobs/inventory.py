"""Inventory YAML -> :class:`~gridflow.nodes.base.NodeSpec` list (SPEC §2).

::

    nodes:
      - id: web-01
        groups: [web, prod]
        connection: local                  # run on the worker itself
      - id: db-01
        groups: [db]
        connection: { type: ssh, host: 10.0.0.5, port: 22, user: ops,
                      key_file: ~/.ssh/id_ed25519, known_hosts: ~/.ssh/known_hosts }
      - id: db-02
        connection: { type: ssh, conn_id: db02_ssh }   # an Airflow connection / Prefect block

Passwords are never written in the file: ``password_env: VAR`` names an
environment variable read when the inventory is loaded for a run (a
:func:`load_inventory` with ``resolve_secrets=False``, as ``gridflow
validate`` does, leaves it unread). Relative ``key_file``/``known_hosts``
paths are relative to the inventory file; ``~`` is expanded. Whether those
files exist is only a *warning*: the inventory may be checked on another
machine than the worker that connects, and the SSH transport refuses a
missing key with its own clear error.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path

from gridflow.errors import Diagnostic, LoadError, SourcePos, UsageError
from gridflow.jobs.fields import (
    Problems,
    check_keys,
    expect_bool,
    expect_duration,
    expect_int,
    expect_list,
    expect_map,
    expect_name,
    expect_str,
)
from gridflow.jobs.yamltree import YMap, YScalar, YValue, describe, read_yaml
from gridflow.nodes.base import NodeSpec, SshTarget

INVENTORY_ENV = "GRIDFLOW_INVENTORY"
#: The inventory a job file in Airflow's dags folder, or a compiled job DAG
#: file, finds beside it (else ``$GRIDFLOW_INVENTORY``).
INVENTORY_NAMES = ("inventory.yaml", "inventory.yml")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

NODE_KEYS = ("id", "groups", "connection")
SSH_KEYS = (
    "type",
    "host",
    "port",
    "user",
    "key_file",
    "key_passphrase_env",
    "known_hosts",
    "password_env",
    "sudo",
    "insecure_skip_host_key_check",
    "connect_timeout",
)
CONN_ID_KEYS = ("type", "conn_id")
MAX_CONNECT_TIMEOUT_S = 600.0

# Secrets that must not sit in the file in clear, and what to write instead.
_SECRET_KEYS = {
    "password": "password_env: VAR (an environment variable holding it), a key_file, "
    "or a scheduler connection (conn_id)",
    "key_passphrase": "key_passphrase_env: VAR (an environment variable holding it)",
    "private_key": "key_file: PATH, or a scheduler connection (conn_id) that holds the key",
}


@dataclasses.dataclass(frozen=True)
class Inventory:
    source: str
    nodes: tuple[NodeSpec, ...]
    warnings: tuple[Diagnostic, ...] = ()  # e.g. a key_file not found here

    def groups(self) -> list[str]:
        return sorted({g for n in self.nodes for g in n.groups})


def find_inventory(
    path: str | Path | None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The inventory to use: ``path`` (``--inventory``), else ``$GRIDFLOW_INVENTORY``."""
    if path is not None:
        return Path(path)
    env = os.environ if environ is None else environ
    value = env.get(INVENTORY_ENV, "").strip()
    return Path(value) if value else None


def find_beside(path: str | Path) -> Path | None:
    """The ``inventory.yaml`` (or ``.yml``) in the folder of ``path``, or None."""
    for name in INVENTORY_NAMES:
        candidate = Path(path).parent / name
        if candidate.is_file():
            return candidate
    return None


def inventory_beside(file: str) -> str | None:
    """:func:`find_beside` as an absolute path, for a compiled job DAG file
    (``INVENTORY = inventory_beside(__file__)``): where its tasks read the
    nodes on the worker; None leaves it to ``$GRIDFLOW_INVENTORY`` there."""
    found = find_beside(file)
    return str(found.resolve()) if found is not None else None


def load_inventory(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    resolve_secrets: bool = True,
) -> Inventory:
    """Read an inventory file; one LoadError with every problem otherwise."""
    path = Path(path)
    shown = str(path)
    tree, problems = read_yaml(path, shown)
    if tree is None or problems:
        raise LoadError(problems)
    reader = _InventoryReader(
        shown,
        base_dir=path.parent,
        environ=os.environ if environ is None else environ,
        resolve_secrets=resolve_secrets,
    )
    return reader.read(tree)


def require_inventory(path: str | Path | None, environ: Mapping[str, str] | None = None) -> Path:
    found = find_inventory(path, environ)
    if found is None:
        raise UsageError(
            f"no inventory: pass --inventory FILE or set {INVENTORY_ENV} to an inventory file "
            "(docs/jobs.md#inventory)"
        )
    return found


class _InventoryReader:
    def __init__(
        self,
        shown: str,
        *,
        base_dir: Path,
        environ: Mapping[str, str],
        resolve_secrets: bool,
    ) -> None:
        self.shown = shown
        self.base_dir = base_dir
        self.environ = environ
        self.resolve_secrets = resolve_secrets
        self.problems = Problems()
        self.warnings: list[Diagnostic] = []
        self.missing_files: set[Path] = set()

    def read(self, doc: YValue) -> Inventory:
        top = expect_map(doc, "an inventory file", self.problems, "write nodes: [ ... ]")
        if top is None:
            raise LoadError(self.problems.items)
        check_keys(
            top,
            ("nodes",),
            "the inventory",
            self.problems,
            extensions=True,
            hints=dict.fromkeys(("hosts", "all", "groups", "children"), _LIST_UNDER_NODES),
        )
        nodes: list[NodeSpec] = []
        value = top.get("nodes")
        if value is None:
            self.problems.add(top.pos, "missing-nodes", "the inventory has no nodes", _NODES_HINT)
        elif (items := expect_list(value, "nodes", self.problems, _NODES_HINT)) is not None:
            if not items.items:
                self.problems.add(items.pos, "missing-nodes", "the node list is empty", _NODES_HINT)
            seen: dict[str, SourcePos] = {}
            for item in items.items:
                node = self.node(item, seen)
                if node is not None:
                    nodes.append(node)
        if self.problems:
            raise LoadError(self.problems.items)
        return Inventory(self.shown, tuple(nodes), tuple(sorted(self.warnings)))

    def node(self, item: YValue, seen: dict[str, SourcePos]) -> NodeSpec | None:
        m = expect_map(item, "each node", self.problems, _NODES_HINT)
        if m is None:
            return None
        check_keys(m, NODE_KEYS, "a node", self.problems, hints=_NODE_KEY_HINTS)
        before = len(self.problems)
        node_id = None
        if (value := m.get("id")) is None:
            self.problems.add(m.pos, "missing-id", "a node needs an id", "add id: web-01")
        else:
            node_id = expect_name(value, "node id", self.problems)
            if node_id is not None and node_id in seen:
                self.problems.add(
                    value.pos,
                    "duplicate-node",
                    f'node "{node_id}" is listed twice (first at line {seen[node_id].line})',
                    "give every node its own id",
                )
            elif node_id is not None:
                seen[node_id] = value.pos
        groups = self.groups(m.get("groups"))
        connection = m.get("connection")
        built: tuple[str, SshTarget | None, str | None] | None = None
        if connection is None:
            self.problems.add(
                m.pos,
                "missing-connection",
                f'node "{node_id or "?"}" has no connection',
                "write connection: local (the worker itself) or "
                "connection: { type: ssh, host: ..., user: ... }",
            )
        else:
            built = self.connection(connection)
        if node_id is None or built is None or len(self.problems) > before:
            return None
        transport, ssh, conn_id = built
        return NodeSpec(
            id=node_id,
            groups=groups,
            transport="ssh" if transport == "ssh" else "local",
            ssh=ssh,
            conn_id=conn_id,
        )

    def groups(self, value: YValue | None) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, YScalar) and isinstance(value.value, str):
            value_list: list[YValue] = [value]  # groups: web (one group) reads naturally too
        else:
            items = expect_list(value, "groups", self.problems, "write groups: [web, prod]")
            if items is None:
                return ()
            value_list = list(items.items)
        out: list[str] = []
        for item in value_list:
            name = expect_name(item, "group name", self.problems)
            if name is not None and name not in out:
                out.append(name)
        return tuple(out)

    # ------------------------------------------------------------ connection
    def connection(self, value: YValue) -> tuple[str, SshTarget | None, str | None] | None:
        if isinstance(value, YScalar) and value.value == "local":
            return "local", None, None
        if isinstance(value, YScalar) and value.value == "ssh":
            self.problems.add(
                value.pos,
                "bad-connection",
                "an ssh connection needs a host",
                "write connection: { type: ssh, host: ..., user: ... }, "
                "or { type: ssh, conn_id: ... }",
            )
            return None
        if not isinstance(value, YMap):
            self.problems.add(
                value.pos,
                "bad-connection",
                f"connection must be local or a mapping, got {describe(value)}",
                "write connection: local, or connection: { type: ssh, host: ..., user: ... }",
            )
            return None
        kind_value = value.get("type")
        if kind_value is None:
            self.problems.add(
                value.pos,
                "bad-connection",
                "a connection needs a type",
                "add type: ssh (or write connection: local)",
            )
            return None
        kind = expect_str(kind_value, "connection type", self.problems)
        if kind == "local":
            check_keys(value, ("type",), "a local connection", self.problems)
            return "local", None, None
        if kind != "ssh":
            if kind is not None:
                self.problems.add(
                    kind_value.pos,
                    "bad-connection",
                    f'unknown connection type "{kind}"',
                    "write type: ssh, or connection: local",
                )
            return None
        self.secrets_in_clear(value)
        if "conn_id" in value:
            return self.conn_id_connection(value)
        return self.ssh_connection(value)

    def secrets_in_clear(self, m: YMap) -> None:
        for key, instead in _SECRET_KEYS.items():
            if key in m:
                self.problems.add(
                    m.key_pos(key),
                    "secret-in-clear",
                    f"{key} cannot be written in the inventory in clear",
                    f"use {instead}",
                )

    def conn_id_connection(self, m: YMap) -> tuple[str, None, str] | None:
        extra = [e for e in m if e.key not in CONN_ID_KEYS and e.key not in _SECRET_KEYS]
        for entry in extra:
            self.problems.add(
                entry.key_pos,
                "conn-id-with-settings",
                f'"{entry.key}" cannot be set beside conn_id',
                "the connection holds every setting: set it there, or drop conn_id "
                "and write the settings here",
            )
        conn_id = expect_str(m.entries["conn_id"].value, "conn_id", self.problems)
        if conn_id is not None and not conn_id.strip():
            self.problems.add(m.key_pos("conn_id"), "bad-connection", "conn_id is empty")
            return None
        if conn_id is None or extra:
            return None
        return "ssh", None, conn_id

    def ssh_connection(self, m: YMap) -> tuple[str, SshTarget, None] | None:
        allowed = SSH_KEYS + tuple(_SECRET_KEYS)  # secrets already reported
        check_keys(m, allowed, "an ssh connection", self.problems)
        before = len(self.problems)
        host = None
        if (value := m.get("host")) is None:
            self.problems.add(
                m.pos, "missing-host", "an ssh connection needs a host", "add host: 10.0.0.5"
            )
        else:
            host = expect_str(value, "host", self.problems)
            if host is not None and (not host.strip() or any(c.isspace() for c in host)):
                self.problems.add(
                    value.pos,
                    "bad-host",
                    f'host "{host}" is not a host name or address',
                    "write a DNS name (db-01.example.com) or an IP address (10.0.0.5)",
                )
        fields: dict[str, object] = {}
        if (value := m.get("port")) is not None:
            fields["port"] = expect_int(value, "port", self.problems, lo=1, hi=65535)
        if (value := m.get("user")) is not None:
            fields["user"] = expect_str(value, "user", self.problems)
        for key in ("key_file", "known_hosts"):
            if (value := m.get(key)) is not None:
                fields[key] = self.path(value, key)
        for key in ("sudo", "insecure_skip_host_key_check"):
            if (value := m.get(key)) is not None:
                fields[key] = expect_bool(value, key, self.problems)
        if (value := m.get("connect_timeout")) is not None:
            fields["connect_timeout_s"] = expect_duration(
                value, "connect_timeout", self.problems, longest=MAX_CONNECT_TIMEOUT_S
            )
        if (value := m.get("password_env")) is not None:
            fields["password"] = self.secret_from_env(value, "password_env")
        if (value := m.get("key_passphrase_env")) is not None:
            fields["key_passphrase"] = self.secret_from_env(value, "key_passphrase_env")
        if host is None or len(self.problems) > before or any(k in m for k in _SECRET_KEYS):
            return None
        set_fields = {k: v for k, v in fields.items() if v is not None}
        return "ssh", SshTarget(host=host, **set_fields), None  # type: ignore[arg-type]

    def path(self, value: YValue, key: str) -> str | None:
        text = expect_str(value, key, self.problems)
        if text is None:
            return None
        if not text.strip():
            self.problems.add(
                value.pos, "bad-path", f"{key} is empty", f"write the path of the {key}"
            )
            return None
        resolved = Path(text).expanduser()
        if not resolved.is_absolute():
            resolved = (self.base_dir / resolved).resolve()
        if not resolved.is_file() and resolved not in self.missing_files:
            self.missing_files.add(resolved)  # warn once per file, not once per node
            self.warnings.append(
                Diagnostic.at(
                    value.pos,
                    "file-not-found",
                    f"{key} {resolved} does not exist on this machine",
                    "it must exist on the worker that connects to the node",
                )
            )
        return str(resolved)

    def secret_from_env(self, value: YValue, key: str) -> str | None:
        name = expect_str(value, key, self.problems, "write the name of an environment variable")
        if name is None:
            return None
        if not _ENV_NAME.match(name):
            self.problems.add(
                value.pos,
                "bad-env-name",
                f'{key} "{name}" is not an environment variable name',
                "write a name such as DB01_SSH_PASSWORD",
            )
            return None
        if not self.resolve_secrets:
            return None
        secret = self.environ.get(name)
        if secret is None:
            self.problems.add(
                value.pos,
                "missing-env",
                f"environment variable {name} ({key}) is not set",
                f"export {name} before running the job, or use a key_file or conn_id",
            )
            return None
        return secret


_LIST_UNDER_NODES = (
    "list every node under nodes:, each with its groups (an Ansible inventory does not load as is)"
)
_NODES_HINT = "write nodes: [ { id: web-01, groups: [web], connection: local } ]"
_NODE_KEY_HINTS = {
    "name": "a node is named by id:",
    "host": "host goes inside connection: { type: ssh, host: ... }",
    "group": "write groups: [NAME, ...]",
}
