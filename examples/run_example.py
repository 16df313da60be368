"""Run an example grid against the demo server: what ``make run`` does.

Starts ``demo_server`` on a free loopback port, runs ``gridflow run`` on the
grid with ``-var base_url=http://127.0.0.1:PORT``, stops the server, and exits
with gridflow's exit code.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from demo_server import serve


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", help="grid file or directory")
    parser.add_argument("--engine", default="prefect")
    parser.add_argument("extra", nargs="*", help="more gridflow run arguments")
    args = parser.parse_args()
    server = serve(0)
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    cmd = [
        sys.executable,
        "-m",
        "gridflow",
        "run",
        args.grid,
        "--engine",
        args.engine,
        "-var",
        f"base_url={base_url}",
        *args.extra,
    ]
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    try:
        return subprocess.call(cmd)
    finally:
        server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
