"""Connections the real Airflow of the test session sees, as ``AIRFLOW_CONN_*`` env.

Airflow reads connections from environment variables holding JSON; the
servers get these when the harness starts them (``conftest.py`` merges
:data:`AIRFLOW_TEST_CONNECTIONS` into their environment), so tasks resolve
them exactly as a user's would. No Airflow import here: this module is read
before Airflow starts.
"""

from __future__ import annotations

import json
from typing import Final

#: A password long enough for Airflow's masker (it skips secrets under 5 chars)
#: and unlike anything else a task log contains.
MASK_TEST_PASSWORD: Final = "gf-mask-Pa55w0rd-7f3a9c"
MASK_TEST_TOKEN: Final = "gf-mask-t0ken-51d2e8b4"
MASK_TEST_API_KEY: Final = "gf-mask-apikey-0c77e1aa"

MASK_HTTP_CONN_ID: Final = "gridflow_mask_http"
MASK_SOCKETIO_CONN_ID: Final = "gridflow_mask_socketio"


def env_name(conn_id: str) -> str:
    """The environment variable Airflow reads connection ``conn_id`` from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def connection_json(**fields: object) -> str:
    """A connection in Airflow's JSON form (``conn_type``, ``host``, ``extra``...)."""
    return json.dumps(fields)


#: Env name → JSON, merged into the environment of every Airflow process.
AIRFLOW_TEST_CONNECTIONS: Final[dict[str, str]] = {
    env_name(MASK_HTTP_CONN_ID): connection_json(
        conn_type="http",
        host="127.0.0.1",
        schema="http",
        port=9,  # discard port: the masking test never sends a request
        login="mask-user",
        password=MASK_TEST_PASSWORD,
        # An option besides the headers, so the headers' JSON differs from the
        # whole extra (which Airflow masks as one string by itself).
        extra={"X-Api-Key": MASK_TEST_API_KEY, "X-Team": "perf-team", "timeout": 7},
    ),
    env_name(MASK_SOCKETIO_CONN_ID): connection_json(
        conn_type="socketio",
        host="127.0.0.1",
        port=9,
        password=MASK_TEST_TOKEN,
        extra={"namespace": "/chat"},
    ),
}
