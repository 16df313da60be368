"""gridflow.nodes.ssh_connection: Airflow ``ssh`` connections -> SshTarget.

Tables of connections (in Airflow's URI and JSON forms, parsed by
gridflow.connections as a real lookup would) and the target, or the exact
error, each gives. No sshd here: tests/jobrun/test_conn_id.py logs in to a
real node through a connection.
"""

from __future__ import annotations

import dataclasses
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from gridflow.connections import Connection, parse_connection
from gridflow.errors import ExpectedError, RetryableError
from gridflow.nodes.base import NodeSpec, SshTarget
from gridflow.nodes.ssh_connection import (
    HostKey,
    SshConnectionError,
    connection_secrets,
    resolve_ssh_node,
    ssh_settings,
    ssh_target,
)

ED25519 = "AAAAC3NzaC1lZDI1NTE5AAAAIHirbBCbJ8BPQyrDpQS1gnpkiPb4Cdcy+w5facxZS4Rm"
ECDSA = (
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFHIJ8ArSGP6MHB6EVnJEWaKw78YuJTPeavt91dY"
    "CL78S2GUit2qB0ZtAF+AMOE4EBXmG4VjavdYQm4suPVKPLs="
)
RSA = (
    "AAAAB3NzaC1yc2EAAAADAQABAAAAgQDUm9BRKgLhMKiT5J3gBP4/hZ2VL9t1vMo9bJuO6lfN8Wv6DkFcZHKDudAGS/fph"
    "oohHGbVWn6yysQJOHeyh4u4/vYrYAVWH3Zy1rPFDi+9ueSlf5xgkHZWIw5GHP2gpLAy8/hmT/q4O+Eu8NH1A1hZAmdQnJq"
    "/NJ7HLapnkM5s9Q=="
)
KEY_TEXT = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def conn(text: str | dict[str, Any]) -> Connection:
    """A connection as lookup() would return it from AIRFLOW_CONN_WEB (URI or JSON)."""
    value = text if isinstance(text, str) else json.dumps(text)
    return parse_connection("web", value, source="env AIRFLOW_CONN_WEB")


