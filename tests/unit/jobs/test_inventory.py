# ruff: noqa: E501 - rows of inventory text and exact messages read best unwrapped
"""Inventories: the nodes they declare, exact messages for malformed ones,
secrets kept out of the file, and targets resolved against them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gridflow.errors import LoadError, UsageError
from gridflow.jobs import find_inventory, load_inventory, read_job, select
from gridflow.nodes.base import NodeSpec, SshTarget

EXAMPLES = Path(__file__).resolve().parents[3] / "dags_examples" / "jobs"

CASES: dict[str, tuple[str, list[str]]] = {
    "dup": (
        "nodes:\n  - { id: a, connection: local }\n  - { id: a, connection: local }\n",
        [
            'inv.yaml:3:11: error: node "a" is listed twice (first at line 2) [duplicate-node]\n  hint: give every node its own id',
        ],
    ),
    "unknown-key": (
        "nodes:\n  - { id: a, connection: local, group: [web] }\n  - { id: b, connection: { type: ssh, host: h, prot: 22 } }\n",
        [
            'inv.yaml:2:33: error: unknown key "group" in a node [unknown-key]\n  hint: write groups: [NAME, ...]',
            'inv.yaml:3:48: error: unknown key "prot" in an ssh connection [unknown-key]\n  hint: did you mean "port"?',
        ],
    ),
    "bad-port": (
        "nodes:\n  - { id: a, connection: { type: ssh, host: h, port: 70000 } }\n  - { id: b, connection: { type: ssh, host: h, port: '22' } }\n",
        [
            "inv.yaml:2:54: error: port must be from 1 to 65535, got 70000 [out-of-range]\n  hint: write a number from 1 to 65535",
            'inv.yaml:3:54: error: port must be a whole number, got the string "22" [wrong-type]\n  hint: write a number from 1 to 65535',
        ],
    ),
    "no-host": (
        "nodes:\n  - { id: a, connection: { type: ssh, user: root } }\n",
        [
            "inv.yaml:2:26: error: an ssh connection needs a host [missing-host]\n  hint: add host: 10.0.0.5",
        ],
    ),
    "password": (
        "nodes:\n  - id: a\n    connection:\n      type: ssh\n      host: h\n      password: hunter2\n",
        [
            "inv.yaml:6:7: error: password cannot be written in the inventory in clear [secret-in-clear]\n  hint: use password_env: VAR (an environment variable holding it), a key_file, or a scheduler connection (conn_id)",
        ],
    ),
    "password-env-missing": (
        "nodes:\n  - { id: a, connection: { type: ssh, host: h, password_env: NOPE_NOT_SET } }\n",
        [
            "inv.yaml:2:62: error: environment variable NOPE_NOT_SET (password_env) is not set [missing-env]\n  hint: export NOPE_NOT_SET before running the job, or use a key_file or conn_id",
        ],
    ),
    "password-env-bad": (
        "nodes:\n  - { id: a, connection: { type: ssh, host: h, password_env: 'my var' } }\n",
        [
            'inv.yaml:2:62: error: password_env "my var" is not an environment variable name [bad-env-name]\n  hint: write a name such as DB01_SSH_PASSWORD',
        ],
    ),
    "conn-id-extra": (
        "nodes:\n  - { id: a, connection: { type: ssh, conn_id: x, host: h } }\n",
        [
            'inv.yaml:2:51: error: "host" cannot be set beside conn_id [conn-id-with-settings]\n  hint: the connection holds every setting: set it there, or drop conn_id and write the settings here',
        ],
    ),
    "no-conn": (
        "nodes:\n  - { id: a }\n",
        [
            'inv.yaml:2:5: error: node "a" has no connection [missing-connection]\n  hint: write connection: local (the worker itself) or connection: { type: ssh, host: ..., user: ... }',
        ],
    ),
    "bad-type": (
        "nodes:\n  - { id: a, connection: { type: winrm } }\n  - { id: b, connection: remote }\n  - { id: c, connection: ssh }\n",
        [
            'inv.yaml:2:34: error: unknown connection type "winrm" [bad-connection]\n  hint: write type: ssh, or connection: local',
            'inv.yaml:3:26: error: connection must be local or a mapping, got the string "remote" [bad-connection]\n  hint: write connection: local, or connection: { type: ssh, host: ..., user: ... }',
            "inv.yaml:4:26: error: an ssh connection needs a host [bad-connection]\n  hint: write connection: { type: ssh, host: ..., user: ... }, or { type: ssh, conn_id: ... }",
        ],
    ),
    "bad-id": (
        "nodes:\n  - { id: 'web 01', connection: local }\n  - { id: 7, connection: local }\n  - { connection: local }\n",
        [
            "inv.yaml:2:11: error: node id \"web 01\" is not a valid name [bad-name]\n  hint: start with a letter or digit, then letters, digits, '.', '_' or '-' (128 at most)",
            "inv.yaml:3:11: error: node id must be a string, got the number 7 [wrong-type]\n  hint: put the value in quotes to make it a string",
            "inv.yaml:4:5: error: a node needs an id [missing-id]\n  hint: add id: web-01",
        ],
    ),
    "empty": (
        "nodes: []\n",
        [
            "inv.yaml:1:8: error: the node list is empty [missing-nodes]\n  hint: write nodes: [ { id: web-01, groups: [web], connection: local } ]",
        ],
    ),
    "no-nodes": (
        "hosts: []\n",
        [
            "inv.yaml:1:1: error: the inventory has no nodes [missing-nodes]\n  hint: write nodes: [ { id: web-01, groups: [web], connection: local } ]",
            'inv.yaml:1:1: error: unknown key "hosts" in the inventory [unknown-key]\n  hint: list every node under nodes:, each with its groups (an Ansible inventory does not load as is)',
        ],
    ),
    "private": (
        "nodes:\n  - { id: a, connection: { type: ssh, conn_id: x, private_key: abc } }\n",
        [
            "inv.yaml:2:51: error: private_key cannot be written in the inventory in clear [secret-in-clear]\n  hint: use key_file: PATH, or a scheduler connection (conn_id) that holds the key",
        ],
    ),
    "host-space": (
        "nodes:\n  - { id: a, connection: { type: ssh, host: 'a b' } }\n",
        [
            'inv.yaml:2:45: error: host "a b" is not a host name or address [bad-host]\n  hint: write a DNS name (db-01.example.com) or an IP address (10.0.0.5)',
        ],
    ),
}


def write(tmp_path: Path, text: str, name: str = "inv.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_malformed_inventory(tmp_path: Path, text: str, expected: list[str]) -> None:
    with pytest.raises(LoadError) as info:
        load_inventory(write(tmp_path, text), environ={})
    assert [str(d).replace(str(tmp_path) + "/", "") for d in info.value.diagnostics] == expected


def test_nodes_of_every_kind(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "id").write_text("not really a key")
    inventory = load_inventory(
        write(
            tmp_path,
            """\
