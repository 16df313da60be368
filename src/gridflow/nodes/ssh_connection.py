"""SSH settings of a node from a named connection (Airflow's ``ssh`` type).

An inventory node written ``connection: { type: ssh, conn_id: db01_ssh }``
takes every setting from the connection ``db01_ssh``, found by
:func:`gridflow.connections.lookup` (the engine's resolver: Airflow
connections or a Prefect block; then ``GRIDFLOW_CONN_DB01_SSH`` and
``AIRFLOW_CONN_DB01_SSH``, in Airflow's URI or JSON form). The fields mean
what Airflow's SSH provider makes of them:

=============================  ================================================
connection                     :class:`~gridflow.nodes.base.SshTarget`
=============================  ================================================
host (required)                host
port                           port (22)
login                          user (the worker's user when empty)
password                       password
extra ``key_file``             key_file (a path on the worker)
extra ``private_key``          private_key (the key's text; not with key_file)
extra ``private_key_passphrase``  key_passphrase
extra ``conn_timeout``         connect_timeout_s, in seconds (10); the
                               deprecated ``timeout`` is read when it is absent
extra ``no_host_key_check``,   insecure_skip_host_key_check, only when one of
``allow_host_key_change``      them is explicitly true (``true`` or ``"true"``)
extra ``host_key``             the only key trusted for the node: written to a
                               known_hosts file of its own (see below)
extra ``look_for_keys``        ``false``: never try the ssh agent or ~/.ssh keys
=============================  ================================================

gridflow's own extras: ``known_hosts`` (a file other than
``~/.ssh/known_hosts``) and ``sudo`` (run every command through ``sudo -n``).
``compress``, ``cmd_timeout`` (task timeouts govern commands),
``keepalive_interval``, ``banner_timeout``, ``disabled_algorithms`` and
``ciphers`` are accepted and ignored.

Where gridflow is stricter than the provider (docs/jobs.md, "SSH nodes"):
host keys are checked unless the connection explicitly says otherwise (the
provider's hook accepts unknown hosts by default in many versions); the
insecure mode accepts changed keys as well as unknown ones, with a warning
once per node; ``host_key`` replaces known_hosts instead of joining it; the
agent and default keys are tried only when the connection gives no key and
no password; ``~/.ssh/config`` is not read.

Everything here except :func:`ssh_target` (which writes the ``host_key``
file) is a pure function of the connection, and no message quotes a value
that may be secret.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import dataclasses
import hashlib
import math
import os
import shutil
import struct
import tempfile
import threading
from collections.abc import Mapping
from typing import Any

from gridflow.connections import Connection, env_var_names, lookup, secret_values
from gridflow.errors import ExpectedError, RunnerError
from gridflow.nodes.base import NodeSpec, SshTarget

__all__ = [
    "HostKey",
    "SshConnectionError",
    "SshSettings",
    "connection_secrets",
    "resolve_ssh_node",
    "ssh_settings",
    "ssh_target",
]

DEFAULT_CONNECT_TIMEOUT_S = 10.0
MAX_CONNECT_TIMEOUT_S = 600.0
# Host key types paramiko checks; the provider's key-less form means ssh-rsa.
_HOST_KEY_TYPES = frozenset(
    {
        "ssh-rsa",
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
    }
)
# Extra keys that hold no secret although their names say KEY.
_NOT_SECRET = frozenset({"key_file", "host_key", "known_hosts", "look_for_keys"})


class SshConnectionError(ExpectedError):
    """A connection cannot describe an SSH node: wrong type, no host, a bad
    value. Not retried: the connection has to be fixed."""


@dataclasses.dataclass(frozen=True)
class HostKey:
    """A host key given in a connection: the only key trusted for the node."""

    name: str  # the known_hosts name: host, or [host]:port
    key_type: str  # ssh-ed25519, ecdsa-sha2-nistp256, ...
    data: str  # base64 of the public key blob

    def known_hosts_line(self) -> str:
        return f"{self.name} {self.key_type} {self.data}\n"


@dataclasses.dataclass(frozen=True)
class SshSettings:
    """What a connection says: the target, and a host key to trust if it names one."""

    target: SshTarget
    host_key: HostKey | None = None


def ssh_settings(conn: Connection) -> SshSettings:
    """The SSH settings ``conn`` describes (see the module docstring).

    Raises :class:`SshConnectionError` naming the field to fix. The
    target's ``known_hosts`` is left for :func:`ssh_target` when the
    connection gives a ``host_key``.
    """
    bad = _Problem(conn)
    if conn.conn_type not in ("", "ssh"):
        raise bad(
            f"its type is {conn.conn_type!r}, not 'ssh'; a node needs an ssh connection "
            "(conn_type ssh, or an ssh:// URI)"
        )
    host = (conn.host or "").strip()
    if not host or any(c.isspace() for c in host):
        raise bad("the host is empty or not a host name; set the connection's host")
    extra = conn.extra
    port = conn.port or 22
    key_file = _text(bad, extra, "key_file")
    private_key = _text(bad, extra, "private_key")
    if key_file and private_key:
        raise bad("both key_file and private_key are set in extra; keep one of them")
    passphrase = _text(bad, extra, "private_key_passphrase")
    host_key = _host_key(bad, extra.get("host_key"), host, port)
    no_check = _explicitly_true(extra.get("no_host_key_check"))
    allow_change = _explicitly_true(extra.get("allow_host_key_change"))
    if host_key is not None and no_check:
        raise bad(
            "extra sets host_key and no_host_key_check true: a given host key is always "
            "checked; drop one of them"
        )
    if _explicitly_false(extra.get("look_for_keys")) and not (
        key_file or private_key or conn.password
    ):
        raise bad(
            "look_for_keys is false and there is no password, key_file or private_key: "
            "nothing to log in with; add one of them"
        )
    fields: dict[str, Any] = {
        "host": host,
        "port": port,
        "user": conn.login or None,
        "password": conn.password or None,
        "key_file": key_file or None,
        "private_key": private_key or None,
        "key_passphrase": passphrase or None,
        "connect_timeout_s": _timeout(bad, extra),
        # A given host key wins over allow_host_key_change, as in the provider.
        "insecure_skip_host_key_check": host_key is None and (no_check or allow_change),
        "sudo": _strict_bool(bad, extra, "sudo"),
    }
    known_hosts = _text(bad, extra, "known_hosts")
    if known_hosts and host_key is not None:
        raise bad("extra sets both host_key and known_hosts; keep one of them")
    if known_hosts:
        fields["known_hosts"] = known_hosts
    return SshSettings(SshTarget(**fields), host_key)


def ssh_target(conn: Connection) -> SshTarget:
    """:func:`ssh_settings`' target, with a ``host_key`` written to a
    known_hosts file of its own (removed when the process exits)."""
    settings = ssh_settings(conn)
    if settings.host_key is None:
        return settings.target
    try:
        path = _host_key_files.write(settings.host_key.known_hosts_line())
    except OSError as exc:
        raise _Problem(conn)(
            f"cannot write its host_key to a temporary known_hosts file: {exc.strerror}; "
            "check that the temporary directory (TMPDIR) is writable"
        ) from exc
    return dataclasses.replace(settings.target, known_hosts=path)


def connection_secrets(conn: Connection) -> list[str]:
    """The values of ``conn`` to mask in logs and results: the password, the
    private key and its passphrase, and any other extra value under a name
    that looks secret (not key_file or host_key: a path and a public key)."""
    kept = {k: v for k, v in conn.extra.items() if k not in _NOT_SECRET}
    return secret_values(dataclasses.replace(conn, extra=kept))


def resolve_ssh_node(
    node: NodeSpec, environ: Mapping[str, str] | None = None
) -> tuple[NodeSpec, list[str]]:
    """``node`` with the SSH target its ``conn_id`` describes, and the
    connection's secrets (to mask). A node with its own settings is returned
    as it is.

    Raises what :func:`~gridflow.connections.lookup` raises (ExpectedError
    when the connection is not defined, RetryableError when the place
    holding connections fails) and :class:`SshConnectionError`, each with
    the node's id in front of the message.
    """
    if node.ssh is not None or node.conn_id is None:
        return node, []
    try:
        conn = lookup(node.conn_id, environ)
        target = ssh_target(conn)
    except RunnerError as exc:
        looked_in = exc.details.get("looked_in")
        if isinstance(looked_in, list):  # not defined anywhere: say how, for ssh
            raise ExpectedError(
                _undefined_message(node.id, node.conn_id, looked_in), details=exc.details
            ) from exc
        raise type(exc)(f"ssh node {node.id}: {exc.message}", details=exc.details) from exc
    return dataclasses.replace(node, ssh=target), connection_secrets(conn)


def _undefined_message(node_id: str, conn_id: str, looked_in: list[Any]) -> str:
    var = env_var_names(conn_id)[-1]
    return (
        f"ssh node {node_id}: connection {conn_id!r} is not defined (looked in: "
        f"{', '.join(map(str, looked_in))}); define it where the job runs, e.g. export "
        f"{var}='ssh://USER@HOST:22?key_file=%2Fhome%2FUSER%2F.ssh%2Fid_ed25519' (or the JSON "
        f'form \'{{"conn_type": "ssh", "host": ..., "login": ..., "extra": {{"key_file": '
        "...}}'), as an Airflow connection, or as a Prefect GridflowConnection block"
    )


# -- fields -------------------------------------------------------------------


class _Problem:
    """Builds the error for one connection: "connection 'X' (where): problem"."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __call__(self, problem: str) -> SshConnectionError:
        where = f" ({self.conn.source})" if self.conn.source else ""
        return SshConnectionError(
            f"connection {self.conn.conn_id!r}{where}: {problem}",
            details={"conn_id": self.conn.conn_id, "kind": "connection"},
        )