# (id, connection, fields of the SshTarget besides the defaults, host key or None)
MAPPED: list[tuple[str, str | dict[str, Any], dict[str, Any], HostKey | None]] = [
    ("uri-host-only", "ssh://10.0.0.5", {"host": "10.0.0.5"}, None),
    (
        "uri-user-port-key-file",
        "ssh://ops@web-01.example.test:2222?key_file=%2Fhome%2Fops%2F.ssh%2Fid_ed25519",
        {
            "host": "web-01.example.test",
            "port": 2222,
            "user": "ops",
            "key_file": "/home/ops/.ssh/id_ed25519",
        },
        None,
    ),
    (
        "uri-password",
        "ssh://ops:p%40ss%2Fword@10.0.0.5",
        {"host": "10.0.0.5", "user": "ops", "password": "p@ss/word"},
        None,
    ),
    (
        "json-inline-key-and-passphrase-kept-as-written",
        {
            "conn_type": "ssh",
            "host": "10.0.0.5",
            "login": "ops",
            "extra": {"private_key": KEY_TEXT, "private_key_passphrase": " open sesame "},
        },
        {
            "host": "10.0.0.5",
            "user": "ops",
            "private_key": KEY_TEXT,
            "key_passphrase": " open sesame ",
        },
        None,
    ),
    (
        "uri-inline-key-newlines-encoded",
        "ssh://10.0.0.5?private_key=" + KEY_TEXT.replace("\n", "%0A").replace(" ", "+"),
        {"host": "10.0.0.5", "private_key": KEY_TEXT},
        None,
    ),
    (
        "json-without-conn-type",
        {"host": "10.0.0.5", "port": 22},
        {"host": "10.0.0.5"},
        None,
    ),
    (
        "conn-timeout-seconds-as-text",  # URI query values are text
        "ssh://10.0.0.5?conn_timeout=3",
        {"host": "10.0.0.5", "connect_timeout_s": 3.0},
        None,
    ),
    (
        "conn-timeout-number-in-json",
        {"host": "10.0.0.5", "extra": {"conn_timeout": 2.5}},
        {"host": "10.0.0.5", "connect_timeout_s": 2.5},
        None,
    ),
    (
        "deprecated-timeout-read-when-conn-timeout-absent",
        "ssh://10.0.0.5?timeout=7",
        {"host": "10.0.0.5", "connect_timeout_s": 7.0},
        None,
    ),
    (
        "conn-timeout-wins-over-timeout",
        "ssh://10.0.0.5?timeout=7&conn_timeout=4",
        {"host": "10.0.0.5", "connect_timeout_s": 4.0},
        None,
    ),
    (
        "no-host-key-check-true-text",
        "ssh://10.0.0.5?no_host_key_check=true",
        {"host": "10.0.0.5", "insecure_skip_host_key_check": True},
        None,
    ),
    (
        "no-host-key-check-true-json-any-case",
        {"host": "10.0.0.5", "extra": {"no_host_key_check": "TRUE"}},
        {"host": "10.0.0.5", "insecure_skip_host_key_check": True},
        None,
    ),
    (
        "no-host-key-check-bool",
        {"host": "10.0.0.5", "extra": {"no_host_key_check": True}},
        {"host": "10.0.0.5", "insecure_skip_host_key_check": True},
        None,
    ),
    (
        "no-host-key-check-false-checks",
        "ssh://10.0.0.5?no_host_key_check=false",
        {"host": "10.0.0.5"},
        None,
    ),
    (
        "no-host-key-check-anything-else-checks",  # only an explicit true turns checks off
        "ssh://10.0.0.5?no_host_key_check=yes&allow_host_key_change=1",
        {"host": "10.0.0.5"},
        None,
    ),
    (
        "allow-host-key-change-true",
        "ssh://10.0.0.5?allow_host_key_change=true",
        {"host": "10.0.0.5", "insecure_skip_host_key_check": True},
        None,
    ),
    (
        "host-key-typed-port-22",
        {"host": "10.0.0.5", "extra": {"host_key": f"ssh-ed25519 {ED25519}"}},
        {"host": "10.0.0.5"},
        HostKey("10.0.0.5", "ssh-ed25519", ED25519),
    ),
    (
        "host-key-other-port-and-comment",
        {
            "host": "10.0.0.5",
            "port": 2222,
            "extra": {"host_key": f"ecdsa-sha2-nistp256 {ECDSA} root@web"},
        },
        {"host": "10.0.0.5", "port": 2222},
        HostKey("[10.0.0.5]:2222", "ecdsa-sha2-nistp256", ECDSA),
    ),
    (
        "host-key-base64-alone-is-rsa",
        {"host": "10.0.0.5", "extra": {"host_key": RSA}},
        {"host": "10.0.0.5"},
        HostKey("10.0.0.5", "ssh-rsa", RSA),
    ),
    (
        "host-key-legacy-ssh-ecdsa-name",
        {"host": "10.0.0.5", "extra": {"host_key": f"ssh-ecdsa {ECDSA}"}},
        {"host": "10.0.0.5"},
        HostKey("10.0.0.5", "ecdsa-sha2-nistp256", ECDSA),
    ),
    (
        "host-key-wins-over-allow-host-key-change",
        {
            "host": "10.0.0.5",
            "extra": {"host_key": f"ssh-ed25519 {ED25519}", "allow_host_key_change": "true"},
        },
        {"host": "10.0.0.5"},
        HostKey("10.0.0.5", "ssh-ed25519", ED25519),
    ),
    (
        "look-for-keys-false-with-a-key",
        "ssh://10.0.0.5?look_for_keys=false&key_file=%2Fk",
        {"host": "10.0.0.5", "key_file": "/k"},
        None,
    ),
    (
        "gridflow-extras-sudo-and-known-hosts",
        {"host": "10.0.0.5", "extra": {"sudo": "true", "known_hosts": "/etc/gridflow/known_hosts"}},
        {"host": "10.0.0.5", "sudo": True, "known_hosts": "/etc/gridflow/known_hosts"},
        None,
    ),
    (
        "ignored-provider-options",
        "ssh://10.0.0.5?compress=false&cmd_timeout=30&keepalive_interval=5&ciphers=x",
        {"host": "10.0.0.5"},
        None,
    ),
    (
        "schema-ignored",
        "ssh://10.0.0.5/whatever",
        {"host": "10.0.0.5"},
        None,
    ),
]


@pytest.mark.parametrize(
    ("text", "fields", "host_key"), [m[1:] for m in MAPPED], ids=[m[0] for m in MAPPED]
)
def test_mapping(
    text: str | dict[str, Any], fields: dict[str, Any], host_key: HostKey | None
) -> None:
    settings = ssh_settings(conn(text))
    assert settings.target == SshTarget(**fields)
    # the secrets compare too (they are out of repr, not out of ==)
    for secret in ("password", "private_key", "key_passphrase"):
        assert getattr(settings.target, secret) == fields.get(secret)
    assert settings.host_key == host_key


