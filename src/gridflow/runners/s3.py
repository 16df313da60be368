"""``s3``: objects in Amazon S3 or an S3-compatible store, with boto3.

Actions (``action`` argument) and what each takes besides ``endpoint_url``,
``region`` and ``connection``:

- ``upload``: ``source_path`` (a local file) and ``upload_url`` (a presigned
  PUT URL, e.g. from a ``presign`` step): a plain HTTP PUT of the file,
  streamed, no credentials involved; ``content_type`` and ``metadata`` are
  sent as headers (they must match what the URL was signed with). With
  ``uses { client = resource.http_client.X }`` the PUT goes through that
  shared connection pool. Takes no endpoint, region or connection.
- ``put_object``: ``bucket``, ``key`` and either ``body`` (text, stored as
  UTF-8, content type ``text/plain; charset=utf-8`` unless given) or
  ``file`` (a local path; above ``multipart_threshold`` — 8 MiB by default —
  it goes up in parts through boto3's transfer manager); ``content_type``,
  ``metadata``.
- ``get_object``: ``bucket``, ``key``; ``dest_path`` to write the object to
  a file (written beside it, then renamed into place), else the object is
  returned in ``body``: at most ``max_body_bytes`` (10 MiB) of it, UTF-8
  text, or base64 when it is not UTF-8 (``encoding`` says which).
- ``delete_object``: ``bucket``, ``key`` (S3 answers 204 whether or not the
  key existed).
- ``list_objects``: ``bucket``, ``prefix``; at most ``max_keys`` (1000) keys.
- ``presign``: ``bucket``, ``key``, ``method`` (``GET`` or ``PUT``),
  ``expires`` (duration, default 1h, at most 7 days), and for PUT
  ``content_type`` / ``metadata`` to sign in. Signing happens locally (no
  request) but needs credentials.

Credentials come only from the named ``connection`` (an ``aws`` connection:
see :mod:`gridflow.runners._aws` and :mod:`gridflow.connections`) or, with
no connection, from boto3's default chain (environment, profile, instance
role) — never from grid text: arguments named like credentials are refused
with a message saying so (:meth:`S3Inputs.refused_argument`). The
connection's secrets are registered with the run's masker before use.

Output: ``success`` (true: a failed action fails the step instead, as
burstgridgo's runner had the field), ``action``, ``bucket``, ``key``, ``status`` (HTTP status
of the response that finished the action: for a ``file`` put, the HEAD that
reads back what the transfer manager stored), ``etag`` (without quotes; a
multipart upload's ends in ``-<parts>``), ``size`` (bytes: stored, or the
object's size for get), ``version_id`` (versioned buckets), ``keys`` and
``truncated`` (list; get: ``body`` was cut), ``body`` / ``encoding`` /
``content_type``, ``dest_path``, ``url`` (presign: a sensitive output, since
anyone holding it may use it; masked in logs and reports, passed as is to
later steps), ``duration_ms``.

Errors, converted in one place (:func:`_converted`): a missing bucket or key,
refused access, bad credentials or arguments are
:class:`~gridflow.errors.ExpectedError` (``details["kind"]`` one of
``no_such_bucket``, ``no_such_key``, ``access_denied``, ``credentials``,
``invalid``, ``tls``, ``file``, ``s3``); throttling, 5xx answers, timeouts and
connection failures are :class:`~gridflow.errors.RetryableError`
(``throttled``, ``server``, ``timeout``, ``connect``) — after botocore's own
few retries. boto3 blocks, so its calls run in a thread pool
(:data:`gridflow.runners._aws.THREADS`); a step timeout stops waiting for a
call, but a transfer already under way finishes in its thread.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import functools
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from pydantic import BeforeValidator, Field, model_validator

from gridflow import connections
from gridflow.errors import ExpectedError, RetryableError, RunnerError
from gridflow.runners._aws import THREADS, client_for, client_settings
from gridflow.runners._types import PositiveDuration, Text
from gridflow.runners.base import RunContext, Runner, RunnerInputs, RunnerOutputs
from gridflow.runners.http_client import HttpClientResource

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MIB = 1024 * 1024
DEFAULT_MULTIPART_THRESHOLD = 8 * MIB  # boto3's own default
MIN_PART_SIZE = 5 * MIB  # S3's minimum for every part but the last
MAX_BODY_BYTES = 10 * MIB
MAX_EXPIRES_S = 7 * 24 * 3600  # SigV4 presigned URLs live at most 7 days
CHUNK = MIB  # file streaming granularity
UPLOAD_TIMEOUT_S = 60.0  # per network operation of a presigned PUT (botocore's read timeout)
ERROR_BODY_BYTES = 64 * 1024  # of an error answer read to find its code

T = TypeVar("T")

Action = Literal["upload", "put_object", "get_object", "delete_object", "list_objects", "presign"]

_CLIENT_FIELDS = frozenset({"endpoint_url", "region", "connection"})
# Which arguments each action reads; anything else given is an error, so a
# misplaced argument is reported rather than silently unused.
_ALLOWED: dict[str, frozenset[str]] = {
    "upload": frozenset({"source_path", "upload_url", "content_type", "metadata"}),
    "put_object": frozenset({"bucket", "key", "body", "file", "content_type", "metadata",
                             "multipart_threshold"}) | _CLIENT_FIELDS,
    "get_object": frozenset({"bucket", "key", "dest_path", "max_body_bytes"}) | _CLIENT_FIELDS,
    "delete_object": frozenset({"bucket", "key"}) | _CLIENT_FIELDS,
    "list_objects": frozenset({"bucket", "prefix", "max_keys"}) | _CLIENT_FIELDS,
    "presign": frozenset({"bucket", "key", "method", "expires", "content_type", "metadata"})
    | _CLIENT_FIELDS,
}  # fmt: skip
_REQUIRED: dict[str, tuple[str, ...]] = {
    "upload": ("source_path", "upload_url"),
    "put_object": ("bucket", "key"),
    "get_object": ("bucket", "key"),
    "delete_object": ("bucket", "key"),
    "list_objects": ("bucket",),
    "presign": ("bucket", "key", "method"),
}

# Parts of argument names that mean "a credential" (checked on names that are
# not arguments of the runner, so "key" itself stays the object key).
_CREDENTIAL_NAME = re.compile(
    r"access_?key|secret|session_?token|password|passwd|credential|^token$", re.IGNORECASE
)
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3,
               "ki": 1024, "mi": MIB, "gi": 1024**3}  # fmt: skip


def _byte_size(value: Any) -> Any:
    """``5242880``, ``"5MiB"``, ``"8MB"``, ``"512KiB"`` -> bytes."""
    if isinstance(value, str):
        match = _SIZE.match(value)
        if not match:
            raise ValueError(
                f'"{value}" is not a size; write bytes (5242880) or a size with a unit '
                f'such as "5MiB", "8MB", "512KiB"'
            )
        unit = (match.group(2) or "").lower().removesuffix("b")
        return int(match.group(1)) * _SIZE_UNITS[unit]
    return value


ByteSize = Annotated[int, BeforeValidator(_byte_size), Field(ge=1)]


class S3Inputs(RunnerInputs):
    action: Action
    bucket: Annotated[str, Field(min_length=1)] | None = None
    key: Annotated[str, Field(min_length=1)] | None = None
    prefix: str = ""
    max_keys: Annotated[int, Field(ge=1, le=1_000_000)] = 1000
    body: str | None = None
    file: Annotated[str, Field(min_length=1)] | None = None
    dest_path: Annotated[str, Field(min_length=1)] | None = None
    max_body_bytes: Annotated[int, Field(ge=0)] = MAX_BODY_BYTES
    source_path: Annotated[str, Field(min_length=1)] | None = None
    upload_url: Annotated[str, Field(min_length=1)] | None = None
    method: Literal["GET", "PUT"] | None = None
    expires: PositiveDuration = 3600.0
    endpoint_url: Annotated[str, Field(min_length=1)] | None = None
    region: Annotated[str, Field(min_length=1)] | None = None
    connection: Annotated[str, Field(min_length=1)] | None = None
    multipart_threshold: ByteSize = DEFAULT_MULTIPART_THRESHOLD
    content_type: Annotated[str, Field(min_length=1)] | None = None
    metadata: dict[str, Text] = Field(default_factory=dict)

    @classmethod
    def refused_argument(cls, name: str) -> str | None:
        if name in cls.model_fields or not _CREDENTIAL_NAME.search(name):
            return None
        return (
            "credentials are never written in a grid (grid text ends up in files, logs and "
            "the engine's records); put them in an aws connection and name it, e.g. "
            'connection = "my_s3" with AIRFLOW_CONN_MY_S3=\'aws://ACCESS_KEY_ID:SECRET@/'
            "?region_name=eu-west-1' (or an Airflow connection / Prefect GridflowConnection "
            "block), or leave connection out to use the worker's default AWS credentials "
            "(environment, profile, instance role)"
        )

    @model_validator(mode="before")
    @classmethod
    def _no_credentials(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in data:
                reason = cls.refused_argument(str(name))
                if reason:
                    raise ValueError(f'argument "{name}" is not accepted: {reason}')
            if isinstance(data.get("method"), str):
                data = {**data, "method": data["method"].upper()}
        return data

    @model_validator(mode="after")
    def _fits_the_action(self) -> S3Inputs:
        action = self.action
        given = self.model_fields_set - {"action"}
        stray = sorted(given - _ALLOWED[action])
        if stray:
            raise ValueError(
                f"action {action} does not use {', '.join(stray)} (it takes "
                f"{', '.join(sorted(_ALLOWED[action]))})"
            )
        missing = [n for n in _REQUIRED[action] if getattr(self, n) is None]
        if missing:
            raise ValueError(f"action {action} needs {' and '.join(missing)}")
        if action == "put_object" and (self.body is None) == (self.file is None):
            raise ValueError(
                "action put_object needs exactly one of body (text) and file (a local path)"
            )
        if action == "presign":
            if self.expires > MAX_EXPIRES_S:
                raise ValueError(
                    f"expires is {self.expires:g}s; presigned URLs are valid at most 7 days "
                    f"({MAX_EXPIRES_S}s)"
                )
            if self.method == "GET" and ("content_type" in given or "metadata" in given):
                raise ValueError("content_type and metadata are signed into PUT URLs only")
        return self


class S3Outputs(RunnerOutputs):
    success: bool = True
    action: str
    bucket: str | None = None
    key: str | None = None
    status: int | None = None
    etag: str | None = None
    size: int | None = None
    version_id: str | None = None
    keys: list[str] | None = None
    truncated: bool = False
    body: str | None = None
    encoding: Literal["utf-8", "base64"] | None = None
    content_type: str | None = None
    dest_path: str | None = None
    url: str | None = None
    duration_ms: float = 0.0


@dataclasses.dataclass(frozen=True)
class _Target:
    """What an action works on, for messages and error details."""

    action: str
    bucket: str | None = None
    key: str | None = None
    endpoint: str | None = None  # endpoint_url, or the presigned URL without its query
    conn_id: str | None = None

    def __str__(self) -> str:
        where = f"s3://{self.bucket}/{self.key or ''}" if self.bucket else (self.endpoint or "")
        return f"s3 {self.action} {where}".rstrip()

    def details(self, kind: str, **more: object) -> dict[str, object]:
        found: dict[str, object] = {"kind": kind, "bucket": self.bucket, "key": self.key}
        if self.endpoint:
            found["endpoint"] = self.endpoint
        found.update(more)
        return {k: v for k, v in found.items() if v is not None}


class S3Runner(Runner[S3Inputs, S3Outputs]):
    """One S3 action; credentials from an ``aws`` connection or the default chain."""

    name = "s3"
    Inputs = S3Inputs
    Outputs = S3Outputs
    description = "S3 objects: upload by presigned URL, put, get, delete, list, presign (boto3)."
    uses: ClassVar[dict[str, str]] = {"client": "http_client"}
    sensitive_inputs: ClassVar[frozenset[str]] = frozenset({"upload_url"})
    sensitive_outputs: ClassVar[frozenset[str]] = frozenset({"url"})

    async def run(self, inputs: S3Inputs, ctx: RunContext) -> S3Outputs:
        started = time.perf_counter()
        shared = ctx.resources.get("client")
        if shared is not None and inputs.action != "upload":
            raise ExpectedError(
                f"s3 {inputs.action}: uses.client applies to action upload only (the other "
                f"actions go through boto3's own pool); remove the uses block"
            )
        if inputs.action == "upload":
            target = _Target("upload", endpoint=_without_query(inputs.upload_url or ""))
            if shared is not None and not isinstance(shared, HttpClientResource):
                raise ExpectedError(
                    f"uses.client must be an http_client resource, got {type(shared).__name__}"
                )
            try:
                out = await _upload(inputs, target, shared)
            except (httpx.HTTPError, OSError) as exc:
                raise _converted(exc, target) from exc
        else:
            target = _Target(
                inputs.action, inputs.bucket, inputs.key, inputs.endpoint_url, inputs.connection
            )
            out = await _with_client(inputs, target, ctx)
        ctx.logger.debug("%s: status %s, %s bytes", target, out.status, out.size)
        return out.model_copy(update={"duration_ms": (time.perf_counter() - started) * 1000})


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(THREADS, functools.partial(fn, *args))


async def _with_client(inputs: S3Inputs, target: _Target, ctx: RunContext) -> S3Outputs:
    conn = None
    if inputs.connection is not None:
        # A resolver may ask a server (Airflow's API, Prefect's): not on the loop.
        conn = await _in_thread(connections.lookup, inputs.connection)
        ctx.mask(connections.secret_values(conn))
    settings = client_settings(conn, endpoint_url=inputs.endpoint_url, region=inputs.region)
    target = dataclasses.replace(target, endpoint=settings.endpoint_url)
    action = _ACTIONS[inputs.action]
    try:
        client = await _in_thread(client_for, settings)
        return await _in_thread(action, client, inputs)
    except (BotoCoreError, ClientError, Boto3Error, OSError) as exc:
        raise _converted(exc, target) from exc


# --------------------------------------------------------------- actions (blocking)


def _extra_args(inputs: S3Inputs, *, default_type: str | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if inputs.content_type or default_type:
        extra["ContentType"] = inputs.content_type or default_type
    if inputs.metadata:
        extra["Metadata"] = dict(inputs.metadata)
    return extra


def _put_object(client: S3Client, inputs: S3Inputs) -> S3Outputs:
    bucket, key = str(inputs.bucket), str(inputs.key)
    if inputs.body is not None:
        data = inputs.body.encode("utf-8")
        extra = _extra_args(inputs, default_type="text/plain; charset=utf-8")
        put = client.put_object(Bucket=bucket, Key=key, Body=data, **extra)
        return S3Outputs(
            action="put_object",
            bucket=bucket,
            key=key,
            status=put["ResponseMetadata"]["HTTPStatusCode"],
            etag=_etag(put.get("ETag")),
            size=len(data),
            version_id=put.get("VersionId"),
            content_type=extra["ContentType"],
        )
    path = _local_file(str(inputs.file), "file")
    threshold = inputs.multipart_threshold
    config = TransferConfig(
        multipart_threshold=threshold, multipart_chunksize=max(threshold, MIN_PART_SIZE)
    )
    client.upload_file(path, bucket, key, ExtraArgs=_extra_args(inputs) or None, Config=config)
    # The transfer manager returns nothing about what it stored: read it back.
    return _stored("put_object", bucket, key, client.head_object(Bucket=bucket, Key=key))


def _stored(action: str, bucket: str, key: str, answer: Mapping[str, Any]) -> S3Outputs:
    """What S3 says of a stored object: a head_object or get_object answer."""
    return S3Outputs(
        action=action,
        bucket=bucket,
        key=key,
        status=answer["ResponseMetadata"]["HTTPStatusCode"],
        etag=_etag(answer.get("ETag")),
        size=answer.get("ContentLength"),
        version_id=answer.get("VersionId"),
        content_type=answer.get("ContentType"),
    )


def _get_object(client: S3Client, inputs: S3Inputs) -> S3Outputs:
    bucket, key = str(inputs.bucket), str(inputs.key)
    got = client.get_object(Bucket=bucket, Key=key)
    stream = got["Body"]
    out = _stored("get_object", bucket, key, got)
    try:
        if inputs.dest_path is not None:
            dest = os.path.abspath(os.path.expanduser(inputs.dest_path))
            _write_atomically(dest, stream.iter_chunks(CHUNK))
            return out.model_copy(update={"dest_path": dest})
        data = stream.read(inputs.max_body_bytes + 1)
    finally:
        stream.close()
    truncated = len(data) > inputs.max_body_bytes
    body, encoding = _text_or_base64(data[: inputs.max_body_bytes], cut=truncated)
    return out.model_copy(update={"body": body, "encoding": encoding, "truncated": truncated})


def _delete_object(client: S3Client, inputs: S3Inputs) -> S3Outputs:
    bucket, key = str(inputs.bucket), str(inputs.key)
    deleted = client.delete_object(Bucket=bucket, Key=key)
    return S3Outputs(
        action="delete_object",
        bucket=bucket,
        key=key,
        status=deleted["ResponseMetadata"]["HTTPStatusCode"],
        version_id=deleted.get("VersionId"),
    )


def _list_objects(client: S3Client, inputs: S3Inputs) -> S3Outputs:
    bucket = str(inputs.bucket)
    keys: list[str] = []
    status: int | None = None
    truncated = False
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket,
        Prefix=inputs.prefix,
        PaginationConfig={"PageSize": min(inputs.max_keys, 1000)},
    )
    for page in pages:
        status = page["ResponseMetadata"]["HTTPStatusCode"]
        for item in page.get("Contents", []):
            if len(keys) == inputs.max_keys:
                truncated = True
                break
            keys.append(item["Key"])
        if truncated or (len(keys) == inputs.max_keys and page.get("IsTruncated")):
            truncated = True
            break
    return S3Outputs(
        action="list_objects", bucket=bucket, status=status, keys=keys, truncated=truncated
    )


def _presign(client: S3Client, inputs: S3Inputs) -> S3Outputs:
    bucket, key = str(inputs.bucket), str(inputs.key)
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if inputs.method == "PUT":
        params.update(_extra_args(inputs))
    # Signed locally, without a request; no credentials -> NoCredentialsError.
    url = client.generate_presigned_url(
        "put_object" if inputs.method == "PUT" else "get_object",
        Params=params,
        ExpiresIn=max(1, round(inputs.expires)),  # whole seconds in the signature
    )
    return S3Outputs(action="presign", bucket=bucket, key=key, url=url)


_ACTIONS: dict[str, Callable[[S3Client, S3Inputs], S3Outputs]] = {
    "put_object": _put_object,
    "get_object": _get_object,
    "delete_object": _delete_object,
    "list_objects": _list_objects,
    "presign": _presign,
}


# ------------------------------------------------------------------ presigned PUT


async def _upload(
    inputs: S3Inputs, target: _Target, shared: HttpClientResource | None
) -> S3Outputs:
    path = _local_file(str(inputs.source_path), "source_path")
    size = os.path.getsize(path)
    # An explicit length: S3 refuses a chunked PUT to a presigned URL.
    headers = {"content-length": str(size)}
    if inputs.content_type:
        headers["content-type"] = inputs.content_type
    for name, value in inputs.metadata.items():
        headers[f"x-amz-meta-{name.lower()}"] = value
    async with contextlib.AsyncExitStack() as stack:
        if shared is None:
            own = httpx.AsyncClient(timeout=UPLOAD_TIMEOUT_S)
            await stack.enter_async_context(own)
            request = own.build_request(
                "PUT", str(inputs.upload_url), headers=headers, content=_chunks(path)
            )
            response = await own.send(request, stream=True)
        else:
            request = shared.build_request(
                "PUT", str(inputs.upload_url), headers=headers, content=_chunks(path)
            )
            response = await shared.send(request, follow_redirects=False)
        stack.push_async_callback(response.aclose)
        head = b""
        async for chunk in response.aiter_bytes():
            head += chunk
            if len(head) >= ERROR_BODY_BYTES:
                break
    if not response.is_success:
        code = _xml_field(head, "Code")
        raise _from_s3(code or "", response.status_code, _xml_field(head, "Message") or "", target)
    return S3Outputs(
        action="upload",
        status=response.status_code,
        etag=_etag(response.headers.get("etag")),
        size=size,
        version_id=response.headers.get("x-amz-version-id"),
    )


async def _chunks(path: str) -> AsyncIterator[bytes]:
    with open(path, "rb") as fh:  # each read runs in a thread: the loop never blocks
        while chunk := await _in_thread(fh.read, CHUNK):
            yield chunk


# ------------------------------------------------------------------ helpers


def _local_file(path: str, argument: str) -> str:
    full = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(full):
        what = "is not a regular file" if os.path.exists(full) else "does not exist"
        raise ExpectedError(
            f"s3: {argument} {full} {what} on this worker; give the path of a file that the "
            f"worker running the step can read",
            details={"kind": "file", "path": full},
        )
    return full


def _write_atomically(dest: str, chunks: Any) -> None:
    folder = os.path.dirname(dest) or "."
    if not os.path.isdir(folder):
        raise ExpectedError(
            f"s3 get_object: the folder of dest_path ({folder}) does not exist; create it first",
            details={"kind": "file", "path": dest},
        )
    fd, partial = tempfile.mkstemp(prefix=".gridflow-s3-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.replace(partial, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


def _text_or_base64(data: bytes, *, cut: bool) -> tuple[str, Literal["utf-8", "base64"]]:
    # A body cut at the cap may end inside a multi-byte character: drop up to
    # three bytes before deciding that it is not text.
    for trim in range(4 if cut else 1):
        try:
            return data[: len(data) - trim].decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            continue
    return base64.b64encode(data).decode("ascii"), "base64"


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else None


def _xml_field(body: bytes, name: str) -> str | None:
    match = re.search(rb"<%s>([^<]{0,500})</%s>" % (name.encode(), name.encode()), body)
    return match.group(1).decode("utf-8", "replace") if match else None


def _without_query(url: str) -> str:
    # A presigned URL's query is its signature (and maybe a session token).
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


# ------------------------------------------------------------------ errors


_THROTTLING = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "RequestLimitExceeded", "TooManyRequests", "TooManyRequestsException",
    "RequestThrottledException", "ProvisionedThroughputExceededException",
    "BandwidthLimitExceeded", "PriorRequestNotComplete",
})  # fmt: skip
_TRANSIENT = frozenset({
    "InternalError", "ServiceUnavailable", "RequestTimeout", "RequestTimeoutException",
    "OperationAborted",
})  # fmt: skip
_DENIED = frozenset({
    "AccessDenied", "AllAccessDisabled", "AccountProblem", "InvalidAccessKeyId",
    "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired",
    "InvalidSecurity", "RequestTimeTooSkewed",
})  # fmt: skip


def _converted(exc: BaseException, target: _Target) -> RunnerError:
    """The one place where boto3, botocore, httpx and file errors become gridflow's."""
    client_error = _client_error_in(exc)
    if client_error is not None:
        error = client_error.response.get("Error", {})
        status = int(client_error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        code = str(error.get("Code", ""))
        # HEAD answers have no body: botocore then uses the status as the code.
        if code.isdigit():
            status, code = status or int(code), ""
        return _from_s3(code, status, str(error.get("Message", "")), target)
    via = f" (connection {target.conn_id!r})" if target.conn_id else ""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | ProfileNotFound):
        return ExpectedError(
            f"{target}: no usable AWS credentials ({exc}){via}; name an aws connection with "
            f'connection = "...", or give the worker credentials (AWS_ACCESS_KEY_ID and '
            f"AWS_SECRET_ACCESS_KEY, a profile, an instance role)",
            details=target.details("credentials"),
        )
    if isinstance(exc, SSLError):
        return ExpectedError(
            f"{target}: TLS failed: {exc}; install the endpoint's CA on the worker, or set "
            f'"verify" in the connection extra (a CA bundle path, or false for a test store)',
            details=target.details("tls"),
        )
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError | httpx.TimeoutException):
        return RetryableError(
            f"{target}: timed out talking to {target.endpoint or 'S3'} ({type(exc).__name__})",
            details=target.details("timeout"),
        )
    if isinstance(exc, BotoConnectionError | HTTPClientError | httpx.TransportError):
        return RetryableError(
            f"{target}: could not reach {target.endpoint or 'S3'} "
            f"({type(exc).__name__}: {exc}); check endpoint_url and that the store is up",
            details=target.details("connect"),
        )
    if isinstance(exc, ParamValidationError | httpx.HTTPError):
        return ExpectedError(f"{target}: {exc}", details=target.details("invalid"))
    if isinstance(exc, OSError):
        return ExpectedError(f"{target}: local file error: {exc}", details=target.details("file"))
    return ExpectedError(f"{target}: {type(exc).__name__}: {exc}", details=target.details("s3"))


