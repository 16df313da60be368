"""A small HTTP server for the example grids, standard library only.

Examples must run without the internet, so ``examples/run_example.py`` starts
this server on 127.0.0.1 (a free port) and passes its address to the grid as
``-var base_url=...``. Endpoints:

    GET  /health              200 {"ok": true}
    GET  /items               200 a JSON list of item ids
    GET  /items/<id>          200 {"id": ..., "name": ...} (404 for unknown ids)
    GET  /status/<code>       that status code
    GET  /delay/<ms>          200 after sleeping ms milliseconds (at most 30 s)
    GET  /flaky/<key>/<n>     503 the first n times per key, then 200
    POST /echo                200 echoing the JSON body it received
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

ITEMS = {str(i): {"id": str(i), "name": f"item-{i}"} for i in range(1, 6)}


class Handler(BaseHTTPRequestHandler):
    server_version = "gridflow-demo/1"
    flaky_counts: ClassVar[dict[str, int]] = {}
    flaky_lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:  # quiet: grids print what matters
        pass

    def _send(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if parts == ["health"]:
            self._send(200, {"ok": True})
        elif parts == ["items"]:
            self._send(200, sorted(ITEMS))
        elif len(parts) == 2 and parts[0] == "items":
            item = ITEMS.get(parts[1])
            self._send(200 if item else 404, item or {"error": "no such item"})
        elif len(parts) == 2 and parts[0] == "status" and parts[1].isdigit():
            self._send(int(parts[1]), {"status": int(parts[1])})
        elif len(parts) == 2 and parts[0] == "delay" and parts[1].isdigit():
            time.sleep(min(int(parts[1]), 30_000) / 1000)
            self._send(200, {"delayed_ms": int(parts[1])})
        elif len(parts) == 3 and parts[0] == "flaky" and parts[2].isdigit():
            with self.flaky_lock:
                seen = self.flaky_counts.get(parts[1], 0)
                self.flaky_counts[parts[1]] = seen + 1
            ok = seen >= int(parts[2])
            self._send(200 if ok else 503, {"attempt": seen + 1, "ok": ok})
        else:
            self._send(404, {"error": "not found", "path": self.path})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        self._send(200, {"path": self.path, "json": body})


def serve(port: int = 0) -> ThreadingHTTPServer:
    """Start the server in a daemon thread; returns it (``server_address`` has the port)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    srv = serve(args.port)
    print(f"serving on http://127.0.0.1:{srv.server_address[1]}", flush=True)
    threading.Event().wait()
