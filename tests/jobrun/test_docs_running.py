"""The ``--check`` example of docs/jobs.md ("Running jobs") is what gridflow prints."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from gridflow.cli import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "jobs.md"
COMMAND = "$ gridflow run deploy.yaml -i inventory.yaml --check\n"


def test_the_dry_run_example_is_real(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("### Dry run: `--check`") :]
    job = re.search(r"```yaml\n(.*?)```\n", section, re.DOTALL)
    shown = re.search(r"```console\n" + re.escape(COMMAND) + r"(.*?)```\n", section, re.DOTALL)
    assert job is not None
    assert shown is not None
    (tmp_path / "deploy.yaml").write_text(job[1])
    (tmp_path / "inventory.yaml").write_text(
        "nodes:\n"
        "  - { id: web-01, groups: [web], connection: local }\n"
        "  - { id: web-02, groups: [web], connection: local }\n"
    )
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(tmp_path / "deploy.yaml"),
            "-i",
            str(tmp_path / "inventory.yaml"),
            "--check",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == shown[1]
