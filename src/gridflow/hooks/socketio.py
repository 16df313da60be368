"""``SocketIOHook``: a ``socketio`` connection → the ``socketio`` runner's arguments."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from gridflow.hooks.arguments import secrets_in, socketio_arguments

__all__ = ["SocketIOHook"]

# Engine.IO's HTTP scheme for each Socket.IO URL scheme (the handshake check
# below always starts with HTTP long-polling, as the clients do).
_HTTP_SCHEME = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


class SocketIOHook(BaseHook):
    """Owns gridflow's ``socketio`` connection type.

    :param socketio_conn_id: the connection to read (``socketio_default``).

    ``get_conn()`` returns ``url``, ``namespace``, ``headers``, ``auth``,
    ``insecure_skip_verify`` (and ``timeout`` when set): the connection part
    of the ``socketio`` runner's arguments, to which a step adds its events.
    The form fields are declared in :mod:`gridflow.provider.info`.
    """

    conn_name_attr = "socketio_conn_id"
    default_conn_name = "socketio_default"
    conn_type = "socketio"
    hook_name = "Socket.IO (gridflow)"

    def __init__(
        self, socketio_conn_id: str = default_conn_name, logger_name: str | None = None
    ) -> None:
        super().__init__(logger_name=logger_name)
        self.socketio_conn_id = socketio_conn_id

    def get_conn(self) -> dict[str, Any]:
        conn = self.get_connection(self.socketio_conn_id)
        args = socketio_arguments(conn)
        for secret in secrets_in(conn, args):
            mask_secret(secret)
        return args

    def test_connection(self) -> tuple[bool, str]:
        """Open an Engine.IO session by HTTP long-polling (the first step of
        every Socket.IO connect) and check the server answers with a session id.

        The namespace and the auth payload are checked only by a real connect,
        which the runner does; this proves the URL, TLS and headers.
        """
        try:
            args = self.get_conn()
            url = handshake_url(args["url"])
            with httpx.Client(
                headers=args["headers"],
                timeout=float(args.get("timeout") or 10.0),
                verify=not args["insecure_skip_verify"],
            ) as client:
                response = client.get(url, params={"EIO": "4", "transport": "polling"})
        except (httpx.HTTPError, ValueError) as exc:
            return False, str(exc)
        body = response.text
        if response.status_code != 200 or not body.startswith("0") or '"sid"' not in body:
            return False, f"{url} answered {response.status_code} without an Engine.IO session"
        return True, f"{url} opened an Engine.IO session"


def handshake_url(url: str) -> str:
    """The Engine.IO endpoint for a Socket.IO URL (``/socket.io/`` unless given)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path.endswith("/socket.io"):
        path += "/socket.io"
    scheme = _HTTP_SCHEME.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, path + "/", "", ""))
