"""Bare Python request loops, one client library each: the Python ceiling.

Run by bench/http_burst.py in a fresh interpreter per row (no state carried
from one client to the next)::

    python bench/_loops.py CLIENT LOOP URL REQUESTS CONCURRENCY

CLIENT is ``aiohttp``, ``pyreqwest``, ``httpx`` or ``transport`` (gridflow's
own :func:`gridflow.burst.transport.open_transport` with ``auto``); LOOP is
``uvloop`` or ``asyncio``. CONCURRENCY workers share one connection pool and
take requests from one counter until REQUESTS are sent; each request's
latency is taken with ``perf_counter_ns`` around the call that sends it and
reads its whole body. Prints one JSON line: requests, errors, seconds, CPU
seconds of the whole process (all threads), p50 and p99 in ms, and which
client the transport picked.

Each loop is the smallest correct one for its library: what a user writing a
load generator by hand would write, with the connection pool sized to the
concurrency.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _support import percentile

Send = Callable[[], Awaitable[int]]


async def drive(send: Send, requests: int, concurrency: int) -> dict[str, Any]:
    """Send ``requests`` with ``concurrency`` workers; latencies per request."""
    latencies: list[int] = []
    errors = 0
    todo = iter(range(requests))
    clock = time.perf_counter_ns

    async def worker() -> None:
        nonlocal errors
        for _ in todo:
            started = clock()
            try:
                status = await send()
            except Exception:
                errors += 1
                continue
            latencies.append(clock() - started)
            if status != 200:
                errors += 1

    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started  # every thread: pyreqwest's Tokio one too
    latencies.sort()
    return {
        "requests": requests,
        "errors": errors,
        "seconds": seconds,
        "cpu_s": cpu_s,
        "p50_ms": percentile(latencies, 0.50) / 1e6,
        "p99_ms": percentile(latencies, 0.99) / 1e6,
    }


async def with_aiohttp(url: str, requests: int, concurrency: int) -> dict[str, Any]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send() -> int:
            async with session.get(url) as response:
                await response.read()
                return response.status

        return await drive(send, requests, concurrency)


async def with_pyreqwest(url: str, requests: int, concurrency: int) -> dict[str, Any]:
    from pyreqwest.client import ClientBuilder

    async with ClientBuilder().max_connections(concurrency).build() as client:

        async def send() -> int:
            response = await client.get(url).build().send()
            await response.bytes()
            return response.status

        return await drive(send, requests, concurrency)


async def with_httpx(url: str, requests: int, concurrency: int) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits) as client:

        async def send() -> int:
            response = await client.get(url)  # reads the body
            return response.status_code

        return await drive(send, requests, concurrency)


async def with_transport(url: str, requests: int, concurrency: int) -> dict[str, Any]:
    from gridflow.burst.transport import BurstRequest, open_transport

    transport = await open_transport("auto", pool_size=concurrency, timeout_s=30.0)
    request = BurstRequest("GET", url)
    try:

        async def send() -> int:
            return (await transport.send(request)).status

        result = await drive(send, requests, concurrency)
    finally:
        await transport.aclose()
    result["picked"] = transport.name
    return result


CLIENTS = {
    "aiohttp": with_aiohttp,
    "pyreqwest": with_pyreqwest,
    "httpx": with_httpx,
    "transport": with_transport,
}


def main(argv: list[str]) -> int:
    if len(argv) != 5 or argv[0] not in CLIENTS or argv[1] not in ("uvloop", "asyncio"):
        print(__doc__, file=sys.stderr)
        return 2
    client, loop_name, url, requests, concurrency = argv
    if loop_name == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    try:
        result = loop.run_until_complete(CLIENTS[client](url, int(requests), int(concurrency)))
    finally:
        loop.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
