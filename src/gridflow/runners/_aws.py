"""boto3 S3 clients for the ``s3`` runner: settings from an ``aws`` connection,
one cached client per distinct settings in this process.

Connection fields are read as Airflow's Amazon provider reads its ``aws``
type, so existing connections work unchanged:

- type ``aws`` (or Airflow's core ``generic``, or none given).
- ``login`` = access key id, ``password`` = secret access key (or extra
  ``aws_access_key_id`` / ``aws_secret_access_key``); extra
  ``aws_session_token`` for temporary credentials. No key pair at all (an
  "empty" connection, ``aws://``) means boto3's default chain: environment,
  shared files, container or instance role.
- extra ``region_name``; ``profile_name`` (a profile of the worker's
  ``~/.aws/config``, which may itself assume a role).
- endpoint: extra ``service_config.s3.endpoint_url`` wins over extra
  ``endpoint_url`` (a ``null`` there means "S3's own endpoint", as in Airflow).
- extra ``verify`` (false, or a CA bundle path) and ``config_kwargs`` (keyword
  arguments of ``botocore.config.Config``, e.g. ``{"s3": {"addressing_style":
  "path"}}`` for some S3-compatible stores).

Not supported, and refused by name rather than ignored (ignoring one would
run with other credentials than the user meant): the provider's own
assume-role options (``role_arn``, ``assume_role_*``). A profile with
``role_arn`` in ``~/.aws/config`` does the same through boto3 itself.
The connection's host, port and schema fields are not read (the provider
hides them in its form too).

A step's own ``endpoint_url`` and ``region`` win over the connection's.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import json
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from gridflow.connections import Connection
from gridflow.errors import ExpectedError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# boto3 is blocking: its calls run in these threads so the runner loop stays
# free. A pool of our own rather than asyncio's default executor, which has
# os.cpu_count() + 4 threads (6 on a 2-core worker) shared with everything
# else and would cap an s3 fan-out at that many requests in flight.
MAX_THREADS = 32
THREADS = concurrent.futures.ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="gridflow-s3")

MAX_CLIENTS = 32  # distinct settings kept at once (least recently used dropped)

# Standard retry mode: botocore retries throttling, 5xx and connection errors
# a few times with backoff before the step sees them (then the step's own
# retry policy decides). config_kwargs in the connection may change it.
# SigV4 always: botocore would otherwise presign some URLs with the SigV2 that
# AWS is retiring (and that newer regions and many S3-compatible stores refuse).
_DEFAULT_CONFIG: dict[str, Any] = {
    "retries": {"mode": "standard", "max_attempts": 3},
    "signature_version": "s3v4",
    "max_pool_connections": MAX_THREADS,
}

# "generic": Airflow's core type with login, password and extra, for sites
# without the Amazon provider (whose package owns the "aws" type and its form).
_AWS_TYPES = frozenset({"aws", "generic", ""})
_ASSUME_ROLE_KEYS = ("role_arn", "assume_role_method", "assume_role_kwargs")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclasses.dataclass(frozen=True)
class ClientSettings:
    """Everything that makes one boto3 S3 client differ from another.

    Hashable: it is the client cache's key, so rotated credentials in a
    connection give a new client on the next lookup. Credentials are left out
    of ``repr``.
    """

    conn_id: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = dataclasses.field(default=None, repr=False)
    secret_access_key: str | None = dataclasses.field(default=None, repr=False)
    session_token: str | None = dataclasses.field(default=None, repr=False)
    profile: str | None = None
    verify: bool | str | None = None
    config_json: str = "{}"  # botocore Config kwargs as sorted JSON (hashable)


def client_settings(
    conn: Connection | None, *, endpoint_url: str | None, region: str | None
) -> ClientSettings:
    """The settings for a step: its connection (if any) under its own overrides."""
    if conn is None:
        return ClientSettings(endpoint_url=_endpoint(None, endpoint_url), region=region or None)
    if conn.conn_type not in _AWS_TYPES:
        raise _bad(
            conn,
            f"it is of type {conn.conn_type!r}; the s3 runner reads an 'aws' connection "
            f"(login = access key id, password = secret access key, extra = region_name, "
            f"endpoint_url)",
        )
    extra = conn.extra
    refused = [k for k in extra if k in _ASSUME_ROLE_KEYS or k.startswith("assume_role_")]
    if refused:
        raise _bad(
            conn,
            f"extra {', '.join(sorted(refused))}: assuming a role is not supported by the s3 "
            f"runner; give temporary credentials (aws_session_token), or a profile_name whose "
            f"~/.aws/config entry has role_arn",
        )
    key_id = conn.login or _text(conn, extra, "aws_access_key_id")
    secret = conn.password or _text(conn, extra, "aws_secret_access_key")
    if bool(key_id) != bool(secret):
        missing = "secret access key (password)" if key_id else "access key id (login)"
        raise _bad(conn, f"it has no {missing}; give both, or neither for the default chain")
    service = _object(conn, extra, "service_config").get("s3")
    service = service if isinstance(service, Mapping) else {}
    conn_endpoint = (
        service.get("endpoint_url") if "endpoint_url" in service else extra.get("endpoint_url")
    )
    if conn_endpoint is not None and not isinstance(conn_endpoint, str):
        raise _bad(conn, "extra endpoint_url must be a URL string")
    return ClientSettings(
        conn_id=conn.conn_id,
        endpoint_url=_endpoint(conn, endpoint_url or conn_endpoint),
        region=region or _text(conn, extra, "region_name"),
        access_key_id=key_id or None,
        secret_access_key=secret or None,
        session_token=_text(conn, extra, "aws_session_token"),
        profile=_text(conn, extra, "profile_name"),
        verify=_verify(conn, extra.get("verify")),
        config_json=json.dumps(_object(conn, extra, "config_kwargs"), sort_keys=True),
    )


_clients: collections.OrderedDict[ClientSettings, S3Client] = collections.OrderedDict()
_clients_lock = threading.Lock()


def client_for(settings: ClientSettings) -> S3Client:
    """The process's client for ``settings``, created on first use (blocking).

    boto3 clients are thread-safe and hold a connection pool, so every step
    with the same settings shares one. Sessions are not thread-safe: they are
    created under the lock, used once, and dropped.
    """
    with _clients_lock:
        client = _clients.get(settings)
        if client is not None:
            _clients.move_to_end(settings)
            return client
        kwargs = {**_DEFAULT_CONFIG, **json.loads(settings.config_json)}
        try:
            config = Config(**kwargs)
        except TypeError as exc:
            raise ExpectedError(
                f"connection {settings.conn_id!r}: extra config_kwargs is not valid for "
                f"botocore.config.Config ({exc})",
                details={"conn_id": settings.conn_id, "kind": "connection"},
            ) from None
        session = boto3.session.Session(
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            aws_session_token=settings.session_token,
            region_name=settings.region,
            profile_name=settings.profile,
        )
        client = session.client(
            "s3", endpoint_url=settings.endpoint_url, verify=settings.verify, config=config
        )
        _clients[settings] = client
        while len(_clients) > MAX_CLIENTS:
            _clients.popitem(last=False)
        return client


def clear_clients() -> None:
    """Forget every cached client (tests; a worker that rotates credentials)."""
    with _clients_lock:
        _clients.clear()


def _bad(conn: Connection | None, problem: str) -> ExpectedError:
    conn_id = conn.conn_id if conn is not None else None
    where = f"connection {conn_id!r}" + (f" ({conn.source})" if conn and conn.source else "")
    return ExpectedError(
        f"{where}: {problem}" if conn is not None else problem,
        details={"conn_id": conn_id, "kind": "connection"},
    )


def _endpoint(conn: Connection | None, url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Never echo a connection's extra wholesale; the URL alone is not secret.
        raise _bad(
            conn,
            f"endpoint_url {url!r} is not an http:// or https:// URL with a host, such as "
            f"http://127.0.0.1:9000 or https://s3.eu-west-1.amazonaws.com",
        )
    return url


def _text(conn: Connection, extra: Mapping[str, Any], name: str) -> str | None:
    value = extra.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad(conn, f"extra {name} must be a string, not {type(value).__name__}")
    return value


def _object(conn: Connection, extra: Mapping[str, Any], name: str) -> dict[str, Any]:
    # The URI form carries every extra value as text: objects arrive as JSON.
    value = extra.get(name)
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise _bad(conn, f"extra {name} is not a JSON object") from None
    if not isinstance(value, dict):
        raise _bad(conn, f"extra {name} must be a JSON object, not {type(value).__name__}")
    return value


def _verify(conn: Connection, value: Any) -> bool | str | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        return text  # a CA bundle path
    raise _bad(conn, "extra verify must be true, false or the path of a CA bundle")
