"""The examples' demo server (examples/demo_server.py), started for a test module."""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def demo_server() -> Iterator[str]:
    """Start the demo server on a free port; yields its base URL."""
    spec = importlib.util.spec_from_file_location(
        "gridflow_demo_server", ROOT / "examples" / "demo_server.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = module.serve(0)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