nodes:
  - { id: here, groups: [local, all-nodes], connection: local }
  - id: web-01
    groups: web                      # one group as a plain string
    connection:
      type: ssh
      host: 127.0.0.2
      port: 2222
      user: ops
      key_file: keys/id              # relative to the inventory
      known_hosts: /nonexistent/known_hosts
      password_env: WEB01_PASSWORD
      key_passphrase_env: WEB01_PASSPHRASE
      sudo: true
      insecure_skip_host_key_check: false
      connect_timeout: 2.5s
  - { id: db-01, groups: [db, db], connection: { type: ssh, conn_id: db01_ssh } }
  - { id: also-here, connection: { type: local } }
""",
        ),
        environ={"WEB01_PASSWORD": "s3cret", "WEB01_PASSPHRASE": "phrase"},
    )
    assert inventory.nodes == (
        NodeSpec(id="here", groups=("local", "all-nodes")),
        NodeSpec(
            id="web-01",
            groups=("web",),
            transport="ssh",
            ssh=SshTarget(
                host="127.0.0.2",
                port=2222,
                user="ops",
                key_file=str(tmp_path / "keys" / "id"),
                known_hosts="/nonexistent/known_hosts",
                password="s3cret",
                key_passphrase="phrase",
                sudo=True,
                connect_timeout_s=2.5,
            ),
        ),
        NodeSpec(id="db-01", groups=("db",), transport="ssh", conn_id="db01_ssh"),
        NodeSpec(id="also-here"),
    )
    assert inventory.groups() == ["all-nodes", "db", "local", "web"]
    # A file that is not here is a warning: it must exist on the worker, not here.
    assert [str(w).replace(str(tmp_path) + "/", "") for w in inventory.warnings] == [
        "inv.yaml:11:20: error: known_hosts /nonexistent/known_hosts does not exist on this "
        "machine [file-not-found]\n  hint: it must exist on the worker that connects to the node"
    ]


def test_missing_key_file_is_warned_once(tmp_path: Path) -> None:
    text = "nodes:\n" + "".join(
        f"  - {{ id: n{i}, connection: {{ type: ssh, host: h, key_file: ~/gridflow-no-such-key }} }}\n"
        for i in range(3)
    )
    inventory = load_inventory(write(tmp_path, text), environ={})
    assert [(w.line, w.code) for w in inventory.warnings] == [(2, "file-not-found")]
    assert inventory.nodes[0].ssh is not None
    assert inventory.nodes[0].ssh.key_file == str(Path.home() / "gridflow-no-such-key")


def test_secrets_stay_unread_when_only_validating(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "nodes:\n  - { id: a, connection: { type: ssh, host: h, password_env: UNSET_VAR } }\n",
    )
    node = load_inventory(path, environ={}, resolve_secrets=False).nodes[0]
    assert node.ssh is not None
    assert node.ssh.password is None
    with pytest.raises(LoadError, match="UNSET_VAR"):
        load_inventory(path, environ={})


def test_a_password_in_clear_never_reaches_the_message(tmp_path: Path) -> None:
    path = write(
        tmp_path, "nodes:\n  - { id: a, connection: { type: ssh, host: h, password: hunter2 } }\n"
    )
    with pytest.raises(LoadError) as info:
        load_inventory(path, environ={})
    assert "hunter2" not in str(info.value)


def test_example_inventory() -> None:
    inventory = load_inventory(EXAMPLES / "inventory.yaml", environ={})
    reached = {
        n.id: (n.ssh.host, n.ssh.port, n.ssh.user, n.ssh.sudo)
        if n.ssh
        else n.conn_id or n.transport
        for n in inventory.nodes
    }
    assert reached == {
        "web-01": ("10.0.1.11", 22, "deploy", True),
        "web-02": ("10.0.1.12", 22, "deploy", True),
        "web-03": ("10.0.1.13", 2222, "deploy", True),
        "db-01": "db01_ssh",
        "worker": "local",
    }
    assert inventory.groups() == ["db", "local", "prod", "web"]


def test_the_example_inventory_connection_is_real() -> None:
    # The export line in the example's comments gives what db-01 needs.
    from gridflow.connections import parse_connection
    from gridflow.nodes.ssh_connection import ssh_settings

    text = (EXAMPLES / "inventory.yaml").read_text()
    [uri] = re.findall(r"export AIRFLOW_CONN_DB01_SSH='([^']+)'", text)
    target = ssh_settings(parse_connection("db01_ssh", uri)).target
    assert (target.host, target.port, target.user, target.sudo) == ("10.0.2.21", 22, "deploy", True)
    assert target.key_file == "/home/airflow/.ssh/id_ed25519"
    assert target.insecure_skip_host_key_check is False


@pytest.mark.parametrize(
    ("path", "env", "expected"),
    [
        ("given.yaml", {"GRIDFLOW_INVENTORY": "env.yaml"}, "given.yaml"),
        (None, {"GRIDFLOW_INVENTORY": "env.yaml"}, "env.yaml"),
        (None, {"GRIDFLOW_INVENTORY": "  "}, None),
        (None, {}, None),
    ],
    ids=["flag-wins", "from-env", "blank-env", "none"],
)
def test_find_inventory(path: str | None, env: dict[str, str], expected: str | None) -> None:
    found = find_inventory(path, env)
    assert (str(found) if found else None) == expected


NODES = (
    NodeSpec(id="web-01", groups=("web", "prod")),
    NodeSpec(id="web-02", groups=("web",)),
    NodeSpec(id="db-01", groups=("db", "prod")),
)

SELECT = {
    "all": ("all", ["web-01", "web-02", "db-01"]),
    "group": ("group:web", ["web-01", "web-02"]),
    "group-spaced": (" group : prod ", ["web-01", "db-01"]),
    "node": ("node:db-01", ["db-01"]),
    "no-group": (
        "group:wbe",
        'target group:wbe: no node of the inventory is in group "wbe" (did you mean "web"?)',
    ),
    "no-group-far": (
        "group:zzz",
        'target group:zzz: no node of the inventory is in group "zzz" (groups in the inventory: db, prod, web)',
    ),
    "no-node": (
        "node:web-1",
        'target node:web-1: the inventory has no node "web-1" (did you mean "web-01"?)',
    ),
    "no-node-far": (
        "node:zzz",
        'target node:zzz: the inventory has no node "zzz" (nodes in the inventory: web-01, web-02, db-01)',
    ),
    "bad-shorthand": (
        "groups:web",
        '"groups:web" is not a target: write "all", "group:NAME" or "node:ID" (did you mean "group"?)',
    ),
    "no-scope": ("web", '"web" is not a target: write "all", "group:NAME" or "node:ID"'),
    "empty-value": ("node:", '"node:" names no node: write "all", "group:NAME" or "node:ID"'),
}


@pytest.mark.parametrize(("target", "expected"), SELECT.values(), ids=SELECT.keys())
def test_select(target: str, expected: list[str] | str) -> None:
    if isinstance(expected, list):
        assert [n.id for n in select(NODES, target)] == expected
        return
    with pytest.raises(UsageError) as info:
        select(NODES, target)
    assert str(info.value) == expected


def test_empty_selection_is_refused() -> None:
    with pytest.raises(UsageError, match="the inventory has no nodes"):
        select((), "all")


def test_a_file_target_is_refused_at_its_line(tmp_path: Path) -> None:
    job = read_job(
        write(
            tmp_path,
            "tasks: [ { backend: ping, action: hostname } ]\ntarget: group:dbs\n",
            "job.yaml",
        )
    )
    with pytest.raises(LoadError) as info:
        select(NODES, job.target, inventory="inv.yaml")
    assert [str(d).replace(str(tmp_path) + "/", "") for d in info.value.diagnostics] == [
        'job.yaml:2:9: error: target group:dbs: no node of inv.yaml is in group "dbs" [no-such-target]\n  hint: did you mean "db"?'
    ]
