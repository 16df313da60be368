"""Airflow's connections as the resolver of :mod:`gridflow.connections`.

``BaseHook.get_connection`` asks everything Airflow knows: its metadata
database (through the API server on a worker), the configured secrets
backends and ``AIRFLOW_CONN_*`` variables. Airflow masks the connection's
password and extra in task logs itself; the runners also register the
secrets with the run's masker.
"""

from __future__ import annotations

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from gridflow import connections
from gridflow.connections import Connection

__all__ = ["RESOLVER_NAME", "airflow_connection", "register"]

RESOLVER_NAME = "Airflow connections"


def airflow_connection(conn_id: str) -> Connection | None:
    """The Airflow connection ``conn_id``, or None when Airflow has none by that id."""
    try:
        found = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    return Connection(
        conn_id=conn_id,
        conn_type=found.conn_type or "",
        host=found.host or None,
        port=found.port or None,
        login=found.login or None,
        password=found.password or None,
        schema=found.schema or None,
        extra=dict(found.extra_dejson),
        source=RESOLVER_NAME,
    )


def register() -> None:
    """Make Airflow's connections the first place steps look in this process."""
    connections.set_resolver(airflow_connection, name=RESOLVER_NAME)
