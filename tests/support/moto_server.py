"""A real S3 endpoint for tests: moto in server mode on 127.0.0.1.

``ThreadedMotoServer`` serves moto's S3 over real HTTP (werkzeug, one
thread per request) on a random free port, so boto3, the transfer manager,
presigned URLs and plain HTTP PUTs are exercised exactly as against a real
store. One server per session (the ``moto_s3`` fixture); its state is
shared, so each test makes its own buckets (:meth:`MotoS3.new_bucket`).

The fixture also cuts the tests off from any real AWS account: no shared
config or credentials files, no instance-metadata lookups (169.254.169.254
is outside 127.0.0.0/8), no AWS_* variables from the environment.

Usage::

    def test_x(moto_s3: MotoS3) -> None:
        bucket = moto_s3.new_bucket()
        moto_s3.client().put_object(Bucket=bucket, Key="k", Body=b"v")
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REGION = "us-east-1"
# moto accepts any key pair; these are what the tests' connections carry.
ACCESS_KEY_ID = "AKIDGRIDFLOWTEST01"
SECRET_ACCESS_KEY = "gridflow/Test+Secret=Key"  # "/", "+", "=" must survive URI encoding


class MotoS3:
    """A started moto server; ``url`` is its endpoint (no trailing slash)."""

    def __init__(self) -> None:
        # Imported here: moto (and Flask under it) is heavy, and this module is
        # imported by the root conftest of every test session.
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._client: S3Client | None = None
        self.url = ""

    def start(self) -> None:
        # werkzeug logs every request line (presigned signatures included) at
        # INFO: that is the store's access log, not the client's, and it would
        # land in the output of the runs under test.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.stop()

    def client(self) -> S3Client:
        """A boto3 client of its own, for arranging and checking state (one, reused)."""
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _new_client(self) -> S3Client:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            region_name=REGION,
        ).client("s3", endpoint_url=self.url)

    def new_bucket(self, prefix: str = "t", *, versioned: bool = False) -> str:
        """A fresh, empty bucket with a unique name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        client = self.client()
        client.create_bucket(Bucket=name)
        if versioned:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name


# Environment of every test session that uses S3: nothing reaches a real account.
ISOLATED_ENV: dict[str, str] = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_REMOVED_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """moto's S3 on 127.0.0.1 (random port) for the whole session, AWS env isolated."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in ISOLATED_ENV.items():
            patch.setenv(name, value)
        for name in _REMOVED_ENV:
            patch.delenv(name, raising=False)
        server = MotoS3()
        server.start()
        try:
            yield server
        finally:
            server.stop()


def aws_env(**more: Any) -> dict[str, str]:
    """Default-chain credentials in environment-variable form (for monkeypatch)."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        **{k: str(v) for k, v in more.items()},
    }