def _text(bad: _Problem, extra: Mapping[str, Any], key: str) -> str:
    value = extra.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise bad(f"extra {key} must be a string, not {type(value).__name__}")
    # Secrets are taken as written; names and paths lose stray blanks.
    return value if key in ("private_key", "private_key_passphrase") else value.strip()


def _explicitly_true(value: Any) -> bool:
    # The provider's reading: true only for true or "true" (any case).
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _explicitly_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def _strict_bool(bad: _Problem, extra: Mapping[str, Any], key: str) -> bool:
    value = extra.get(key)
    if value is None or _explicitly_false(value):
        return False
    if _explicitly_true(value):
        return True
    raise bad(f"extra {key} must be true or false")


def _timeout(bad: _Problem, extra: Mapping[str, Any]) -> float:
    key = "conn_timeout" if extra.get("conn_timeout") not in (None, "") else "timeout"
    value = extra.get(key)
    if value is None or value == "":
        return DEFAULT_CONNECT_TIMEOUT_S
    try:
        if isinstance(value, bool):
            raise ValueError
        seconds = float(value)
    except (TypeError, ValueError):
        raise bad(f"extra {key} must be a number of seconds") from None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_CONNECT_TIMEOUT_S:
        raise bad(f"extra {key} must be above 0 and at most {MAX_CONNECT_TIMEOUT_S:g} seconds")
    return seconds


