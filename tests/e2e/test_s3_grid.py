"""s3 steps in whole grids (``gridflow run -o json``) on the local and Prefect
engines, against moto's S3 on 127.0.0.1; and the Prefect GridflowConnection
block as a connection source (real Prefect API: the session's temporary server).
"""

from __future__ import annotations

import concurrent.futures
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from gridflow import connections
from tests.e2e.conftest import GridRunner
from tests.support.moto_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, MotoS3

GRID = """
variable "bucket" {{ type = string }}
variable "source" {{ type = string }}

step "s3" "put" {{
  arguments {{
    action     = "put_object"
    bucket     = var.bucket
    key        = "greeting.txt"
    body       = "hello from a grid"
    connection = "{conn}"
  }}
}}
step "s3" "sign" {{
  arguments {{
    action     = "presign"
    bucket     = var.bucket
    key        = "uploads/report.csv"
    method     = "PUT"
    expires    = "5m"
    connection = "{conn}"
  }}
}}
step "s3" "upload" {{
  arguments {{
    action      = "upload"
    source_path = var.source
    upload_url  = s3.sign.output.url
  }}
}}
step "s3" "get" {{
  depends_on = ["s3.upload"]
  arguments {{
    action     = "get_object"
    bucket     = var.bucket
    key        = "uploads/report.csv"
    connection = "{conn}"
  }}
}}
step "s3" "list" {{
  depends_on = ["s3.put", "s3.upload"]
  arguments {{
    action     = "list_objects"
    bucket     = var.bucket
    connection = "{conn}"
  }}
}}
"""


def moto_connection(moto_s3: MotoS3) -> dict[str, Any]:
    return {
        "conn_type": "aws",
        "login": ACCESS_KEY_ID,
        "password": SECRET_ACCESS_KEY,
        "extra": {"region_name": REGION, "endpoint_url": moto_s3.url},
    }


def check_run(result: Any, bucket: str, data: str) -> None:
    assert result.exit_code == 0, result.stderr
    doc = result.doc
    assert doc["status"] == "success"
    assert result.step("s3.put")["outputs"][0]["status"] == 200
    # The presigned URL works downstream but is masked in the result.
    assert result.step("s3.sign")["outputs"][0]["url"] == "***"
    assert result.step("s3.upload")["outputs"][0]["size"] == len(data)
    assert result.step("s3.get")["outputs"][0]["body"] == data
    assert result.step("s3.list")["outputs"][0]["keys"] == ["greeting.txt", "uploads/report.csv"]
    for secret in (SECRET_ACCESS_KEY, "X-Amz-Signature"):
        assert secret not in result.stdout
        assert secret not in result.stderr


def test_s3_steps_in_a_grid(
    run_grid: GridRunner, moto_s3: MotoS3, tmp_path: Path, engine: str
) -> None:
    bucket = moto_s3.new_bucket("grid")
    source = tmp_path / "report.csv"
    data = "a,b\n1,2\n"
    source.write_text(data)
    result = run_grid(
        GRID.format(conn="moto_grid"),
        "-v",
        "-var",
        f"bucket={bucket}",
        "-var",
        f"source={source}",
        env={"AIRFLOW_CONN_MOTO_GRID": json.dumps(moto_connection(moto_s3))},
    )
    check_run(result, bucket, data)


def test_missing_connection_fails_the_step_with_the_lookup_message(
    run_grid: GridRunner, moto_s3: MotoS3, engine: str
) -> None:
    result = run_grid(
        """
        step "s3" "ls" {
          arguments {
            action     = "list_objects"
            bucket     = "anything"
            connection = "nowhere_defined"
          }
        }
        """
    )
    assert result.exit_code == 1
    assert result.step("s3.ls")["status"] == "failed"
    assert "connection 'nowhere_defined' is not defined" in json.dumps(result.doc)


@pytest.mark.integration
@pytest.mark.parametrize("engine", ["prefect"], indirect=True)
def test_prefect_block_is_a_connection_source(
    engine: str, moto_s3: MotoS3, run_grid: GridRunner, tmp_path: Path
) -> None:
    """Saved as a block through Prefect's API, found by the Prefect engine's
    resolver from the runner's worker threads, used by boto3."""
    from gridflow.prefect_blocks import GridflowConnection, block_name, block_resolver

    conn_id = f"blk_{uuid.uuid4().hex[:8]}"
    fields = moto_connection(moto_s3)
    GridflowConnection(
        conn_type="aws",
        login=fields["login"],
        password=fields["password"],
        extra={"endpoint_url": moto_s3.url},
        secret_extra={"region_name": REGION, "aws_session_token": "tok-from-block"},
    ).save(block_name(conn_id))

    # The resolver from a plain thread (as the s3 runner calls it).
    resolve = block_resolver()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        found = pool.submit(resolve, conn_id).result(timeout=60)
        missing = pool.submit(resolve, "no_such_block").result(timeout=60)
    assert found is not None
    assert (found.conn_type, found.login, found.password) == (
        "aws",
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
    )
    assert found.extra == {
        "endpoint_url": moto_s3.url,
        "region_name": REGION,
        "aws_session_token": "tok-from-block",
    }
    assert connections.secret_values(found) == [SECRET_ACCESS_KEY, "tok-from-block"]
    assert missing is None

    # A whole grid on the Prefect engine: no AIRFLOW_CONN_/GRIDFLOW_CONN_ variable.
    bucket = moto_s3.new_bucket("blk")
    source = tmp_path / "r.csv"
    source.write_text("x\n")
    result = run_grid(
        GRID.format(conn=conn_id),
        "-var",
        f"bucket={bucket}",
        "-var",
        f"source={source}",
    )
    check_run(result, bucket, "x\n")
    assert "tok-from-block" not in result.stdout
