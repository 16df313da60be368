"""Running a job's work items: node sessions, task attempts, checks.

Engine-neutral I/O for what :class:`~gridflow.jobs.run.JobRun` hands out:
:func:`execute` turns one work item into an :class:`~gridflow.jobs.state.Outcome`
and never raises for a failure of the work itself (only cancellation
propagates). :class:`NodeSessions` keeps one open session per node, opened
on first use and reused by every task and check of that node.

Sessions come from a *session factory* (``NodeSpec -> NodeSession``):
:func:`open_session` by default, which opens a
:class:`~gridflow.nodes.local.LocalSession` for ``connection: local`` and
imports the SSH transport only when an ``ssh`` node needs it. A node whose
SSH settings live in a named connection (``conn_id``) is resolved by
:class:`NodeSessions` before its factory is called
(:func:`gridflow.nodes.ssh_connection.resolve_ssh_node`), and the
connection's secrets join the run's masker.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from gridflow.backends.actions import run_action
from gridflow.errors import ExpectedError, RunnerError
from gridflow.jobs.model import BackendCheck, HttpCheck
from gridflow.jobs.state import Outcome, TaskWork, Timer, Work
from gridflow.nodes.base import (
    CommandTimedOut,
    NodeSession,
    NodeSpec,
    NodeUnreachable,
)
from gridflow.nodes.local import LocalSession
from gridflow.nodes.ssh_connection import resolve_ssh_node
from gridflow.plan.durations import format_duration
from gridflow.runners._http import StatusSet
from gridflow.runtime.masking import Masker

if TYPE_CHECKING:
    # httpx takes 0.3-0.5 s to import; only jobs with HTTP checks need it,
    # so it is imported where a probe or a client is made.
    import httpx

log = logging.getLogger("gridflow.job")

SessionFactory = Callable[[NodeSpec], Awaitable[NodeSession]]

SSH_MODULE = "gridflow.nodes.ssh"


class TransportUnavailable(ExpectedError):
    """The node's transport cannot be used here; trying again will not help."""


async def open_session(node: NodeSpec) -> NodeSession:
    """The default session factory: local nodes run on this machine, ssh
    nodes through :mod:`gridflow.nodes.ssh` (imported on first use)."""
    if node.transport == "local":
        return LocalSession(node_id=node.id)
    if node.ssh is None:
        # NodeSessions resolves conn_id nodes before calling a factory.
        raise TransportUnavailable(
            f"node {node.id} has no SSH settings"
            + (f" (connection {node.conn_id!r} was not resolved)" if node.conn_id else "")
        )
    try:
        module = importlib.import_module(SSH_MODULE)
    except ImportError as exc:
        raise TransportUnavailable(
            f"node {node.id}: SSH transport not available in this build "
            f"({SSH_MODULE} cannot be imported: {exc}); run on local nodes or install a "
            "gridflow with SSH support"
        ) from exc
    session: NodeSession = await module.SshSession.open(node.id, node.ssh)
    return session


class NodeSessions:
    """One open session per node for a whole job, closed by :meth:`close`.

    A ``conn_id`` node's connection is looked up when the node first needs a
    session (on the worker, where the engine's connections are), once per
    job; its secrets are added to ``masker``. A failed lookup is tried again
    on the node's next attempt.
    """

    def __init__(
        self,
        nodes: dict[str, NodeSpec],
        factory: SessionFactory | None = None,
        *,
        masker: Masker | None = None,
    ) -> None:
        self._nodes = nodes
        self._factory = factory or open_session
        self._masker = masker
        self._open: dict[str, NodeSession] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, node_id: str) -> NodeSession:
        """The node's session, opened now if it is not open yet."""
        if node_id in self._open:
            return self._open[node_id]
        lock = self._locks.setdefault(node_id, asyncio.Lock())
        async with lock:
            if node_id not in self._open:
                node = await self._resolved(node_id)
                self._open[node_id] = await self._factory(node)
        return self._open[node_id]

    async def _resolved(self, node_id: str) -> NodeSpec:
        node = self._nodes[node_id]
        if node.ssh is not None or node.conn_id is None:
            return node
        # A thread: the engine's resolver may ask a database or an API.
        node, secrets = await asyncio.to_thread(resolve_ssh_node, node)
        if self._masker is not None:
            self._masker.add(secrets)
        self._nodes[node_id] = node
        return node

    async def discard(self, node_id: str) -> None:
        """Forget a session whose connection broke: the next use opens a new one."""
        session = self._open.pop(node_id, None)
        if session is not None:
            await _close_quietly(node_id, session)

    async def close(self) -> None:
        sessions, self._open = self._open, {}
        await asyncio.gather(*(_close_quietly(n, s) for n, s in sessions.items()))


async def _close_quietly(node_id: str, session: NodeSession) -> None:
    try:
        await session.close()
    except Exception:  # closing must not hide the job's result
        log.warning("closing the session of node %s failed", node_id, exc_info=True)


class HttpClients:
    """The worker's HTTP clients for probes, one per TLS setting, shared by a
    whole job (a ``during`` probe every 100 ms must not build a client each time)."""

    def __init__(self) -> None:
        self._clients: dict[bool, httpx.AsyncClient] = {}

    def get(self, verify_tls: bool) -> httpx.AsyncClient:
        client = self._clients.get(verify_tls)
        if client is None:
            import httpx

            client = httpx.AsyncClient(verify=verify_tls, follow_redirects=True)
            self._clients[verify_tls] = client
        return client

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()


