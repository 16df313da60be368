"""Starting a job stays quick: heavy libraries are imported where they are used."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("module", "heavy"),
    [("gridflow.jobs.execute", "httpx")],  # httpx: 0.3-0.5 s, only for HTTP checks
    ids=["execute-without-httpx"],
)
def test_importing_does_not_import_the_heavy_library(module: str, heavy: str) -> None:
    code = f"import sys, {module}; print({heavy!r} in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"
