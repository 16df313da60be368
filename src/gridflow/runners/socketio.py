"""``socketio``: one Socket.IO exchange with python-socketio's asyncio client.

Arguments (burstgridgo's names): ``url`` (``http``, ``https``, ``ws`` or
``wss``; its path says where the server is mounted, ``/socket.io`` appended
unless it already ends so), ``namespace`` (``"/"``), ``auth`` (an object sent
with the connect packet; sensitive), ``headers`` (sent with the handshake),
``timeout`` (10s, bounds the whole exchange, connecting included),
``insecure_skip_verify`` (false), and the exchange, written one of two ways:

- simple: ``emit_event`` with optional ``emit_data``, then wait for
  ``on_event`` (each part optional; with none of them the step only connects
  and disconnects, a connectivity check);
- ``sequence``: a list of ``{emit = "ev", data = ...}`` and
  ``{expect = "ev", timeout = "2s"}`` items run in order.

Output: ``response_data`` (data of the last expected event: one argument as
is, several as a list, binary as base64 text), ``received`` (every expected
event as ``{event, data, after_ms}``), ``events`` (every event received on the
namespace, expected or not), ``connect_ms`` and ``duration_ms`` (both from the
start of connecting).

Failures, all with ``details["kind"]`` (see
:mod:`gridflow.runners._socketio_exchange` for why these types): ``connect``,
``timeout`` and ``disconnect`` are :class:`~gridflow.errors.RetryableError`;
a URL that cannot work is an :class:`~gridflow.errors.ExpectedError`, most often
already reported when the grid loads.

The connection arguments are exactly what
:func:`gridflow.hooks.arguments.socketio_arguments` makes of an Airflow
``socketio`` connection, so a step can take them from one. Secrets: ``auth``
is a sensitive input, and :meth:`SocketIORunner.secret_input_values` names
credential header values (Authorization, Cookie, names that look secret).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from gridflow.runners._masking import credential_header_values
from gridflow.runners._socketio_exchange import (
    DEFAULT_TIMEOUT_S,
    Action,
    Emit,
    Expect,
    Settings,
    check_event_name,
    engine_io_target,
    exchange,
)
from gridflow.runners._types import PositiveDuration, Text
from gridflow.runners.base import RunContext, Runner, RunnerInputs, RunnerOutputs

_HOW = (
    "write the exchange one way: either emit_event / emit_data / on_event, or a sequence of "
    '{ emit = "<event>", data = ... } and { expect = "<event>", timeout = "2s" } items'
)


def _url(value: str) -> str:
    engine_io_target(value)  # raises ValueError saying how to fix it
    return value


def _namespace(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f'namespace "{value}" must start with "/", e.g. "/{value}"')
    return value


SocketIOURL = Annotated[str, Field(min_length=1), AfterValidator(_url)]
Namespace = Annotated[str, AfterValidator(_namespace)]
EventName = Annotated[str, Field(min_length=1), AfterValidator(check_event_name)]


class SequenceItem(BaseModel):
    """``{ emit = "ev", data = ... }`` or ``{ expect = "ev", timeout = "2s" }``."""

    model_config = ConfigDict(extra="forbid")
    emit: EventName | None = None
    data: Any = None
    expect: EventName | None = None
    timeout: PositiveDuration | None = None

    @model_validator(mode="after")
    def _one_action(self) -> SequenceItem:
        if self.emit is not None and self.expect is not None:
            raise ValueError(
                f'an item has both emit = "{self.emit}" and expect = "{self.expect}"; split it '
                f'into {{ emit = "{self.emit}" }} followed by {{ expect = "{self.expect}" }}'
            )
        if self.emit is None and self.expect is None:
            raise ValueError(
                'each item needs emit = "<event>" (with optional data) or '
                'expect = "<event>" (with optional timeout)'
            )
        if self.emit is not None and self.timeout is not None:
            raise ValueError(
                f'timeout belongs to expect items; emit = "{self.emit}" sends without '
                f"waiting: remove its timeout"
            )
        if self.expect is not None and "data" in self.model_fields_set:
            raise ValueError(
                f'data belongs to emit items; expect = "{self.expect}" receives data: '
                f"remove it, and read the event's data from the output"
            )
        return self

    def action(self) -> Action:
        if self.emit is not None:
            return Emit(self.emit, self.data)
        assert self.expect is not None  # by _one_action
        return Expect(self.expect, self.timeout)


class SocketIOInputs(RunnerInputs):
    url: SocketIOURL
    namespace: Namespace = "/"
    auth: dict[str, Any] | None = None
    headers: dict[str, Text] = Field(default_factory=dict)
    timeout: PositiveDuration = DEFAULT_TIMEOUT_S
    insecure_skip_verify: bool = False
    emit_event: EventName | None = None
    emit_data: Any = None
    on_event: EventName | None = None
    sequence: list[SequenceItem] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> SocketIOInputs:
        simple = [
            name
            for name in ("emit_event", "emit_data", "on_event")
            if getattr(self, name) is not None
        ]
        if self.sequence is not None and simple:
            raise ValueError(f"sequence and {' and '.join(simple)} are both set; {_HOW}")
        if self.sequence == []:
            raise ValueError(
                'sequence is empty; list what to do, e.g. [{ emit = "ping" }, '
                '{ expect = "pong" }], or remove it to only connect'
            )
        if self.emit_data is not None and self.emit_event is None:
            raise ValueError(
                "emit_data is set without emit_event; name the event that carries it: "
                'emit_event = "<event>"'
            )
        for item in self.sequence or ():
            if item.timeout is not None and item.timeout > self.timeout:
                raise ValueError(
                    f'expect "{item.expect}" waits up to {item.timeout:g}s, longer than '
                    f"timeout ({self.timeout:g}s), which bounds the whole exchange; raise "
                    f"timeout or lower the item's"
                )
        return self

    def settings(self) -> Settings:
        return Settings(
            url=self.url,
            namespace=self.namespace,
            auth=self.auth,
            headers=self.headers,
            timeout_s=self.timeout,
            verify_tls=not self.insecure_skip_verify,
        )

    def plan(self) -> list[Action]:
        if self.sequence is not None:
            return [item.action() for item in self.sequence]
        plan: list[Action] = []
        if self.emit_event is not None:
            plan.append(Emit(self.emit_event, self.emit_data))
        if self.on_event is not None:
            plan.append(Expect(self.on_event))
        return plan


class ReceivedEvent(RunnerOutputs):
    event: str
    data: Any = None
    after_ms: float


class SocketIOOutputs(RunnerOutputs):
    response_data: Any = None
    received: list[ReceivedEvent]
    events: int
    connect_ms: float
    duration_ms: float


class SocketIORunner(Runner[SocketIOInputs, SocketIOOutputs]):
    """Connects, emits and waits for events, disconnects; reports data and timings."""

    name = "socketio"
    Inputs = SocketIOInputs
    Outputs = SocketIOOutputs
    description = "Exchange Socket.IO events (emit, wait for a reply, or a sequence of both)."
    sensitive_inputs: ClassVar[frozenset[str]] = frozenset({"auth"})

    @staticmethod
    def secret_input_values(arguments: Mapping[str, Any]) -> list[str]:
        """Header values in ``arguments`` that carry credentials."""
        return credential_header_values(arguments.get("headers"))

    async def run(self, inputs: SocketIOInputs, ctx: RunContext) -> SocketIOOutputs:
        result = await exchange(inputs.settings(), inputs.plan())
        return SocketIOOutputs(
            response_data=result.response_data,
            received=[ReceivedEvent(**r.as_dict()) for r in result.received],
            events=result.events,
            connect_ms=result.connect_ms,
            duration_ms=result.duration_ms,
        )
