"""Named connections, looked up the same way on every engine.

A step names a connection (``connection = "my_s3"``) instead of carrying
credentials in grid text. :func:`lookup` finds it by asking, in order:

1. the **resolver** the engine adapter registered in this process
   (:func:`set_resolver` / :func:`use_resolver`): on Airflow, Airflow's own
   connections (``BaseHook.get_connection``: metadata database, secrets
   backends, ``AIRFLOW_CONN_*``); on Prefect, a saved ``GridflowConnection``
   block (:mod:`gridflow.prefect_blocks`). The local engine registers none.
2. the environment variable ``GRIDFLOW_CONN_<ID>``;
3. the environment variable ``AIRFLOW_CONN_<ID>``;

where ``<ID>`` is the connection id upper-cased, as Airflow spells it
(``my_s3`` -> ``AIRFLOW_CONN_MY_S3``). Both variables take either of
Airflow's two formats:

- URI: ``aws://LOGIN:PASSWORD@HOST:PORT/SCHEMA?key=value&key2=value2``;
  every part URL-encoded (a ``/`` in a secret key is ``%2F``); query
  parameters become ``extra``, unless one named ``__extra__`` holds the whole
  extra as JSON. A host that is itself a URL is written with two schemes:
  ``http://https%3A%2F%2Fexample.test`` or ``http://https://example.test``.
- JSON (a value starting with ``{``): ``{"conn_type": "aws", "login": ...,
  "password": ..., "host": ..., "port": ..., "schema": ..., "extra": {...}}``.

Secrets: a :class:`Connection`'s ``password`` and the values of its
``extra`` whose keys look secret (``*PASS*``, ``*TOKEN*``, ``*SECRET*``,
``*KEY*``) are returned in clear for use. They are left out of ``repr`` and
every error message here; :func:`secret_values` lists them so the caller can
register them with the run's masker (``RunContext.mask``).

Engine-free: nothing here imports Airflow or Prefect.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from gridflow.errors import ExpectedError, GridflowError, RetryableError
from gridflow.runners._masking import looks_secret

__all__ = [
    "ENV_PREFIXES",
    "Connection",
    "Resolver",
    "env_var_names",
    "lookup",
    "parse_connection",
    "secret_values",
    "set_resolver",
    "use_resolver",
]

#: Environment variable prefixes read by :func:`lookup`, in order.
ENV_PREFIXES: tuple[str, ...] = ("GRIDFLOW_CONN_", "AIRFLOW_CONN_")

# Airflow's JSON form: these keys, nothing else (Connection(**fields) there).
_JSON_FIELDS = frozenset(
    {"conn_type", "host", "port", "login", "password", "schema", "extra", "description"}
)
# The query parameter that carries the whole extra as JSON in a URI.
_EXTRA_PARAM = "__extra__"


@dataclasses.dataclass(frozen=True)
class Connection:
    """A connection in Airflow's shape.

    ``password`` and ``extra`` may hold secrets: they are not part of
    ``repr`` (so a logged or printed Connection shows none), and
    :func:`secret_values` names the values to mask. ``source`` says where it
    was found (``"env GRIDFLOW_CONN_MY_S3"``, the resolver's name), for
    messages.
    """

    conn_id: str
    conn_type: str = ""
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    schema: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)
    source: str = ""

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """``extra`` under Airflow's name, so mapping code written for Airflow's
        ``Connection`` (:mod:`gridflow.hooks.arguments`) reads this one too."""
        return dict(self.extra)


#: Looks a connection id up; returns None when it does not know the id.
Resolver = Callable[[str], "Connection | None"]

_lock = threading.Lock()
_resolver: tuple[Resolver, str] | None = None


def set_resolver(resolver: Resolver | None, *, name: str = "") -> None:
    """Make ``resolver`` the first place :func:`lookup` asks, for this process.

    ``name`` says what it reads ("Airflow connections"), for messages. One
    resolver at a time: engines run one kind of run per process. ``None``
    removes it.
    """
    global _resolver
    with _lock:
        _resolver = None if resolver is None else (resolver, name or _name_of(resolver))


@contextlib.contextmanager
def use_resolver(resolver: Resolver, *, name: str = "") -> Iterator[None]:
    """:func:`set_resolver` for the duration of a ``with`` block; the previous
    resolver (or none) is restored afterwards."""
    global _resolver
    with _lock:
        previous = _resolver
        _resolver = (resolver, name or _name_of(resolver))
    try:
        yield
    finally:
        with _lock:
            _resolver = previous


def env_var_names(conn_id: str) -> list[str]:
    """The environment variables :func:`lookup` reads for ``conn_id``, in order."""
    return [f"{prefix}{conn_id.upper()}" for prefix in ENV_PREFIXES]


def lookup(conn_id: str, environ: Mapping[str, str] | None = None) -> Connection:
    """The connection named ``conn_id`` (see the module docstring for the order).

    Raises :class:`~gridflow.errors.ExpectedError` when no source knows it or
    a variable holding it cannot be parsed, and
    :class:`~gridflow.errors.RetryableError` when the resolver itself fails
    (a secrets backend or API that is down may be back on the next try).
    """
    if not conn_id or not conn_id.strip():
        raise ExpectedError(
            'the connection id is empty; name a connection, e.g. connection = "my_s3"',
            details={"kind": "connection"},
        )
    with _lock:
        registered = _resolver
    looked: list[str] = []
    if registered is not None:
        resolver, name = registered
        looked.append(name)
        try:
            found = resolver(conn_id)
        except GridflowError:
            raise
        except Exception as exc:
            raise RetryableError(
                f"connection {conn_id!r}: looking it up in {name} failed "
                f"({type(exc).__name__}: {exc}); check that the service holding "
                f"connections is reachable",
                details={"conn_id": conn_id, "kind": "connection"},
            ) from exc
        if found is not None:
            return found
    env = os.environ if environ is None else environ
    for var in env_var_names(conn_id):
        looked.append(f"${var}")
        value = env.get(var)
        if value is not None and value.strip():
            return parse_connection(conn_id, value, source=f"env {var}")
    first = env_var_names(conn_id)[0]
    raise ExpectedError(
        f"connection {conn_id!r} is not defined (looked in: {', '.join(looked)}); define it "
        f"where the step runs, e.g. export {first}='aws://ACCESS_KEY_ID:URL_ENCODED_SECRET@/"
        f'?region_name=eu-west-1\' (or the JSON form \'{{"conn_type": "aws", "login": ..., '
        f'"password": ...}}\'), as an Airflow connection, or as a Prefect '
        f"GridflowConnection block",
        details={"conn_id": conn_id, "kind": "connection", "looked_in": looked},
    )


def parse_connection(conn_id: str, value: str, *, source: str = "") -> Connection:
    """A connection from Airflow's URI or JSON text (JSON when it starts with ``{``).

    Errors name ``source`` and never quote ``value`` (it holds secrets).
    """
    text = value.strip()
    where = source or "the connection text"
    if text.startswith("{"):
        return _from_json(conn_id, text, where, source)
    return _from_uri(conn_id, text, where, source)


def secret_values(conn: Connection) -> list[str]:
    """Every value in ``conn`` to mask in logs and reports: the password and
    the extra values under keys that look secret (nested objects included)."""
    found: list[str] = []
    if conn.password:
        found.append(conn.password)
    _secret_extra(conn.extra, found)
    return [s for s in dict.fromkeys(found) if s]


def _secret_extra(extra: Mapping[str, Any], out: list[str]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping):
            _secret_extra(value, out)
        elif looks_secret(str(key)) and value is not None and not isinstance(value, bool):
            out.append(str(value))


def _bad(conn_id: str, where: str, problem: str) -> ExpectedError:
    return ExpectedError(
        f"connection {conn_id!r} in {where}: {problem}",
        details={"conn_id": conn_id, "kind": "connection"},
    )


_URI_SHAPE = "write <type>://LOGIN:PASSWORD@HOST:PORT/SCHEMA?key=value (parts URL-encoded)"


def _from_uri(conn_id: str, uri: str, where: str, source: str) -> Connection:
    scheme, sep, rest = uri.partition("://")
    if not sep or not scheme:
        raise _bad(conn_id, where, f"not a connection URI or JSON object; {_URI_SHAPE}")
    protocol = ""
    if "://" in rest.partition("?")[0]:
        # Airflow's "host with a protocol": <type>://<protocol>://<host>... (a
        # URL inside a query value, ?endpoint_url=http://..., is not one).
        protocol, _, rest = rest.partition("://")
        if not protocol or any(c in protocol for c in "@:/") or "://" in rest.partition("?")[0]:
            raise _bad(conn_id, where, f"more than two '://' or a misplaced one; {_URI_SHAPE}")
    parts = urlsplit("//" + rest)
    if "@" in parts.path:
        # "aws://KEY:ab/cd@" splits at the "/", leaving "cd@" as the schema.
        raise _bad(
            conn_id,
            where,
            "an '@' follows the first '/': a '/' in the login or password must be "
            "URL-encoded as %2F",
        )
    try:
        port = parts.port
    except ValueError:
        # urllib's message quotes the "port", which is a piece of the password
        # when an unencoded "/" cut the URI short: never repeat it.
        raise _bad(
            conn_id,
            where,
            "the port is not a number between 1 and 65535, or the password holds an "
            "unencoded '/', '?' or '#' (write %2F, %3F, %23)",
        ) from None
    host = _hostname(parts.netloc)
    if protocol and host:
        host = f"{protocol}://{host}"
    query = parts.query
    extra: dict[str, Any] = {}
    if query:
        params = dict(parse_qsl(query, keep_blank_values=True))
        if _EXTRA_PARAM in params:
            extra = _extra_object(conn_id, where, params[_EXTRA_PARAM])
        else:
            extra = dict(params)
    schema = unquote(parts.path[1:]) if parts.path[1:] else None
    return Connection(
        conn_id=conn_id,
        conn_type=_normal_type(scheme),
        host=host or None,
        port=port,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        schema=schema,
        extra=extra,
        source=source,
    )


def _hostname(netloc: str) -> str:
    """The host part of ``netloc`` decoded, case kept (an encoded URL stays intact)."""
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):  # [IPv6]:port
        return unquote(hostport[1:].partition("]")[0])
    return unquote(hostport.partition(":")[0])


def _normal_type(conn_type: str) -> str:
    # Airflow: URI schemes cannot hold "_", so "google-cloud-platform" means
    # google_cloud_platform; "postgresql" is its "postgres".
    normal = conn_type.replace("-", "_")
    return "postgres" if normal == "postgresql" else normal


def _extra_object(conn_id: str, where: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise _bad(
                conn_id, where, f"extra is not valid JSON (line {exc.lineno} column {exc.colno})"
            ) from None
    if not isinstance(value, dict):
        raise _bad(conn_id, where, f"extra must be a JSON object, not {type(value).__name__}")
    return dict(value)


def _from_json(conn_id: str, text: str, where: str, source: str) -> Connection:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(
            conn_id, where, f"not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(data, dict):
        raise _bad(conn_id, where, "the JSON form must be an object")
    unknown = sorted(set(data) - _JSON_FIELDS)
    if unknown:
        raise _bad(
            conn_id,
            where,
            f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; the fields "
            f"are {', '.join(sorted(_JSON_FIELDS))} (options go in extra)",
        )
    strings: dict[str, str | None] = {}
    for name in ("conn_type", "host", "login", "password", "schema"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise _bad(conn_id, where, f"{name} must be a string, not {type(value).__name__}")
        strings[name] = value or None
    return Connection(
        conn_id=conn_id,
        conn_type=_normal_type(strings["conn_type"] or ""),
        host=strings["host"],
        port=_port(conn_id, where, data.get("port")),
        login=strings["login"],
        password=strings["password"],
        schema=strings["schema"],
        extra=_extra_object(conn_id, where, data.get("extra") or {}),
        source=source,
    )


def _port(conn_id: str, where: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _bad(conn_id, where, "port must be a number")
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise _bad(conn_id, where, f"port {value!r} is not a number") from None
    if not 0 < port < 65536:
        raise _bad(conn_id, where, f"port {port} is out of range (1-65535)")
    return port


def _name_of(resolver: Resolver) -> str:
    return str(getattr(resolver, "__qualname__", None) or type(resolver).__name__)
