"""Pure mapping from connection fields to runner arguments (no Airflow import).

Kept apart from the hook classes, like the SSH provider's ``remote_job.py``:
the hooks fetch a connection and register secrets; these functions decide
what each field means, and say which values are secrets.

HTTP (the standard ``http`` type, read the way Airflow's HTTP provider does):

- base URL: ``host`` if it holds a URL, else ``{schema or "http"}://{host}``;
  ``port`` is added when the URL has none.
- auth: ``login`` → basic (``login``/``password``); a ``password`` without
  ``login`` → bearer token.
- extra JSON: ``timeout`` (seconds or ``"5s"``), ``verify``/``verify_ssl`` →
  ``verify_tls``, ``allow_redirects`` → ``follow_redirects``, ``pool_size``;
  options of the HTTP provider that the runner has no equivalent for are
  ignored (see :data:`IGNORED_HTTP_OPTIONS`); every other key is a header, as
  in the HTTP provider; a ``headers`` object is merged in too.

Socket.IO (gridflow's ``socketio`` type, form in :mod:`gridflow.provider.info`):
URL as for HTTP; ``login`` + ``password`` → ``auth = {username, password}``, a
``password`` alone → ``auth = {token}`` (both merged over an ``auth`` object in
extra); extra JSON ``namespace`` (``"/"``), ``headers`` (object),
``insecure_skip_verify``, ``timeout`` (seconds).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError

from gridflow.errors import UsageError
from gridflow.runners._masking import looks_secret
from gridflow.runners.http_client import HttpClientArguments

#: HTTP-provider extra options that have no http_client equivalent.
IGNORED_HTTP_OPTIONS = frozenset(
    {
        "stream",
        "cert",
        "proxies",
        "proxy",
        "max_redirects",
        "trust_env",
        "check_response",
        "srv_lookup",
    }
)

# Header names whose values are credentials even though the name does not
# contain PASS/TOKEN/SECRET/KEY.
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


class ConnectionFields(Protocol):
    """The parts of an Airflow ``Connection`` read here (any object with them)."""

    conn_id: str
    host: str | None
    schema: str | None
    port: int | None
    login: str | None
    password: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


class ConnectionConfigError(UsageError, ValueError):
    """A connection's fields cannot be turned into runner arguments.

    Part of gridflow's error tree (bad input, like a bad flag), and a
    ``ValueError`` like Airflow's own hooks raise for bad connections;
    ``conn_id`` names the connection to fix.
    """

    def __init__(self, conn_id: str, problem: str) -> None:
        super().__init__(f"connection {conn_id!r}: {problem}")
        self.conn_id = conn_id
        self.problem = problem


def base_url(conn: ConnectionFields, *, default_scheme: str = "http") -> str:
    """The URL the connection points at, without a trailing slash."""
    host = (conn.host or "").strip()
    if not host:
        raise ConnectionConfigError(
            conn.conn_id, "the Host field is empty; write a host name or a URL"
        )
    if "://" not in host:
        host = f"{(conn.schema or default_scheme).strip()}://{host}"
    parts = urlsplit(host)
    if not parts.scheme or not parts.hostname:
        raise ConnectionConfigError(conn.conn_id, f"{host!r} is not a URL with a scheme and a host")
    netloc = parts.netloc
    if conn.port and parts.port is None:
        netloc = f"{netloc}:{conn.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), parts.query, "")).rstrip("/")


def http_client_arguments(conn: ConnectionFields) -> dict[str, Any]:
    """Arguments of the ``http_client`` resource for an ``http`` connection."""
    extra = dict(conn.extra_dejson)
    args: dict[str, Any] = {"base_url": base_url(conn)}
    headers = _headers(conn.conn_id, extra.pop("headers", None))
    if "timeout" in extra:
        args["timeout"] = extra.pop("timeout")
    verify = extra.pop("verify", extra.pop("verify_ssl", None))
    if verify is not None:
        args["verify_tls"] = _bool(conn.conn_id, "verify", verify)
    if "allow_redirects" in extra:
        args["follow_redirects"] = _bool(
            conn.conn_id, "allow_redirects", extra.pop("allow_redirects")
        )
    if "pool_size" in extra:
        args["pool_size"] = extra.pop("pool_size")
    for name, value in extra.items():
        if name in IGNORED_HTTP_OPTIONS:
            continue
        headers[name] = _header_value(conn.conn_id, name, value)
    args["headers"] = headers
    args["auth"] = _http_auth(conn)
    # Checked here so a bad connection is reported by name before any task
    # builds a client from it.
    try:
        HttpClientArguments.model_validate(args)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConnectionConfigError(conn.conn_id, problems) from exc
    return args


def socketio_arguments(conn: ConnectionFields) -> dict[str, Any]:
    """Connection arguments of the ``socketio`` runner for a ``socketio`` connection."""
    extra = conn.extra_dejson
    namespace = extra.get("namespace") or "/"
    if not isinstance(namespace, str) or not namespace.startswith("/"):
        raise ConnectionConfigError(conn.conn_id, f"namespace {namespace!r} must start with '/'")
    auth = _json_object(conn.conn_id, "auth", extra.get("auth"))
    if conn.login:
        auth.update(username=conn.login, password=conn.password or "")
    elif conn.password:
        auth["token"] = conn.password
    args: dict[str, Any] = {
        "url": base_url(conn),
        "namespace": namespace,
        "headers": _headers(conn.conn_id, extra.get("headers")),
        "auth": auth or None,
        "insecure_skip_verify": _bool(
            conn.conn_id, "insecure_skip_verify", extra.get("insecure_skip_verify", False)
        ),
    }
    if extra.get("timeout") is not None:
        args["timeout"] = extra["timeout"]
    return args


def secrets_in(conn: ConnectionFields, args: Mapping[str, Any]) -> list[str]:
    """Every value in ``conn`` or ``args`` that must be masked in logs.

    The password, credential headers, every value of an ``auth`` object, and
    the encoded basic-auth credentials (a runner may log the header it built).
    """
    found: list[str] = []
    if conn.password:
        found.append(conn.password)
        if conn.login:
            raw = f"{conn.login}:{conn.password}".encode()
            found.append(base64.b64encode(raw).decode("ascii"))
    for name, value in (args.get("headers") or {}).items():
        if name.lower() in _CREDENTIAL_HEADERS or looks_secret(name):
            found.append(str(value))
            # "Token abc" may be logged split from its scheme; mask the
            # credential part on its own as well.
            scheme, _, credential = str(value).partition(" ")
            if credential.strip() and scheme.isalpha():
                found.append(credential.strip())
    auth = args.get("auth") or {}
    found.extend(str(v) for k, v in auth.items() if k not in ("type", "username"))
    return [s for s in dict.fromkeys(found) if s]


def _http_auth(conn: ConnectionFields) -> dict[str, str] | None:
    if conn.login:
        return {"type": "basic", "username": conn.login, "password": conn.password or ""}
    if conn.password:
        return {"type": "bearer", "token": conn.password}
    return None


def _headers(conn_id: str, value: Any) -> dict[str, str]:
    raw = _json_object(conn_id, "headers", value)
    return {str(k): _header_value(conn_id, str(k), v) for k, v in raw.items()}


def _header_value(conn_id: str, name: str, value: Any) -> str:
    # Numbers are fine as header values; objects and lists mean the key was
    # meant as an option this mapping does not know.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ConnectionConfigError(
        conn_id,
        f"extra key {name!r} is neither a known option nor a header (its value is "
        f"{type(value).__name__}); header values are strings",
    )


def _json_object(conn_id: str, name: str, value: Any) -> dict[str, Any]:
    # The UI stores JSON fields as objects, but a hand-written URI or env var
    # may carry them as JSON text.
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConnectionConfigError(
                conn_id, f"extra {name!r} is not valid JSON: {exc}"
            ) from exc
    if not isinstance(value, dict):
        raise ConnectionConfigError(
            conn_id, f"extra {name!r} must be a JSON object, not {type(value).__name__}"
        )
    return dict(value)


def _bool(conn_id: str, name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConnectionConfigError(conn_id, f"extra {name!r} must be true or false, not {value!r}")
