"""Prefect Blocks holding gridflow's connections (the Prefect side of
:mod:`gridflow.connections`). Imports Prefect: only the Prefect engine and
users who save blocks import this module.

A :class:`GridflowConnection` block has the fields of an Airflow connection,
so one description serves both engines::

    from gridflow.prefect_blocks import GridflowConnection

    GridflowConnection(
        conn_type="aws",
        login="AKIA...",                       # access key id
        password="...",                        # secret access key (stored encrypted)
        extra={"region_name": "eu-west-1", "endpoint_url": "http://127.0.0.1:9000"},
        secret_extra={"aws_session_token": "..."},   # optional, stored encrypted
    ).save("my-s3")

A step with ``connection = "my_s3"`` then finds it on the Prefect engine:
block names allow only lower-case letters, digits and dashes, so the
connection id is looked up as :func:`block_name` of it (lower-cased, every
other character a dash: ``my_s3`` -> ``my-s3``). When no such block exists,
the lookup goes on to the ``GRIDFLOW_CONN_*`` / ``AIRFLOW_CONN_*``
variables.
"""

from __future__ import annotations

import contextvars
import re
from typing import Any, ClassVar, cast

from prefect.blocks.core import Block
from prefect.exceptions import ObjectNotFound
from prefect.types import SecretDict
from pydantic import Field, SecretStr

from gridflow.connections import Connection, Resolver

__all__ = ["BLOCK_TYPE_SLUG", "GridflowConnection", "block_name", "block_resolver"]

BLOCK_TYPE_SLUG = "gridflow-connection"
_NOT_NAME = re.compile(r"[^a-z0-9-]")


class GridflowConnection(Block):
    """A connection for gridflow steps, in Airflow's shape (see the module docstring)."""

    _block_type_name: ClassVar[str | None] = "Gridflow Connection"
    _block_type_slug: ClassVar[str | None] = BLOCK_TYPE_SLUG
    _description: ClassVar[str | None] = (
        'Credentials and settings a gridflow step names with connection = "..." '
        "(the fields of an Airflow connection: type, host, port, login, password, schema, "
        "extra)."
    )

    conn_type: str = Field(default="", description="Connection type, as in Airflow: aws, http.")
    host: str | None = Field(default=None, description="Host name or URL.")
    port: int | None = Field(default=None, ge=1, le=65535)
    login: str | None = Field(default=None, description="User name; for aws the access key id.")
    password: SecretStr | None = Field(
        default=None, description="Password; for aws the secret access key."
    )
    # Airflow's "schema" field; the name "schema" is taken by pydantic.
    conn_schema: str | None = Field(default=None, description="Airflow's Schema field.")
    extra: dict[str, Any] = Field(
        default_factory=dict, description="Options, as Airflow's Extra (JSON object)."
    )
    secret_extra: SecretDict | None = Field(
        default=None,
        description="Extra options that are secrets (e.g. aws_session_token); merged over extra.",
    )

    def to_connection(self, conn_id: str) -> Connection:
        """This block as the engine-neutral :class:`~gridflow.connections.Connection`."""
        extra = dict(self.extra)
        if self.secret_extra is not None:
            extra.update(self.secret_extra.get_secret_value())
        return Connection(
            conn_id=conn_id,
            conn_type=self.conn_type,
            host=self.host or None,
            port=self.port,
            login=self.login or None,
            password=self.password.get_secret_value() if self.password else None,
            schema=self.conn_schema or None,
            extra=extra,
            source=f"Prefect block {BLOCK_TYPE_SLUG}/{block_name(conn_id)}",
        )


def block_name(conn_id: str) -> str:
    """The block document name a connection id is looked up under."""
    return _NOT_NAME.sub("-", conn_id.lower())


def block_resolver() -> Resolver:
    """A resolver for :func:`gridflow.connections.set_resolver` loading
    :class:`GridflowConnection` blocks.

    Lookups happen in other threads (runner steps run in a thread pool), where
    Prefect's settings context — which API to ask — is not set; the resolver
    carries the context it was made in and loads each block inside a copy of it.
    """
    made_in = contextvars.copy_context()

    def resolve(conn_id: str) -> Connection | None:
        return made_in.copy().run(_load, conn_id)

    return resolve


def _load(conn_id: str) -> Connection | None:
    try:
        # _sync (a keyword of Prefect's async_dispatch, not of load's signature):
        # this is a plain thread; never let Prefect guess that it is async.
        load = cast(Any, GridflowConnection.load)
        block = load(block_name(conn_id), _sync=True)
    except ValueError as exc:
        # Prefect reports a missing block as a ValueError caused by ObjectNotFound
        # (other ValueErrors, such as a block that no longer validates, propagate).
        if isinstance(exc.__cause__, ObjectNotFound):
            return None
        raise
    if not isinstance(block, GridflowConnection):  # pragma: no cover - Prefect's contract
        raise TypeError(f"Prefect returned {type(block).__name__} for a GridflowConnection")
    return block.to_connection(conn_id)
