"""``GridHttpHook``: a standard ``http`` connection → ``http_client`` arguments."""

from __future__ import annotations

from typing import Any

import httpx
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from gridflow.hooks.arguments import http_client_arguments, secrets_in
from gridflow.runners._http import lower_headers
from gridflow.runners.http_client import HttpClientArguments

__all__ = ["GridHttpHook"]


class GridHttpHook(BaseHook):
    """Reads an ``http`` connection (the HTTP provider's type, unchanged).

    :param http_conn_id: the connection to read (``http_default``).

    ``get_conn()`` returns the arguments of gridflow's ``http_client``
    resource (``base_url``, ``headers``, ``auth`` and, when the connection
    sets them, ``timeout``, ``verify_tls``, ``follow_redirects``,
    ``pool_size``); the mapping is described in :mod:`gridflow.hooks.arguments`.
    Secrets are registered with Airflow's masker before they are returned.
    """

    conn_name_attr = "http_conn_id"
    default_conn_name = "http_default"
    conn_type = "http"
    hook_name = "HTTP (gridflow)"

    def __init__(
        self, http_conn_id: str = default_conn_name, logger_name: str | None = None
    ) -> None:
        super().__init__(logger_name=logger_name)
        self.http_conn_id = http_conn_id

    def get_conn(self) -> dict[str, Any]:
        conn = self.get_connection(self.http_conn_id)
        args = http_client_arguments(conn)
        for secret in secrets_in(conn, args):
            mask_secret(secret)
        return args

    def test_connection(self) -> tuple[bool, str]:
        """GET the base URL with the connection's auth; any status below 400 passes.

        Like the HTTP provider's check: 401/403 mean the credentials are wrong,
        a 5xx that the server is not healthy.
        """
        try:
            # The resource's own validated model, so headers, auth, timeout
            # and TLS are applied exactly as the runner would apply them.
            args = HttpClientArguments.model_validate(self.get_conn())
            headers = lower_headers(args.headers)
            if args.auth is not None:
                headers["authorization"] = args.auth.header()
            with httpx.Client(
                headers=headers,
                timeout=args.timeout,
                verify=args.verify_tls,
                follow_redirects=args.follow_redirects,
            ) as client:
                response = client.get(args.base_url)
        except (httpx.HTTPError, ValueError) as exc:
            return False, str(exc)
        if response.status_code >= 400:
            return False, f"GET {response.url} answered {response.status_code}"
        return True, f"GET {response.url} answered {response.status_code}"
