"""``http_client`` resource: one shared ``httpx.AsyncClient`` per run and worker.

::

    resource "http_client" "api" {
      arguments {
        base_url  = "https://api.example.test/v1"
        headers   = { "X-Team" = "perf" }
        auth      = { type = "bearer", token = var.token }
        timeout   = "5s"       # default 10s
        pool_size = 50         # max connections, default 100
      }
    }
    step "http_request" "get" {
      uses      { client = resource.http_client.api }
      arguments { url = "/items" }   # -> https://api.example.test/v1/items
    }

Every instance that uses it shares one connection pool, so a fan-out reuses
connections instead of opening one per request. A step's ``url`` is joined to
``base_url`` (an absolute ``url`` is used as is); the step's headers and auth
override the client's, name by name. The step's ``timeout`` and
``follow_redirects`` override the client's for that request; ``verify_tls``
belongs to the pool, so it can only be set here.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from pydantic import Field

from gridflow.runners._http import Auth, lower_headers
from gridflow.runners._types import PositiveDuration, Text
from gridflow.runners.base import Resource, RunnerInputs

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_POOL_SIZE = 100


class HttpClientArguments(RunnerInputs):
    base_url: str = ""
    headers: dict[str, Text] = Field(default_factory=dict)
    auth: Auth | None = None
    timeout: PositiveDuration = DEFAULT_TIMEOUT_S
    pool_size: int = Field(default=DEFAULT_POOL_SIZE, ge=1)
    verify_tls: bool = True
    follow_redirects: bool = True


class HttpClientResource(Resource[HttpClientArguments]):
    """A connection pool with defaults (base URL, headers, auth, timeout)."""

    name = "http_client"
    Arguments = HttpClientArguments
    description = "Shared HTTP client: connection pool, base URL, headers, auth, timeout."
    sensitive_inputs: ClassVar[frozenset[str]] = frozenset({"auth"})

    def __init__(self, arguments: HttpClientArguments) -> None:
        super().__init__(arguments)
        self._client: httpx.AsyncClient | None = None

    async def open(self) -> None:
        args = self.arguments
        headers = lower_headers(args.headers)
        if args.auth is not None:
            headers["authorization"] = args.auth.header()
        self._client = httpx.AsyncClient(
            base_url=args.base_url,
            headers=headers,
            timeout=args.timeout,
            verify=args.verify_tls,
            follow_redirects=args.follow_redirects,
            limits=httpx.Limits(
                max_connections=args.pool_size, max_keepalive_connections=args.pool_size
            ),
        )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    @property
    def client(self) -> httpx.AsyncClient:
        """The open client; using a resource before ``open`` is a runtime bug."""
        if self._client is None:
            raise RuntimeError("http_client resource used before open() or after close()")
        return self._client

    def build_request(self, method: str, url: str, **kwargs: Any) -> httpx.Request:
        """A request with ``url`` joined to ``base_url`` and the client's headers
        merged under ``kwargs["headers"]`` (httpx's own merge: same name wins)."""
        return self.client.build_request(method, url, **kwargs)

    async def send(
        self, request: httpx.Request, *, follow_redirects: bool | None
    ) -> httpx.Response:
        """Send on the shared pool; the body is streamed (read it, then close it)."""
        if follow_redirects is None:
            return await self.client.send(request, stream=True)
        return await self.client.send(request, stream=True, follow_redirects=follow_redirects)