def _client_error_in(exc: BaseException) -> ClientError | None:
    # boto3's transfer manager wraps S3's answer (S3UploadFailedError from a
    # ClientError), so look along the cause chain.
    seen: BaseException | None = exc
    for _ in range(10):  # bounded: cause chains can loop
        if seen is None:
            return None
        if isinstance(seen, ClientError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _from_s3(code: str, status: int, message: str, target: _Target) -> RunnerError:
    """An S3 error answer (code as S3 names it, HTTP status) as a gridflow error."""
    said = f" ({code or 'HTTP ' + str(status)}{': ' + message[:200] if message else ''})"
    details = target.details("s3", code=code or None, status=status or None)
    via = f" with connection {target.conn_id!r}" if target.conn_id else ""
    if code in _THROTTLING or status == 429:
        details["kind"] = "throttled"
        return RetryableError(
            f"{target}: S3 asked to slow down{said}; lower the step's concurrency or let "
            f"retry {{ attempts }} try again later",
            details=details,
        )
    if code in _TRANSIENT or status >= 500:
        details["kind"] = "server"
        return RetryableError(
            f"{target}: the store failed temporarily{said}; retry {{ attempts }} on the step "
            f"tries again",
            details=details,
        )
    if code == "NoSuchBucket":
        details["kind"] = "no_such_bucket"
        at = f" at {target.endpoint}" if target.endpoint else ""
        return ExpectedError(
            f"{target}: bucket {target.bucket!r} does not exist{at}{said}; create it, or check "
            f"the bucket name, region and endpoint_url",
            details=details,
        )
    if code in ("NoSuchKey", "NotFound") or (status == 404 and target.key):
        details["kind"] = "no_such_key"
        return ExpectedError(
            f"{target}: key {target.key!r} not found in bucket {target.bucket!r}{said}; keys "
            f'are case-sensitive: list the bucket with action = "list_objects" to see them',
            details=details,
        )
    if code in _DENIED or status == 403:
        details["kind"] = "access_denied"
        if target.action == "upload":
            hint = (
                "the presigned URL may have expired, or content_type / metadata differ from "
                "what it was signed with"
            )
        else:
            hint = (
                f"check the credentials{via} and that they may {target.action} in this "
                f"bucket (bucket policy, IAM)"
            )
        return ExpectedError(f"{target}: access denied{said}; {hint}", details=details)
    return ExpectedError(f"{target}: S3 refused the request{said}", details=details)