WHERE = "connection 'web' (env AIRFLOW_CONN_WEB): "
REFUSED: list[tuple[str, str | dict[str, Any], str]] = [
    (
        "not-ssh",
        "http://10.0.0.5",
        "its type is 'http', not 'ssh'; a node needs an ssh connection "
        "(conn_type ssh, or an ssh:// URI)",
    ),
    (
        "no-host",
        {"conn_type": "ssh", "login": "ops"},
        "the host is empty or not a host name; set the connection's host",
    ),
    (
        "key-file-and-private-key",
        {"host": "h", "extra": {"key_file": "/k", "private_key": KEY_TEXT}},
        "both key_file and private_key are set in extra; keep one of them",
    ),
    (
        "key-file-not-text",
        {"host": "h", "extra": {"key_file": 5}},
        "extra key_file must be a string, not int",
    ),
    (
        "timeout-not-a-number",
        "ssh://h?conn_timeout=soon",
        "extra conn_timeout must be a number of seconds",
    ),
    (
        "timeout-zero",
        "ssh://h?conn_timeout=0",
        "extra conn_timeout must be above 0 and at most 600 seconds",
    ),
    (
        "timeout-too-long",
        {"host": "h", "extra": {"timeout": 3600}},
        "extra timeout must be above 0 and at most 600 seconds",
    ),
    (
        "host-key-and-no-check",
        {"host": "h", "extra": {"host_key": f"ssh-ed25519 {ED25519}", "no_host_key_check": "true"}},
        "extra sets host_key and no_host_key_check true: a given host key is always checked; "
        "drop one of them",
    ),
    (
        "host-key-and-known-hosts",
        {"host": "h", "extra": {"host_key": f"ssh-ed25519 {ED25519}", "known_hosts": "/kh"}},
        "extra sets both host_key and known_hosts; keep one of them",
    ),
    (
        "host-key-not-base64",
        {"host": "h", "extra": {"host_key": "ssh-ed25519 not*base64"}},
        "extra host_key is not a public key in base64; copy it from `ssh-keyscan HOST` or the "
        "node's /etc/ssh/ssh_host_*_key.pub",
    ),
    (
        "host-key-wrong-type-named",
        {"host": "h", "extra": {"host_key": f"ssh-rsa {ED25519}"}},
        "extra host_key says ssh-rsa but holds an ssh-ed25519 key; copy it from `ssh-keyscan HOST` "
        "or the node's /etc/ssh/ssh_host_*_key.pub",
    ),
    (
        "host-key-dsa",
        {"host": "h", "extra": {"host_key": "AAAAB3NzaC1kc3MAAAA="}},
        "extra host_key is a DSA key, which is not supported; use the node's ed25519 key",
    ),
    (
        "host-key-four-words",
        {"host": "h", "extra": {"host_key": "a b c d"}},
        'extra host_key must be "TYPE BASE64" as in known_hosts (e.g. "ssh-ed25519 AAAAC3Nza..."), '
        "or the base64 of an ssh-rsa key alone",
    ),
    (
        "look-for-keys-false-and-nothing-else",
        "ssh://ops@h?look_for_keys=false",
        "look_for_keys is false and there is no password, key_file or private_key: nothing to log "
        "in with; add one of them",
    ),
    ("sudo-not-a-bool", "ssh://h?sudo=maybe", "extra sudo must be true or false"),
]


