"""Pieces the HTTP benchmarks share: Debian tools, a private nginx, tables.

:class:`Nginx` starts one nginx master (``daemon off``, so the process we
started *is* the master and stopping it by pid stops its worker too) on a
free 127.0.0.1 port, with its own temporary prefix, config, pid file and
temp paths: nothing of the system's nginx set-up is read or changed. Every
path answers ``200 ok`` from memory (``return 200 "ok"``), so the server
does as little as a server can and the clients are what is measured.

One worker process: the benchmarks compare single-process clients (one
Python process, one Locust process, ``wrk -t 1``), and on a 2-core machine a
second nginx worker would only take the core the client under test needs.
With one worker, nginx is the same fixed cost for every row.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

# The benchmarks reuse the tests' servers and their pieces (tests/support/):
# the repository root goes on sys.path for every benchmark that imports this.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.servers import StartStop, free_port

REPO = Path(__file__).resolve().parents[1]

DEBIAN_TOOLS = REPO / "tools" / "debian-packages"

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    # Every client keeps its connections for the whole run (nginx's default
    # closes one after 1,000 requests, which would time reconnects too).
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            default_type text/plain;
            return 200 "ok";
        }}
    }}
}}
"""

# The grid the burst benchmarks run: one http_request step of ``count``
# instances in burst mode, ``concurrency`` in flight (str.format fields).
BURST_GRID = """\
step "http_request" "load" {{
  count = {count}
  mode  = "burst"
  concurrency {{ limit = {concurrency} }}
  arguments {{ url = "{url}" }}
}}
"""


def machine() -> str:
    """CPU count and model, Python version: printed above every result."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs, {model}, Python {platform.python_version()}"


def ensure_debian_packages(*packages: str) -> None:
    """Install missing Debian packages with tools/debian-packages (needs root)."""
    subprocess.run([str(DEBIAN_TOOLS), *packages], check=True, timeout=600)


def ensure_bench_extra(*modules: str) -> None:
    """Install the ``bench`` extra (Locust) into this venv if a module is missing."""
    import importlib.util

    if all(importlib.util.find_spec(m) is not None for m in modules):
        return
    uv = Path(sys.executable).parent / "uv"
    if uv.exists():
        cmd = [str(uv), "pip", "install", "--quiet", "--python", sys.executable]
    else:
        cmd = [sys.executable, "-m", "pip", "install", "--quiet"]
    print(f"installing the bench extra for: {', '.join(modules)}", file=sys.stderr)
    subprocess.run([*cmd, "-e", f"{REPO}[bench]"], check=True, timeout=600)


class Nginx(StartStop):
    """A private nginx on 127.0.0.1 answering ``200 ok``; see the module docstring."""

    def __init__(self) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self, timeout_s: float = 10.0) -> Nginx:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        self._tmp = tempfile.TemporaryDirectory(prefix="gridflow-bench-nginx-")
        prefix = Path(self._tmp.name)
        self.port = free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(prefix=prefix, port=self.port))
        # -e: the error log before the config is read (else /var/log/nginx).
        self._proc = subprocess.Popen(
            [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout_s
        while True:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                log = prefix / "error.log"
                if log.exists():
                    err += log.read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"nginx exited at start: {err.strip()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(self.url, timeout=1) as ok:
                if ok.status == 200:
                    return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not answer on {self.url} within {timeout_s:g} s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the master by pid (it stops its worker), then remove the prefix."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # nginx: fast shutdown
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


@contextlib.contextmanager
def running_nginx() -> Iterator[Nginx]:
    """A started :class:`Nginx`, stopped on exit, on Ctrl-C and on SIGTERM too."""
    nginx = Nginx()
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds through the finally below

    signal.signal(signal.SIGTERM, on_term)
    try:
        yield nginx.start()
    finally:
        nginx.stop()
        signal.signal(signal.SIGTERM, previous)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of already sorted values, nearest rank."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[rank]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns sized to their widest cell; the first column left-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(line(headers))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))


def first_line(text: str) -> str:
    """The first non-empty line of ``text`` (for one-line failure notes)."""
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "no output")
