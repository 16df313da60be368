"""``http_request``: one HTTP request with httpx.

Arguments: ``url``, ``method`` (GET), ``headers``, ``query`` (values may be
lists for repeated names), at most one of ``json`` / ``body`` (text) /
``form`` (urlencoded), ``auth`` (``{type = "bearer", token}`` or
``{type = "basic", username, password}``), ``timeout`` (default 10s),
``expect_status``, ``follow_redirects`` (true), ``verify_tls`` (true),
``max_body_bytes`` (10 MiB). With ``uses { client = resource.http_client.X }``
the request goes through that shared client (see
:mod:`gridflow.runners.http_client`).

Output: ``status_code``, ``headers`` (lower-case names; repeated headers
joined with ", "), ``body`` (text, at most ``max_body_bytes`` bytes of it,
``truncated`` says whether more was cut), ``json`` (the body parsed as JSON,
or null), ``url`` (after redirects), ``duration_ms`` (from sending the
request to the last byte of the body read).

A non-2xx status is a success unless ``expect_status`` is set; then any other
status fails the step (:class:`~gridflow.errors.ExpectedError`). Connection
failures and timeouts are :class:`~gridflow.errors.RetryableError` with
``details = {"url", "kind"}``, kind being ``"connect"``, ``"timeout"`` or
``"read"``; an invalid URL or a certificate that does not verify is an
ExpectedError (trying again will not help).

Secrets: ``auth`` is a sensitive input. :meth:`HttpRequestRunner.secret_input_values`
also names header values that carry credentials (Authorization, Cookie,
anything that looks like a token or key), for a runtime that asks.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import Field, model_validator

from gridflow.errors import ExpectedError, RetryableError, RunnerError
from gridflow.runners._http import Auth, StatusSpec, lower_headers
from gridflow.runners._masking import credential_header_values
from gridflow.runners._types import PositiveDuration, Text, json_field_allowed
from gridflow.runners.base import RunContext, Runner, RunnerInputs, RunnerOutputs
from gridflow.runners.http_client import DEFAULT_TIMEOUT_S, HttpClientArguments, HttpClientResource

MAX_BODY_BYTES = 10 * 1024 * 1024
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 method token

QueryValue = Text | list[Text]


with json_field_allowed():

    class HttpRequestInputs(RunnerInputs):
        url: str = Field(min_length=1)
        method: str = "GET"
        headers: dict[str, Text] = Field(default_factory=dict)
        query: dict[str, QueryValue] = Field(default_factory=dict)
        json: Any = None
        body: str | None = None
        form: dict[str, QueryValue] | None = None
        auth: Auth | None = None
        timeout: PositiveDuration | None = None
        expect_status: StatusSpec | None = None
        follow_redirects: bool | None = None
        verify_tls: bool | None = None
        max_body_bytes: Annotated[int, Field(ge=0)] = MAX_BODY_BYTES

        @model_validator(mode="after")
        def _check(self) -> HttpRequestInputs:
            given = [n for n, v in (("json", self.json), ("body", self.body), ("form", self.form))
                     if v is not None]  # fmt: skip
            if len(given) > 1:
                raise ValueError(
                    f"{' and '.join(given)} are both set; a request has one body: keep only one "
                    f"of json, body and form"
                )
            if not _TOKEN.match(self.method):
                raise ValueError(
                    f'method "{self.method}" is not an HTTP method such as GET or POST'
                )
            self.method = self.method.upper()
            return self

    class HttpRequestOutputs(RunnerOutputs):
        status_code: int
        headers: dict[str, str]
        body: str
        json: Any = None
        url: str
        duration_ms: float
        truncated: bool = False


class HttpRequestRunner(Runner[HttpRequestInputs, HttpRequestOutputs]):
    """Sends one request, returns status, headers, body and timing."""

    name = "http_request"
    Inputs = HttpRequestInputs
    Outputs = HttpRequestOutputs
    description = "Send an HTTP request (httpx); optionally through a shared http_client."
    uses: ClassVar[dict[str, str]] = {"client": "http_client"}
    sensitive_inputs: ClassVar[frozenset[str]] = frozenset({"auth"})

    @staticmethod
    def secret_input_values(arguments: Mapping[str, Any]) -> list[str]:
        """Header values in ``arguments`` that carry credentials."""
        return credential_header_values(arguments.get("headers"))

    @staticmethod
    def burst_resources(constant: Mapping[str, Any], pool_size: int) -> dict[str, Any]:
        """The shared client a burst opens for this step when it names none:
        one connection pool for every instance instead of one per request.
        TLS and redirect settings come from the step's arguments when they
        are the same for every instance (they belong to the pool)."""
        verify = constant.get("verify_tls")
        follow = constant.get("follow_redirects")
        return {
            "client": HttpClientResource(
                HttpClientArguments(
                    verify_tls=True if verify is None else bool(verify),
                    follow_redirects=True if follow is None else bool(follow),
                    pool_size=pool_size,
                )
            )
        }

    async def run(self, inputs: HttpRequestInputs, ctx: RunContext) -> HttpRequestOutputs:
        shared = ctx.resources.get("client")
        if shared is not None:
            if not isinstance(shared, HttpClientResource):
                raise ExpectedError(
                    f"uses.client must be an http_client resource, got {type(shared).__name__}"
                )
            if inputs.verify_tls is not None and inputs.verify_tls != shared.arguments.verify_tls:
                raise ExpectedError(
                    "verify_tls differs from the http_client resource's; TLS verification "
                    "belongs to the shared connection pool: set verify_tls in the resource's "
                    "arguments and remove it from the step"
                )
            return await send(shared, inputs)
        own = HttpClientResource(
            HttpClientArguments(
                timeout=inputs.timeout or DEFAULT_TIMEOUT_S,
                verify_tls=True if inputs.verify_tls is None else inputs.verify_tls,
                follow_redirects=True
                if inputs.follow_redirects is None
                else inputs.follow_redirects,
                pool_size=1,
            )
        )
        await own.open()
        try:
            return await send(own, inputs)
        finally:
            await own.close()


def build_request(client: HttpClientResource, inputs: HttpRequestInputs) -> httpx.Request:
    """The request ``inputs`` describe, joined to ``client``'s base URL and
    defaults; bursts build it once and send it through a faster transport."""
    headers = lower_headers(inputs.headers)
    if inputs.auth is not None:
        headers["authorization"] = inputs.auth.header()
    extra: dict[str, Any] = {}
    if inputs.timeout is not None:
        extra["timeout"] = inputs.timeout
    if inputs.json is not None:
        extra["json"] = inputs.json
    elif inputs.body is not None:
        extra["content"] = inputs.body.encode("utf-8")
    elif inputs.form is not None:
        extra["data"] = inputs.form
    what = f"{inputs.method} {inputs.url}"
    try:
        if inputs.query:
            # httpx replaces a URL's own query with params; a user adding
            # query = {...} to "…/search?lang=en" means both.
            params: list[tuple[str, str]] = list(httpx.URL(inputs.url).params.multi_items())
            for name, value in inputs.query.items():
                params.extend((name, v) for v in (value if isinstance(value, list) else [value]))
            extra["params"] = params
        return client.build_request(inputs.method, inputs.url, headers=headers, **extra)
    except httpx.InvalidURL as exc:
        raise ExpectedError(
            f"{what}: invalid URL: {exc}", details={"url": inputs.url, "kind": "url"}
        ) from exc


async def send(client: HttpClientResource, inputs: HttpRequestInputs) -> HttpRequestOutputs:
    """Send ``inputs`` through ``client``; every httpx error is converted here."""
    request = build_request(client, inputs)
    url = str(request.url)
    started = time.perf_counter()
    try:
        response = await client.send(request, follow_redirects=inputs.follow_redirects)
        try:
            raw, truncated = await _read_capped(response, inputs.max_body_bytes)
        finally:
            await response.aclose()
    except httpx.HTTPError as exc:
        raise convert_error(exc, inputs.method, url, request) from exc
    duration_ms = (time.perf_counter() - started) * 1000
    text = raw.decode(response.encoding or "utf-8", errors="replace")
    parsed: Any = None
    if raw and not truncated:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
    headers_out: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        key = name.lower()
        headers_out[key] = f"{headers_out[key]}, {value}" if key in headers_out else value
    out = HttpRequestOutputs(
        status_code=response.status_code,
        headers=headers_out,
        body=text,
        json=parsed,
        url=str(response.url),
        duration_ms=duration_ms,
        truncated=truncated,
    )
    if inputs.expect_status is not None and response.status_code not in inputs.expect_status:
        head = text if len(text) <= 200 else text[:200] + "..."
        raise ExpectedError(
            f"{inputs.method} {url}: status {response.status_code}, expected "
            f"{inputs.expect_status}; body: {head!r}",
            details={"output": out.model_dump(mode="json")},
        )
    return out


async def _read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        if size + len(chunk) > limit:
            chunks.append(chunk[: limit - size])
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False


def convert_error(
    exc: httpx.HTTPError, method: str, url: str, request: httpx.Request
) -> RunnerError:
    what = f"{method} {url}"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ExpectedError(
            f"{what}: {exc}; write an absolute http:// or https:// URL, or join a relative "
            f"one to a base_url with uses {{ client = resource.http_client.<name> }}",
            details={"url": url, "kind": "url"},
        )
    if isinstance(exc, httpx.TooManyRedirects):
        return ExpectedError(f"{what}: {exc}", details={"url": url, "kind": "redirects"})
    if _cert_failure(exc):
        return ExpectedError(
            f"{what}: the server's TLS certificate does not verify ({exc}); install its CA on "
            f"the worker, or set verify_tls = false for a test server",
            details={"url": url, "kind": "tls"},
        )
    if isinstance(exc, httpx.TimeoutException):
        timeout = request.extensions.get("timeout", {})
        limit = next((v for v in timeout.values() if v is not None), None)
        after = f" after {limit:g}s" if isinstance(limit, int | float) else ""
        return RetryableError(
            f"{what}: timed out{after} ({type(exc).__name__}); raise the step's timeout if the "
            f"server is just slow",
            details={"url": url, "kind": "timeout"},
        )
    if isinstance(exc, httpx.ConnectError):
        return RetryableError(
            f"{what}: could not connect: {str(exc) or type(exc).__name__}",
            details={"url": url, "kind": "connect"},
        )
    if isinstance(exc, httpx.TransportError):
        return RetryableError(
            f"{what}: connection failed while exchanging the request: "
            f"{str(exc) or type(exc).__name__}",
            details={"url": url, "kind": "read"},
        )
    return ExpectedError(f"{what}: {exc}", details={"url": url, "kind": "http"})


def _cert_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):  # bounded: cause chains can loop
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