@pytest.mark.parametrize(("text", "message"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refused(text: str | dict[str, Any], message: str) -> None:
    with pytest.raises(SshConnectionError) as info:
        ssh_settings(conn(text))
    assert info.value.message == WHERE + message
    assert isinstance(info.value, ExpectedError)  # never retried


def test_messages_never_quote_secrets() -> None:
    text = {
        "conn_type": "http",
        "host": "h",
        "password": "hunter2-secret",
        "extra": {"private_key": KEY_TEXT, "private_key_passphrase": "pp-secret"},
    }
    with pytest.raises(SshConnectionError) as info:
        ssh_settings(conn(text))
    assert "hunter2" not in str(info.value)
    assert "pp-secret" not in str(info.value)
    assert "hunter2" not in repr(ssh_settings(conn({**text, "conn_type": "ssh"})).target)


def test_secrets_are_the_credentials_not_paths_or_public_keys() -> None:
    c = conn(
        {
            "host": "h",
            "login": "ops",
            "password": "hunter2-secret",
            "extra": {
                "private_key": KEY_TEXT,
                "private_key_passphrase": "pp-secret",
                "key_file": "/home/ops/.ssh/id",
                "host_key": f"ssh-ed25519 {ED25519}",
                "api_token": "tok-123456",
            },
        }
    )
    assert sorted(connection_secrets(c)) == sorted(
        ["hunter2-secret", KEY_TEXT, "pp-secret", "tok-123456"]
    )


def test_host_key_is_written_to_a_private_known_hosts_file() -> None:
    target = ssh_target(
        conn({"host": "10.0.0.5", "port": 2222, "extra": {"host_key": f"ssh-ed25519 {ED25519}"}})
    )
    assert target.known_hosts is not None
    path = Path(target.known_hosts)
    assert path.read_text() == f"[10.0.0.5]:2222 ssh-ed25519 {ED25519}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert target.insecure_skip_host_key_check is False
    # the same key again: the same file
    again = ssh_target(
        conn({"host": "10.0.0.5", "port": 2222, "extra": {"host_key": f"ssh-ed25519 {ED25519}"}})
    )
    assert again.known_hosts == target.known_hosts


def test_resolve_reads_the_environment_and_names_the_node() -> None:
    environ = {"AIRFLOW_CONN_DB01_SSH": "ssh://ops:pw-123456@10.0.0.9:2200?key_file=%2Fk"}
    node = NodeSpec("db-01", ("db",), transport="ssh", conn_id="db01_ssh")
    resolved, secrets = resolve_ssh_node(node, environ)
    assert resolved == dataclasses.replace(
        node,
        ssh=SshTarget(host="10.0.0.9", port=2200, user="ops", password="pw-123456", key_file="/k"),
    )
    assert secrets == ["pw-123456"]
    gridflow_first = {**environ, "GRIDFLOW_CONN_DB01_SSH": '{"host": "10.0.0.10"}'}
    assert resolve_ssh_node(node, gridflow_first)[0].ssh == SshTarget(host="10.0.0.10")


def test_resolve_errors_name_the_node() -> None:
    node = NodeSpec("db-01", transport="ssh", conn_id="db01_ssh")
    with pytest.raises(ExpectedError) as info:
        resolve_ssh_node(node, {})
    assert info.value.message == (
        "ssh node db-01: connection 'db01_ssh' is not defined (looked in: "
        "$GRIDFLOW_CONN_DB01_SSH, $AIRFLOW_CONN_DB01_SSH); define it where the job runs, e.g. "
        "export AIRFLOW_CONN_DB01_SSH='ssh://USER@HOST:22?key_file=%2Fhome%2FUSER%2F.ssh%2F"
        'id_ed25519\' (or the JSON form \'{"conn_type": "ssh", "host": ..., "login": ..., '
        '"extra": {"key_file": ...}}\'), as an Airflow connection, or as a Prefect '
        "GridflowConnection block"
    )
    with pytest.raises(SshConnectionError) as bad:
        resolve_ssh_node(node, {"AIRFLOW_CONN_DB01_SSH": "http://h"})
    assert bad.value.message.startswith(
        "ssh node db-01: connection 'db01_ssh' (env AIRFLOW_CONN_DB01_SSH): its type is 'http'"
    )


def test_resolve_asks_the_engine_resolver_first_and_keeps_its_retryable_error() -> None:
    from gridflow.connections import use_resolver

    node = NodeSpec("db-01", transport="ssh", conn_id="db01_ssh")

    def down(conn_id: str) -> Connection | None:
        raise ConnectionError("metadata database unreachable")

    with use_resolver(down, name="Airflow connections"), pytest.raises(RetryableError) as info:
        resolve_ssh_node(node, {"AIRFLOW_CONN_DB01_SSH": "ssh://h"})
    assert info.value.message.startswith(
        "ssh node db-01: connection 'db01_ssh': looking it up in Airflow connections failed"
    )

    def known(conn_id: str) -> Connection | None:
        return Connection(conn_id, "ssh", host="10.1.1.1", login="svc", source="Airflow")

    with use_resolver(known, name="Airflow connections"):
        assert resolve_ssh_node(node, {})[0].ssh == SshTarget(host="10.1.1.1", user="svc")


def test_a_node_with_its_own_settings_is_left_alone() -> None:
    node = NodeSpec("web", transport="ssh", ssh=SshTarget(host="h"))
    assert resolve_ssh_node(node, {"AIRFLOW_CONN_X": "ssh://other"}) == (node, [])