async def execute(work: Work, sessions: NodeSessions, http: HttpClients | None = None) -> Outcome:
    """Run one work item. Failures become Outcomes; cancellation propagates.
    HTTP probes use ``http``'s clients (a client of their own without it)."""
    if isinstance(work, Timer):
        await asyncio.sleep(work.delay_s)
        return Outcome("success", started=time.time(), ended=time.time())
    if isinstance(work, TaskWork):
        if work.delay_s > 0:
            await asyncio.sleep(work.delay_s)
        return await _guarded(
            lambda: _run_on_node(
                sessions,
                work.node,
                work.task.backend,
                work.task.action,
                work.task.action_params,
                timeout_s=work.task.timeout_s,
                attempt=work.attempt,
                seed=work.seed,
            ),
            work.label,
        )
    check = work.check
    if isinstance(check, HttpCheck):
        return await _guarded(lambda: probe_http(check, http), work.label)
    assert work.node is not None, "a backend check runs on a node"
    return await _guarded(lambda: _backend_check(sessions, work.node or "", check), work.label)


async def _guarded(run: Callable[[], Awaitable[Outcome]], label: str) -> Outcome:
    started = time.time()
    try:
        return await run()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug of ours: fail the work, keep the traceback in the log
        log.error("%s: unexpected error", label, exc_info=exc)
        return Outcome(
            "failed",
            error=f"internal error: {type(exc).__name__}: {exc} (a bug in gridflow)",
            started=started,
            ended=time.time(),
            final=True,
        )


async def _backend_check(sessions: NodeSessions, node: str, check: BackendCheck) -> Outcome:
    return await _run_on_node(
        sessions,
        node,
        check.backend,
        check.action,
        check.action_params,
        timeout_s=check.timeout_s,
        attempt=1,
        seed=f"check:{check.backend}.{check.action}",
    )


async def _run_on_node(
    sessions: NodeSessions,
    node: str,
    backend: str,
    action: str,
    params: Callable[[], Any],
    *,
    timeout_s: float,
    attempt: int,
    seed: str,
) -> Outcome:
    """One action on one node; the time to connect counts against ``timeout_s``."""
    started = time.time()
    t0 = time.monotonic()

    def failed(
        error: str, *, status: Any = "failed", final: bool = False, output: str = ""
    ) -> Outcome:
        return Outcome(
            status, output=output, error=error, started=started, ended=time.time(), final=final
        )

    try:
        try:
            session = await asyncio.wait_for(sessions.get(node), timeout_s)
        except asyncio.TimeoutError:
            return failed(
                f"could not connect to node {node} within the timeout of "
                f"{format_duration(timeout_s)}",
                status="timeout",
            )
        remaining = max(timeout_s - (time.monotonic() - t0), 0.0)
        result = await run_action(
            session, backend, action, params(), timeout_s=remaining, attempt=attempt, seed=seed
        )
    except CommandTimedOut as exc:
        # Told in the task's own terms: the time left after connecting is a detail.
        ran = exc.details.get("commands")
        during = f" while running: {ran[-1]}" if isinstance(ran, list) and ran else ""
        stdout = exc.details.get("stdout")
        return failed(
            f"{backend} {action} on node {node} ran past its timeout of "
            f"{format_duration(timeout_s)} and was stopped{during}",
            status="timeout",
            output=stdout if isinstance(stdout, str) else "",
        )
    except NodeUnreachable as exc:
        await sessions.discard(node)
        return failed(exc.message)
    except ExpectedError as exc:
        # A rejected host key or login, a connection to fix, no transport, a
        # bad parameter: trying again cannot mend it (and repeated failed
        # logins can lock an account out).
        return failed(exc.message, final=True)
    except RunnerError as exc:
        # Another transport error: retried like any failure, with a fresh session.
        await sessions.discard(node)
        return failed(exc.message)
    return Outcome(
        "success" if result.ok else "failed",
        output=result.output,
        error=result.error,
        changed=result.changed,
        started=started,
        ended=time.time(),
    )


async def probe_http(check: HttpCheck, http: HttpClients | None = None) -> Outcome:
    """An HTTP probe from the worker: passes when the status is one expected."""
    import httpx

    started = time.time()
    expected = StatusSet.parse(check.expect_status)
    what = f"{check.method} {check.url}"

    def done(status: Any, *, output: str = "", error: str | None = None) -> Outcome:
        return Outcome(status, output=output, error=error, started=started, ended=time.time())

    try:
        if http is not None:
            response = await http.get(check.verify_tls).request(
                check.method, check.url, timeout=check.timeout_s
            )
        else:
            async with httpx.AsyncClient(verify=check.verify_tls, follow_redirects=True) as own:
                response = await own.request(check.method, check.url, timeout=check.timeout_s)
    except httpx.TimeoutException as exc:
        return done(
            "timeout",
            error=f"{what}: no answer within {format_duration(check.timeout_s)} "
            f"({type(exc).__name__})",
        )
    except httpx.HTTPError as exc:
        return done("failed", error=f"{what}: {type(exc).__name__}: {exc}")
    answer = f"{what}: {response.status_code} {response.reason_phrase}".rstrip()
    if response.status_code in expected:
        return done("success", output=answer)
    return done("failed", output=answer, error=f"{answer}, expected {expected}")
