"""The Prefect flow around a grid's or a job's driver, built one way for both.

The grid engine (:mod:`gridflow.engines.prefect`) and the job engine
(:mod:`gridflow.engines.prefect_jobs`) each drive their run from one
function; the flow that wraps it (name, thread-pool task runner, no result
persistence, connections from Prefect blocks) is the same for both.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from gridflow import connections

if TYPE_CHECKING:
    from prefect.futures import PrefectFuture
    from prefect.task_runners import TaskRunner

_NAME_RE = re.compile(r"[^A-Za-z0-9_.-]+")


def run_flow(
    drive: Callable[..., Any],
    *args: Any,
    name: str,
    fallback_name: str,
    token: str,
    max_parallel: int,
    description: str | None = None,
) -> None:
    """Run ``drive(*args)`` as a Prefect flow in this process, to its end.

    The flow's final state is not raised: ``drive`` records the outcome in
    the run it drives, which is what the caller reports.
    """
    from prefect import flow
    from prefect.task_runners import ThreadPoolTaskRunner

    flow_name = _NAME_RE.sub("-", name) or fallback_name
    wrapped = flow(
        name=flow_name,
        flow_run_name=f"{flow_name}-{token}",
        description=description,
        # Prefect declares TaskRunner invariant in its future type, so the thread-pool
        # runner does not type-check against the flow decorator without this cast.
        task_runner=cast(
            "TaskRunner[PrefectFuture[Any]]",
            ThreadPoolTaskRunner(max_workers=max(1, max_parallel)),
        ),
        persist_result=False,
        validate_parameters=False,
        log_prints=False,
    )(drive)
    with block_connections():
        wrapped(*args, return_state=True)


@contextlib.contextmanager
def block_connections() -> Iterator[None]:
    """Named connections (a step's ``connection``, a node's ``conn_id``) are
    looked up in GridflowConnection blocks first, while this is open."""
    from gridflow.prefect_blocks import block_resolver

    with connections.use_resolver(block_resolver(), name="Prefect GridflowConnection blocks"):
        yield
