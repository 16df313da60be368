"""s3 runner against moto's S3 in server mode (real HTTP on 127.0.0.1).

Credentials reach the runner the ways they do in production: an
``AIRFLOW_CONN_*`` / ``GRIDFLOW_CONN_*`` variable (URI or JSON), or boto3's
default chain (``AWS_*`` variables). The session's environment has neither
(see :mod:`tests.support.moto_server`), so a test that forgets to give
credentials fails with ``NoCredentialsError`` instead of using some.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import logging
import os
import re
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from pydantic import ValidationError

from gridflow import connections
from gridflow.errors import ExpectedError, LoadError, RetryableError, RunnerError
from gridflow.runners import _aws
from gridflow.runners.base import RunContext
from gridflow.runners.http_client import HttpClientArguments, HttpClientResource
from gridflow.runners.s3 import S3Inputs, S3Runner, _converted, _from_s3, _Target
from gridflow.runtime.masking import Masker, MaskingFilter
from gridflow.translators.hcl import load_grid
from tests.support.http_server import LocalHTTPServer
from tests.support.moto_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, MotoS3, aws_env
from tests.support.servers import free_port

MIB = 1024 * 1024
CONN = "moto"  # the connection most tests use: AIRFLOW_CONN_MOTO, JSON form


@pytest.fixture(autouse=True)
def _fresh(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test: no resolver, the standard moto connection.

    Cached clients are kept: their key holds the connection's credentials, so
    a test giving other credentials gets another client anyway. Only clients
    of the default chain (which read AWS_* when they are made) need clearing.
    """
    connections.set_resolver(None)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json_conn(moto_s3.url))
    yield
    connections.set_resolver(None)


def json_conn(endpoint: str, **extra: Any) -> str:
    return json.dumps(
        {
            "conn_type": "aws",
            "login": ACCESS_KEY_ID,
            "password": SECRET_ACCESS_KEY,
            "extra": {"region_name": REGION, "endpoint_url": endpoint, **extra},
        }
    )


def run(args: dict[str, Any], ctx: RunContext | None = None) -> dict[str, Any]:
    """Validate ``args`` as the runtime does and run one s3 step."""
    inputs = S3Inputs.model_validate(args)
    out = asyncio.run(S3Runner().run(inputs, ctx or RunContext(step_id="s3.test")))
    return out.model_dump(mode="json")


def failure(args: dict[str, Any]) -> RunnerError:
    with pytest.raises(RunnerError) as info:
        run(args)
    return info.value


