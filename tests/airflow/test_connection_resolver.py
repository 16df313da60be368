"""Airflow's connections as gridflow's connection source, in this process.

Airflow's Task SDK resolves ``AIRFLOW_CONN_*`` JSON here without servers, the
same code path a task uses for its secrets backends; the s3 runner then uses
the connection against moto's S3 on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import pytest
from tests.support.moto_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, MotoS3

from gridflow import connections
from gridflow.errors import ExpectedError
from gridflow.hooks.connections import RESOLVER_NAME, airflow_connection, register
from gridflow.runners.base import RunContext
from gridflow.runners.s3 import S3Inputs, S3Runner

pytestmark = pytest.mark.airflow


@pytest.fixture(autouse=True)
def _registered() -> Iterator[None]:
    register()
    yield
    connections.set_resolver(None)


def unique_id() -> str:
    # Unique ids: the Task SDK may cache what it resolved.
    return f"gf_resolver_{uuid.uuid4().hex[:8]}"


def test_airflow_connection_in_gridflow_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = unique_id()
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps(
            {
                "conn_type": "aws",
                "login": ACCESS_KEY_ID,
                "password": SECRET_ACCESS_KEY,
                "extra": {"region_name": REGION, "aws_session_token": "tok-af"},
            }
        ),
    )
    found = airflow_connection(conn_id)
    assert found is not None
    assert (found.conn_id, found.conn_type, found.login, found.password) == (
        conn_id,
        "aws",
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
    )
    assert found.extra == {"region_name": REGION, "aws_session_token": "tok-af"}
    assert found.source == RESOLVER_NAME
    assert connections.lookup(conn_id).source == RESOLVER_NAME  # asked before env parsing


def test_unknown_id_falls_through_and_names_airflow() -> None:
    missing = unique_id()
    assert airflow_connection(missing) is None
    with pytest.raises(ExpectedError) as info:
        connections.lookup(missing)
    assert f"(looked in: {RESOLVER_NAME}, $GRIDFLOW_CONN_" in str(info.value)


def test_s3_step_with_an_airflow_connection(
    moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = unique_id()
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps(
            {
                "conn_type": "aws",
                "login": ACCESS_KEY_ID,
                "password": SECRET_ACCESS_KEY,
                "extra": {"region_name": REGION, "endpoint_url": moto_s3.url},
            }
        ),
    )
    bucket = moto_s3.new_bucket("af")
    inputs = S3Inputs.model_validate(
        {
            "action": "put_object",
            "bucket": bucket,
            "key": "k",
            "body": "from airflow",
            "connection": conn_id,
        }
    )
    out = asyncio.run(S3Runner().run(inputs, RunContext(step_id="s3.af")))
    assert out.status == 200
    assert moto_s3.client().get_object(Bucket=bucket, Key="k")["Body"].read() == b"from airflow"