def _host_key(bad: _Problem, value: Any, host: str, port: int) -> HostKey | None:
    """The provider's ``host_key``: ``"TYPE BASE64"`` as in known_hosts, or
    the base64 alone (meaning ssh-rsa). The type is read from the key itself
    and must agree with the one written."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise bad(f"extra host_key must be a string, not {type(value).__name__}")
    words = value.split()
    if len(words) == 1:
        written, data = "ssh-rsa", words[0]
    elif len(words) in (2, 3):  # a known_hosts key may end with a comment
        written, data = words[0], words[1]
    else:
        raise bad(
            'extra host_key must be "TYPE BASE64" as in known_hosts (e.g. "ssh-ed25519 '
            'AAAAC3Nza..."), or the base64 of an ssh-rsa key alone'
        )
    how_to = "copy it from `ssh-keyscan HOST` or the node's /etc/ssh/ssh_host_*_key.pub"
    try:
        blob = base64.b64decode(data, validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        key_type = blob[4 : 4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
        raise bad(f"extra host_key is not a public key in base64; {how_to}") from None
    if key_type == "ssh-dss":
        raise bad("extra host_key is a DSA key, which is not supported; use the node's ed25519 key")
    if key_type not in _HOST_KEY_TYPES:
        raise bad(f"extra host_key holds a key of a type not known here; {how_to}")
    # "ssh-ecdsa" is the provider's old name for any ECDSA key.
    alias = written == "ssh-ecdsa" and key_type.startswith("ecdsa-")
    if written != key_type and not alias:
        raise bad(f"extra host_key says {written} but holds an {key_type} key; {how_to}")
    name = host if port == 22 else f"[{host}]:{port}"
    return HostKey(name, key_type, data)


# -- host_key files -------------------------------------------------------------


class _HostKeyFiles:
    """known_hosts files for connections' ``host_key``, one per distinct line,
    in a private directory of this process, removed at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dir: str | None = None

    def write(self, line: str) -> str:
        with self._lock:
            if self._dir is None or not os.path.isdir(self._dir):
                self._dir = tempfile.mkdtemp(prefix="gridflow-known-hosts-")
                atexit.register(shutil.rmtree, self._dir, True)
            path = os.path.join(self._dir, hashlib.sha256(line.encode()).hexdigest()[:24])
            if not os.path.exists(path):
                fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as file:
                    file.write(line)
                os.replace(path + ".tmp", path)
            return path


_host_key_files = _HostKeyFiles()