def subset(actual: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    return {k: actual.get(k) for k in expected}


# ------------------------------------------------------------------ round trips

# (id, [(arguments, expected output subset)]): bucket and connection are added
# to every step; "{tmp}" in file/dest_path is the test's temporary folder.
ROUND_TRIPS: list[tuple[str, list[tuple[dict[str, Any], dict[str, Any]]]]] = [
    ("text-body", [
        ({"action": "put_object", "key": "a/1.txt", "body": "héllo"},
         {"success": True, "status": 200, "size": 6, "key": "a/1.txt",
          "content_type": "text/plain; charset=utf-8"}),
        ({"action": "get_object", "key": "a/1.txt"},
         {"body": "héllo", "encoding": "utf-8", "size": 6, "truncated": False,
          "content_type": "text/plain; charset=utf-8"}),
        ({"action": "list_objects", "prefix": "a/"}, {"keys": ["a/1.txt"], "truncated": False}),
        ({"action": "delete_object", "key": "a/1.txt"}, {"status": 204, "success": True}),
        ({"action": "list_objects", "prefix": "a/"}, {"keys": []}),
        ({"action": "delete_object", "key": "a/1.txt"}, {"status": 204}),  # S3: gone is fine
    ]),
    ("content-type", [
        ({"action": "put_object", "key": "doc.json", "body": '{"a": 1}',
          "content_type": "application/json", "metadata": {"Team": "perf", "n": 5}},
         {"status": 200}),
        ({"action": "get_object", "key": "doc.json"},
         {"body": '{"a": 1}', "content_type": "application/json"}),
    ]),
    ("binary-file-comes-back-as-base64", [
        ({"action": "put_object", "key": "bin", "file": "{tmp}/bin.dat"}, {"size": 4}),
        ({"action": "get_object", "key": "bin"},
         {"body": base64.b64encode(b"\xff\x00\xfe\x01").decode(), "encoding": "base64"}),
    ]),
    ("body-cap", [
        ({"action": "put_object", "key": "big", "body": "é" * 50}, {"size": 100}),
        # 9 bytes end inside an "é": the cut character is dropped, still text.
        ({"action": "get_object", "key": "big", "max_body_bytes": 9},
         {"body": "é" * 4, "encoding": "utf-8", "truncated": True, "size": 100}),
    ]),
    ("list-prefix-and-max-keys", [
        ({"action": "put_object", "key": "p/1", "body": "1"}, {}),
        ({"action": "put_object", "key": "p/2", "body": "2"}, {}),
        ({"action": "put_object", "key": "p/3", "body": "3"}, {}),
        ({"action": "put_object", "key": "q/1", "body": "4"}, {}),
        ({"action": "list_objects", "prefix": "p/"}, {"keys": ["p/1", "p/2", "p/3"]}),
        ({"action": "list_objects", "prefix": "p/", "max_keys": 2},
         {"keys": ["p/1", "p/2"], "truncated": True}),
        ({"action": "list_objects"}, {"keys": ["p/1", "p/2", "p/3", "q/1"]}),
    ]),
    ("get-to-dest-path", [
        ({"action": "put_object", "key": "f", "file": "{tmp}/bin.dat"}, {}),
        ({"action": "get_object", "key": "f", "dest_path": "{tmp}/out/copy.dat"},
         {"dest_path": "{tmp}/out/copy.dat", "size": 4, "body": None}),
    ]),
]  # fmt: skip


@pytest.mark.parametrize("steps", [r[1] for r in ROUND_TRIPS], ids=[r[0] for r in ROUND_TRIPS])
def test_round_trip(
    steps: list[tuple[dict[str, Any], dict[str, Any]]], moto_s3: MotoS3, tmp_path: Path
) -> None:
    bucket = moto_s3.new_bucket()
    (tmp_path / "bin.dat").write_bytes(b"\xff\x00\xfe\x01")
    (tmp_path / "out").mkdir()

    def filled(value: Any) -> Any:
        return value.replace("{tmp}", str(tmp_path)) if isinstance(value, str) else value

    for args, expected in steps:
        given = {k: filled(v) for k, v in args.items()}
        out = run({**given, "bucket": bucket, "connection": CONN})
        want = {k: filled(v) for k, v in expected.items()}
        assert subset(out, want) == want, args
        assert out["bucket"] == bucket
        assert out["duration_ms"] > 0


def test_dest_path_gets_the_bytes_and_leaves_no_partial_file(
    moto_s3: MotoS3, tmp_path: Path
) -> None:
    bucket = moto_s3.new_bucket()
    data = os.urandom(3 * MIB + 17)
    moto_s3.client().put_object(Bucket=bucket, Key="blob", Body=data)
    dest = tmp_path / "blob"
    dest.write_bytes(b"old content, replaced whole")
    out = run({"action": "get_object", "bucket": bucket, "key": "blob",
               "dest_path": str(dest), "connection": CONN})  # fmt: skip
    assert dest.read_bytes() == data
    assert out["size"] == len(data)
    assert out["etag"] == hashlib.md5(data).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob"]


def test_metadata_and_version_id_are_stored(moto_s3: MotoS3) -> None:
    bucket = moto_s3.new_bucket(versioned=True)
    out = run({"action": "put_object", "bucket": bucket, "key": "k", "body": "v1",
               "metadata": {"Team": "perf"}, "connection": CONN})  # fmt: skip
    head = moto_s3.client().head_object(Bucket=bucket, Key="k")
    assert head["Metadata"] == {"team": "perf"}
    assert out["version_id"] == head["VersionId"]
    assert out["etag"] == hashlib.md5(b"v1").hexdigest()


# --------------------------------------------------------------- multipart uploads

# (id, file size, multipart_threshold, etag pattern): multipart ETags end in -<parts>.
MULTIPART: list[tuple[str, int, Any, str]] = [
    ("6MiB-over-5MiB-goes-in-2-parts", 6 * MIB, "5MiB", r"^[0-9a-f]{32}-2$"),
    ("6MiB-under-default-8MiB-is-one-put", 6 * MIB, None, r"^[0-9a-f]{32}$"),
    ("threshold-in-bytes", 5 * MIB + 1, 5 * MIB, r"^[0-9a-f]{32}-2$"),
    # Parts are never smaller than S3's 5 MiB minimum, whatever the threshold.
    ("tiny-threshold-still-5MiB-parts", 6 * MIB, "1MB", r"^[0-9a-f]{32}-2$"),
]


@pytest.mark.parametrize(
    ("size", "threshold", "etag"), [m[1:] for m in MULTIPART], ids=[m[0] for m in MULTIPART]
)
def test_multipart_upload_of_a_file(
    size: int, threshold: Any, etag: str, moto_s3: MotoS3, tmp_path: Path
) -> None:
    bucket = moto_s3.new_bucket()
    data = os.urandom(size)
    path = tmp_path / "payload"
    path.write_bytes(data)
    args: dict[str, Any] = {"action": "put_object", "bucket": bucket, "key": "payload",
                            "file": str(path), "connection": CONN}  # fmt: skip
    if threshold is not None:
        args["multipart_threshold"] = threshold
    out = run(args)
    assert re.match(etag, out["etag"]), out["etag"]
    assert out["size"] == size
    assert out["status"] == 200
    stored = moto_s3.client().get_object(Bucket=bucket, Key="payload")["Body"].read()
    assert stored == data


# ------------------------------------------------------- presign + presigned upload


def test_presign_put_then_upload_by_url_then_presigned_get(moto_s3: MotoS3, tmp_path: Path) -> None:
    bucket = moto_s3.new_bucket()
    data = b"uploaded through a presigned URL\n" * 1000
    source = tmp_path / "report.csv"
    source.write_bytes(data)
    signed = run({"action": "presign", "bucket": bucket, "key": "in/report.csv",
                  "method": "put", "expires": "10m", "content_type": "text/csv",
                  "connection": CONN})  # fmt: skip
    assert signed["url"].startswith(f"{moto_s3.url}/{bucket}/in/report.csv?")
    assert "X-Amz-Expires=600" in signed["url"]
    assert f"X-Amz-Credential={ACCESS_KEY_ID}%2F" in signed["url"]  # the connection's key
    assert signed["status"] is None

    uploaded = run({"action": "upload", "source_path": str(source),
                    "upload_url": signed["url"], "content_type": "text/csv"})  # fmt: skip
    assert subset(uploaded, {"success": True, "status": 200, "size": len(data)}) == {
        "success": True, "status": 200, "size": len(data)}  # fmt: skip
    assert uploaded["etag"] == hashlib.md5(data).hexdigest()
    head = moto_s3.client().head_object(Bucket=bucket, Key="in/report.csv")
    assert head["ContentLength"] == len(data)
    assert head["ContentType"] == "text/csv"

    fetch = run({"action": "presign", "bucket": bucket, "key": "in/report.csv",
                 "method": "GET", "connection": CONN})  # fmt: skip
    assert httpx.get(fetch["url"]).content == data


def test_upload_through_a_shared_http_client(moto_s3: MotoS3, tmp_path: Path) -> None:
    bucket = moto_s3.new_bucket()
    source = tmp_path / "x.txt"
    source.write_text("shared pool")
    url = run({"action": "presign", "bucket": bucket, "key": "x.txt", "method": "PUT",
               "connection": CONN})["url"]  # fmt: skip

    async def upload() -> dict[str, Any]:
        client = HttpClientResource(HttpClientArguments())
        await client.open()
        try:
            inputs = S3Inputs.model_validate(
                {"action": "upload", "source_path": str(source), "upload_url": url}
            )
            ctx = RunContext(step_id="s3.up", resources={"client": client})
            return (await S3Runner().run(inputs, ctx)).model_dump()
        finally:
            await client.close()

    assert asyncio.run(upload())["status"] == 200
    assert moto_s3.client().get_object(Bucket=bucket, Key="x.txt")["Body"].read() == (
        b"shared pool"
    )


# ------------------------------------------------------------------ credentials


def uri_conn(endpoint: str) -> str:
    secret = quote(SECRET_ACCESS_KEY, safe="")
    return (
        f"aws://{ACCESS_KEY_ID}:{secret}@/?region_name={REGION}"
        f"&endpoint_url={quote(endpoint, safe='')}"
    )


# (id, variable name, value given the moto URL)
CONNECTION_FORMS: list[tuple[str, str, Any]] = [
    ("airflow-uri", "AIRFLOW_CONN_S3_URI", uri_conn),
    ("airflow-uri-unencoded-endpoint", "AIRFLOW_CONN_S3_URI",
     lambda url: f"aws://{ACCESS_KEY_ID}:{quote(SECRET_ACCESS_KEY, safe='')}@/"
                 f"?endpoint_url={url}"),
    ("airflow-json", "AIRFLOW_CONN_S3_URI", json_conn),
    ("gridflow-json", "GRIDFLOW_CONN_S3_URI", json_conn),
    ("generic-type", "AIRFLOW_CONN_S3_URI",
     lambda url: json_conn(url).replace('"conn_type": "aws"', '"conn_type": "generic"')),
    ("json-service-config-endpoint", "AIRFLOW_CONN_S3_URI",
     lambda url: json_conn("http://127.0.0.1:9", service_config={"s3": {"endpoint_url": url}})),
    ("json-credentials-in-extra", "AIRFLOW_CONN_S3_URI",
     lambda url: json.dumps({"conn_type": "aws", "extra": {
         "aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": SECRET_ACCESS_KEY,
         "endpoint_url": url}})),
]  # fmt: skip


@pytest.mark.parametrize(
    ("var", "value"), [c[1:] for c in CONNECTION_FORMS], ids=[c[0] for c in CONNECTION_FORMS]
)
def test_credentials_from_a_connection_variable(
    var: str, value: Any, moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(var, value(moto_s3.url))
    bucket = moto_s3.new_bucket()
    base = {"bucket": bucket, "key": "k", "connection": "s3_uri"}
    assert run({**base, "action": "put_object", "body": "via connection"})["status"] == 200
    assert run({**base, "action": "get_object"})["body"] == "via connection"
    url = run({**base, "action": "presign", "method": "GET"})["url"]
    assert f"X-Amz-Credential={ACCESS_KEY_ID}%2F" in url


def test_without_connection_the_default_chain_is_used(
    moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = moto_s3.new_bucket()
    args = {"action": "put_object", "bucket": bucket, "key": "k", "body": "x",
            "endpoint_url": moto_s3.url, "region": REGION}  # fmt: skip
    error = failure(args)
    assert isinstance(error, ExpectedError)
    assert error.details["kind"] == "credentials"
    assert "no usable AWS credentials" in error.message
    for name, value in aws_env().items():
        monkeypatch.setenv(name, value)
    _aws.clear_clients()  # the client made above read the (empty) environment
    assert run(args)["status"] == 200
    _aws.clear_clients()  # and this one holds credentials other tests must not get


def test_the_step_endpoint_wins_over_the_connection(
    moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ELSEWHERE", json_conn(f"http://127.0.0.1:{free_port()}"))
    bucket = moto_s3.new_bucket()
    out = run({"action": "list_objects", "bucket": bucket, "connection": "elsewhere",
               "endpoint_url": moto_s3.url})  # fmt: skip
    assert out["keys"] == []


def test_a_registered_resolver_is_asked_first(moto_s3: MotoS3) -> None:
    bucket = moto_s3.new_bucket()
    asked: list[str] = []

    def resolver(conn_id: str) -> connections.Connection | None:
        asked.append(conn_id)
        return connections.parse_connection(conn_id, json_conn(moto_s3.url), source="test")

    with connections.use_resolver(resolver, name="test resolver"):
        run({"action": "list_objects", "bucket": bucket, "connection": "anything"})
    assert asked == ["anything"]


# (id, connection JSON extra/fields, message part)
BAD_CONNECTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("wrong-type", {"conn_type": "http", "host": "h"},
     "it is of type 'http'; the s3 runner reads an 'aws' connection"),
    ("key-id-without-secret", {"conn_type": "aws", "login": "AKID"},
     "it has no secret access key (password)"),
    ("assume-role", {"conn_type": "aws", "extra": {"role_arn": "arn:aws:iam::1:role/r"}},
     "extra role_arn: assuming a role is not supported by the s3 runner"),
    ("endpoint-not-a-url", {"conn_type": "aws", "extra": {"endpoint_url": "127.0.0.1:9000"}},
     "endpoint_url '127.0.0.1:9000' is not an http:// or https:// URL"),
    ("bad-config-kwargs", {"conn_type": "aws", "extra": {"config_kwargs": {"nope": 1}}},
     "extra config_kwargs is not valid for botocore.config.Config"),
    ("verify-number", {"conn_type": "aws", "extra": {"verify": 3}},
     "extra verify must be true, false or the path of a CA bundle"),
    ("undefined", {}, "connection 'broken' is not defined"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "message"),
    [b[1:] for b in BAD_CONNECTIONS],
    ids=[b[0] for b in BAD_CONNECTIONS],
)
def test_bad_connections_are_expected_errors(
    fields: dict[str, Any], message: str, moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    if fields:
        monkeypatch.setenv("AIRFLOW_CONN_BROKEN", json.dumps(fields))
    error = failure({"action": "list_objects", "bucket": "b", "connection": "broken"})
    assert isinstance(error, ExpectedError)
    assert message in error.message
    assert error.details["kind"] == "connection"


REFUSED = ["access_key", "secret_key", "aws_access_key_id", "aws_secret_access_key",
           "aws_session_token", "session_token", "password", "credentials", "token",
           "SecretAccessKey"]  # fmt: skip


@pytest.mark.parametrize("name", REFUSED)
def test_inline_credentials_are_refused(name: str) -> None:
    with pytest.raises(ValidationError) as info:
        S3Inputs.model_validate({"action": "list_objects", "bucket": "b", name: "AKIDXYZ"})
    message = str(info.value)
    assert f'argument "{name}" is not accepted: credentials are never written in a grid' in (
        message
    )
    assert 'connection = "my_s3"' in message
    assert S3Inputs.refused_argument(name) is not None
    assert S3Inputs.refused_argument("key") is None  # the object key is an argument


def test_inline_credentials_are_a_load_error_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "main.hcl").write_text(
        textwrap.dedent(
            """
            step "s3" "put" {
              arguments {
                action            = "list_objects"
                bucket            = "b"
                secret_access_key = "abc"
              }
            }
            """
        )
    )
    with pytest.raises(LoadError) as info:
        load_grid([tmp_path])
    [diag] = info.value.diagnostics
    assert (diag.line, diag.code) == (6, "refused-argument")
    assert diag.message == 'argument "secret_access_key" is not accepted by step "s3.put"'
    assert diag.hint.startswith("credentials are never written in a grid")


# --------------------------------------------------------------------- secrets


def test_connection_secrets_never_reach_logs_or_outputs(
    moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore logs request headers at DEBUG, the session token among them:
    the runner must have registered it with the run's masker."""
    token = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"
    monkeypatch.setenv("AIRFLOW_CONN_TEMP", json_conn(moto_s3.url, aws_session_token=token))
    bucket = moto_s3.new_bucket()
    masker = Masker()
    raw: list[str] = []
    masked = io.StringIO()

    class Raw(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raw.append(record.getMessage())

    shown = logging.StreamHandler(masked)
    shown.addFilter(MaskingFilter(masker))
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    handlers = [Raw(), shown]  # Raw first: MaskingFilter rewrites the record
    for handler in handlers:
        root.addHandler(handler)
    try:
        ctx = RunContext(step_id="s3.secret", mask=masker.add, logger=logging.getLogger("t"))
        put = run({"action": "put_object", "bucket": bucket, "key": "k", "body": "x",
                   "connection": "temp"}, ctx)  # fmt: skip
        url = run({"action": "presign", "bucket": bucket, "key": "k", "method": "GET",
                   "connection": "temp"}, ctx)["url"]  # fmt: skip
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(old_level)
    assert any(token in line for line in raw), "botocore did not log the token: test is void"
    assert token in url  # the URL carries it: that is why url is a sensitive output
    assert "url" in S3Runner.sensitive_outputs
    text = masked.getvalue()
    assert text, "nothing was logged"
    for secret in (token, SECRET_ACCESS_KEY):
        assert secret not in text
        assert secret not in json.dumps(put)
    assert masker.secrets_in([token, SECRET_ACCESS_KEY]) == sorted([token, SECRET_ACCESS_KEY])


# ----------------------------------------------------------------------- errors


def test_missing_bucket(moto_s3: MotoS3) -> None:
    for action in ("get_object", "put_object", "list_objects"):
        args: dict[str, Any] = {"action": action, "bucket": "no-such-bucket-here",
                                "connection": CONN}  # fmt: skip
        if action != "list_objects":
            args["key"] = "k"
        if action == "put_object":
            args["body"] = "x"
        error = failure(args)
        assert isinstance(error, ExpectedError), action
        assert error.details["kind"] == "no_such_bucket"
        assert error.message.startswith(
            f"s3 {action} s3://no-such-bucket-here/{args.get('key', '')}: bucket "
            f"'no-such-bucket-here' does not exist at {moto_s3.url} (NoSuchBucket"
        )
        assert "create it, or check the bucket name, region and endpoint_url" in error.message


def test_missing_bucket_for_a_multipart_file(moto_s3: MotoS3, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    error = failure({"action": "put_object", "bucket": "no-such-bucket-mp", "key": "k",
                     "file": str(path), "connection": CONN})  # fmt: skip
    assert isinstance(error, ExpectedError)
    assert error.details["kind"] == "no_such_bucket"


def test_missing_key(moto_s3: MotoS3) -> None:
    bucket = moto_s3.new_bucket()
    error = failure({"action": "get_object", "bucket": bucket, "key": "Nope.txt",
                     "connection": CONN})  # fmt: skip
    assert isinstance(error, ExpectedError)
    assert error.details == {
        "kind": "no_such_key", "bucket": bucket, "key": "Nope.txt", "endpoint": moto_s3.url,
        "code": "NoSuchKey", "status": 404}  # fmt: skip
    assert f"key 'Nope.txt' not found in bucket '{bucket}'" in error.message
    assert 'list the bucket with action = "list_objects"' in error.message


def test_endpoint_refusing_connections_is_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AIRFLOW_CONN_DOWN", json_conn(endpoint))
    started = time.monotonic()
    error = failure({"action": "list_objects", "bucket": "b", "connection": "down"})
    assert isinstance(error, RetryableError)
    assert error.details == {"kind": "connect", "bucket": "b", "endpoint": endpoint}
    assert error.message.startswith(f"s3 list_objects s3://b/: could not reach {endpoint}")
    assert "check endpoint_url and that the store is up" in error.message
    assert time.monotonic() - started < 30  # botocore's own retries stay short


# (id, upload status path on the test server, error class, kind)
UPLOAD_STATUSES: list[tuple[str, str, type[RunnerError], str]] = [
    ("forbidden", "/status/403", ExpectedError, "access_denied"),
    ("not-found", "/status/404", ExpectedError, "s3"),
    ("slow-down", "/status/429", RetryableError, "throttled"),
    ("unavailable", "/status/503", RetryableError, "server"),
]


@pytest.mark.parametrize(
    ("path", "cls", "kind"), [u[1:] for u in UPLOAD_STATUSES], ids=[u[0] for u in UPLOAD_STATUSES]
)
def test_presigned_upload_refused(
    path: str, cls: type[RunnerError], kind: str, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    source = tmp_path / "f"
    source.write_text("data")
    url = f"{http_server.url}{path}?X-Amz-Signature=abcdef0123456789"
    error = failure({"action": "upload", "source_path": str(source), "upload_url": url})
    assert type(error) is cls
    assert error.details["kind"] == kind
    assert "X-Amz-Signature" not in error.message  # the URL's query is a credential
    assert error.message.startswith(f"s3 upload {http_server.url}{path}: ")


def test_upload_of_a_missing_file(tmp_path: Path) -> None:
    error = failure({"action": "upload", "source_path": str(tmp_path / "nope"),
                     "upload_url": "http://127.0.0.1:9/x"})  # fmt: skip
    assert isinstance(error, ExpectedError)
    assert error.message == (
        f"s3: source_path {tmp_path / 'nope'} does not exist on this worker; give the path of "
        f"a file that the worker running the step can read"
    )


def test_upload_to_a_closed_port_is_retryable(tmp_path: Path) -> None:
    source = tmp_path / "f"
    source.write_text("data")
    url = f"http://127.0.0.1:{free_port()}/b/k?X-Amz-Signature=s"
    error = failure({"action": "upload", "source_path": str(source), "upload_url": url})
    assert isinstance(error, RetryableError)
    assert error.details["kind"] == "connect"


def test_dest_path_in_a_missing_folder(moto_s3: MotoS3, tmp_path: Path) -> None:
    bucket = moto_s3.new_bucket()
    moto_s3.client().put_object(Bucket=bucket, Key="k", Body=b"x")
    error = failure({"action": "get_object", "bucket": bucket, "key": "k", "connection": CONN,
                     "dest_path": str(tmp_path / "missing" / "f")})  # fmt: skip
    assert isinstance(error, ExpectedError)
    assert "the folder of dest_path" in error.message


# (id, S3 error code, HTTP status, class, kind): how answers are classified.
CLASSIFIED: list[tuple[str, str, int, type[RunnerError], str]] = [
    ("no-such-bucket", "NoSuchBucket", 404, ExpectedError, "no_such_bucket"),
    ("no-such-key", "NoSuchKey", 404, ExpectedError, "no_such_key"),
    ("head-404", "", 404, ExpectedError, "no_such_key"),
    ("access-denied", "AccessDenied", 403, ExpectedError, "access_denied"),
    ("bad-key-id", "InvalidAccessKeyId", 403, ExpectedError, "access_denied"),
    ("bad-signature", "SignatureDoesNotMatch", 403, ExpectedError, "access_denied"),
    ("slow-down", "SlowDown", 503, RetryableError, "throttled"),
    ("throttling-400", "Throttling", 400, RetryableError, "throttled"),
    ("internal", "InternalError", 500, RetryableError, "server"),
    ("unavailable", "ServiceUnavailable", 503, RetryableError, "server"),
    ("request-timeout-400", "RequestTimeout", 400, RetryableError, "server"),
    ("bad-gateway", "", 502, RetryableError, "server"),
    ("other-4xx", "InvalidBucketName", 400, ExpectedError, "s3"),
]


@pytest.mark.parametrize(
    ("code", "status", "cls", "kind"), [c[1:] for c in CLASSIFIED], ids=[c[0] for c in CLASSIFIED]
)
def test_s3_answers_are_classified_by_code_and_status(
    code: str, status: int, cls: type[RunnerError], kind: str
) -> None:
    target = _Target("get_object", "b", "k", "http://127.0.0.1:9", "c")
    error = _from_s3(code, status, "S3 says why", target)
    assert type(error) is cls
    assert error.details["kind"] == kind
    assert error.message.startswith("s3 get_object s3://b/k: ")
    # The same answer as botocore raises it (HEAD answers carry the status as code).
    raised = ClientError(
        {"Error": {"Code": code or str(status), "Message": "S3 says why"},
         "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )  # fmt: skip
    converted = _converted(raised, target)
    assert (type(converted), converted.details["kind"]) == (cls, kind)


def test_timeouts_and_connection_failures_are_retryable() -> None:
    target = _Target("put_object", "b", "k", "http://127.0.0.1:9")
    timeout = _converted(ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), target)
    assert (type(timeout), timeout.details["kind"]) == (RetryableError, "timeout")
    refused = _converted(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), target)
    assert (type(refused), refused.details["kind"]) == (RetryableError, "connect")


# ------------------------------------------------------------- argument checks

# (id, arguments, message part)
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("put-without-content", {"action": "put_object", "bucket": "b", "key": "k"},
     "action put_object needs exactly one of body (text) and file (a local path)"),
    ("put-with-both", {"action": "put_object", "bucket": "b", "key": "k", "body": "x",
                       "file": "/f"},
     "needs exactly one of body"),
    ("get-without-key", {"action": "get_object", "bucket": "b"}, "action get_object needs key"),
    ("upload-without-url", {"action": "upload", "source_path": "/f"},
     "action upload needs upload_url"),
    ("upload-with-bucket", {"action": "upload", "source_path": "/f", "upload_url": "http://h",
                            "bucket": "b"},
     "action upload does not use bucket (it takes content_type, metadata, source_path, "
     "upload_url)"),
    ("stray-prefix", {"action": "get_object", "bucket": "b", "key": "k", "prefix": "p"},
     "action get_object does not use prefix"),
    ("presign-without-method", {"action": "presign", "bucket": "b", "key": "k"},
     "action presign needs method"),
    ("presign-bad-method", {"action": "presign", "bucket": "b", "key": "k", "method": "POST"},
     "Input should be 'GET' or 'PUT'"),
    ("presign-too-long", {"action": "presign", "bucket": "b", "key": "k", "method": "GET",
                          "expires": "200h"},
     "presigned URLs are valid at most 7 days"),
    ("presign-get-with-type", {"action": "presign", "bucket": "b", "key": "k", "method": "GET",
                               "content_type": "text/plain"},
     "content_type and metadata are signed into PUT URLs only"),
    ("bad-size", {"action": "put_object", "bucket": "b", "key": "k", "body": "x",
                  "multipart_threshold": "5 parsecs"},
     '"5 parsecs" is not a size; write bytes (5242880) or a size with a unit'),
    ("unknown-action", {"action": "copy_object", "bucket": "b"}, "Input should be 'upload'"),
    ("empty-bucket", {"action": "list_objects", "bucket": ""}, "at least 1 character"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), [i[1:] for i in INVALID], ids=[i[0] for i in INVALID])
def test_invalid_arguments(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        S3Inputs.model_validate(args)
    assert message in str(info.value)


def test_sizes_and_method_are_normalised() -> None:
    inputs = S3Inputs.model_validate(
        {"action": "presign", "bucket": "b", "key": "k", "method": "put"}
    )
    assert inputs.method == "PUT"
    for text, size in (("5MiB", 5 * MIB), ("8MB", 8_000_000), ("512KiB", 512 * 1024),
                       ("100", 100), (7, 7)):  # fmt: skip
        parsed = S3Inputs.model_validate(
            {
                "action": "put_object",
                "bucket": "b",
                "key": "k",
                "body": "",
                "multipart_threshold": text,
            }
        )
        assert parsed.multipart_threshold == size


def test_uses_client_only_for_upload(moto_s3: MotoS3) -> None:
    async def go() -> None:
        inputs = S3Inputs.model_validate({"action": "list_objects", "bucket": "b"})
        ctx = RunContext(step_id="s", resources={"client": object()})
        await S3Runner().run(inputs, ctx)

    with pytest.raises(ExpectedError, match=r"uses\.client applies to action upload only"):
        asyncio.run(go())


# ---------------------------------------------------------------- client cache


def test_one_client_per_settings(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connections.lookup(CONN)
    first = _aws.client_for(_aws.client_settings(conn, endpoint_url=None, region=None))
    again = _aws.client_for(_aws.client_settings(conn, endpoint_url=None, region=None))
    other_region = _aws.client_for(
        _aws.client_settings(conn, endpoint_url=None, region="eu-west-1")
    )
    rotated = connections.parse_connection(
        CONN, json_conn(moto_s3.url).replace(SECRET_ACCESS_KEY, "rotated-secret")
    )
    after_rotation = _aws.client_for(_aws.client_settings(rotated, endpoint_url=None, region=None))
    assert first is again
    assert other_region is not first
    assert after_rotation is not first
    settings = _aws.client_settings(conn, endpoint_url=None, region=None)
    assert SECRET_ACCESS_KEY not in repr(settings)
