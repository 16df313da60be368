"""One asyncio loop per process for runners called from threads.

Engines such as Prefect run tasks in worker threads; each thread having its
own event loop would give each its own connection pool, and nothing could
cancel the work from outside. Instead every runner coroutine of the process
runs on this one loop, in a daemon thread: resources are shared (SPEC §1:
"within one worker process they are shared by all instances that use them"),
and a run can cancel all of its in-flight work at once (fail-fast).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop event loop where uvloop is installed (not on Windows), else
    asyncio's default. Every loop gridflow runs runners on is made here:
    uvloop takes the burst's HTTP rate up 1.5-2x (bench/http_burst.py)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a :func:`new_event_loop` loop."""
    runner_cls = getattr(asyncio, "Runner", None)  # Python >= 3.11
    if runner_cls is None:
        return asyncio.run(main)
    with runner_cls(loop_factory=new_event_loop) as runner:
        result: T = runner.run(main)
        return result


class RunnerLoop:
    """A daemon thread running an event loop, with per-run cancellation."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._by_run: dict[str, set[concurrent.futures.Future[Any]]] = {}

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    ready.set()
                    loop.run_forever()

                threading.Thread(target=serve, name="gridflow-runner-loop", daemon=True).start()
                ready.wait()
                self._loop = loop
            return self._loop

    def submit(
        self, coro: Coroutine[Any, Any, T], *, run_id: str | None = None
    ) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; the future can be cancelled from any thread."""
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure())
        if run_id is not None:
            with self._lock:
                self._by_run.setdefault(run_id, set()).add(future)
            future.add_done_callback(lambda f: self._forget(run_id, f))
        return future

    def run(self, coro: Coroutine[Any, Any, T], *, run_id: str | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result in this thread."""
        return self.submit(coro, run_id=run_id).result()

    def cancel_run(self, run_id: str) -> int:
        """Cancel every coroutine submitted for ``run_id``; returns how many."""
        with self._lock:
            futures = list(self._by_run.get(run_id, ()))
        for future in futures:
            future.cancel()
        return len(futures)

    def _forget(self, run_id: str, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            pending = self._by_run.get(run_id)
            if pending is not None:
                pending.discard(future)
                if not pending:
                    del self._by_run[run_id]


RUNNER_LOOP = RunnerLoop()
