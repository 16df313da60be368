"""Fixtures for job runs on real nodes: a fleet, a job file, a finished run.

``session_factory`` is parametrized over transports, so every scenario
written with the ``fleet`` fixture runs on each: ``local`` (every node is this
machine) and ``ssh`` (every node is a real sshd on 127.0.0.2..4, the session's
``ssh_nodes``, reached through the SSH transport). ``local_fleet`` is for the
few tests about this machine itself (its stand-ins on PATH, the default
session factory).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from gridflow.engines.local_jobs import run_job_async
from gridflow.jobs import load_job
from gridflow.jobs.model import Backoff, JobPlan
from gridflow.jobs.run import JobRun
from gridflow.jobs.state import JobEvent
from gridflow.nodes.base import NodeSpec
from gridflow.runtime.masking import Masker
from tests.jobrun.tasks import DIR, FAST_BACKOFF, NODES
from tests.support.job_nodes import LocalTransport, SshTransport, Transport
from tests.support.sshd import SshNodes


@pytest.fixture(params=["local", pytest.param("ssh", marks=pytest.mark.integration)])
def session_factory(request: pytest.FixtureRequest) -> Transport:
    """How nodes are reached: ``local`` (this machine) or ``ssh`` (real sshd nodes)."""
    if request.param == "local":
        return LocalTransport()
    nodes: SshNodes = request.getfixturevalue("ssh_nodes")
    return SshTransport(nodes)


def when(text: str | None) -> float:
    assert text is not None, "no timestamp"
    return datetime.datetime.fromisoformat(text).timestamp()


@dataclasses.dataclass
class Finished:
    """A finished job run and what it reported."""

    run: JobRun
    doc: dict[str, Any]
    events: list[JobEvent]
    wall_s: float
    dir: Path

    def entry(self, key: str, node: str) -> dict[str, Any]:
        return self.doc["results"][key][node]  # type: ignore[no-any-return]

    def statuses(self, key: str) -> dict[str, str]:
        return {node: e["status"] for node, e in self.doc["results"][key].items()}

    def all_statuses(self) -> dict[str, dict[str, str]]:
        return {key: self.statuses(key) for key in self.doc["results"]}

    def span(self, key: str, node: str) -> tuple[float, float]:
        entry = self.entry(key, node)
        return when(entry["started"]), when(entry["ended"])

    def lines(self, name: str) -> list[list[str]]:
        """The lines a job's commands appended to ``DIR/name``, split in words."""
        path = self.dir / name
        if not path.exists():
            return []
        return [line.split() for line in path.read_text().splitlines() if line]


class Fleet:
    """Writes an inventory of nodes reached through ``transport`` and runs jobs
    on them with ``engine``'s ``run_job`` (the local engine unless told)."""

    def __init__(self, root: Path, transport: Transport, engine: str = "local") -> None:
        self.dir = root
        self.transport = transport
        self.engine = engine

    def write(
        self,
        job: str | dict[str, Any],
        nodes: tuple[str, ...] = NODES,
        groups: dict[str, list[str]] | None = None,
    ) -> tuple[Path, Path]:
        """Write the job (YAML text, or a dict dumped as YAML) and an inventory."""
        text = job if isinstance(job, str) else yaml.safe_dump(job, sort_keys=False)
        job_path = self.dir / "job.yaml"
        job_path.write_text(textwrap.dedent(text).replace(DIR, str(self.dir)), encoding="utf-8")
        entries = [
            self.transport.inventory_entry(n, (groups or {}).get(n, ["fleet"])) for n in nodes
        ]
        inventory = self.dir / "inventory.yaml"
        inventory.write_text("nodes:\n" + "".join(f"  - {e}\n" for e in entries))
        return job_path, inventory

    def run(
        self,
        job: str | dict[str, Any],
        nodes: tuple[str, ...] = NODES,
        *,
        backoff: Backoff = FAST_BACKOFF,
        masker: Masker | None = None,
        environ: dict[str, str] | None = None,
    ) -> Finished:
        job_path, inventory = self.write(job, nodes)
        plan, specs = load_job(job_path, inventory, environ=environ)
        plan = plan.model_copy(update={"backoff": backoff})
        events: list[JobEvent] = []
        started = time.monotonic()
        run = run_on(
            self.engine,
            plan,
            specs,
            inventory=inventory,
            session_factory=self.transport,
            on_event=events.append,
            masker=masker,
        )
        return Finished(run, run.result(), events, time.monotonic() - started, self.dir)


def run_on(
    engine: str, plan: JobPlan, nodes: list[NodeSpec], *, inventory: Path, **kwargs: Any
) -> JobRun:
    """Run ``plan`` with ``engine``'s run_job (same arguments on every engine;
    Airflow also reads the inventory file, as its workers do)."""
    if engine == "prefect":
        from gridflow.engines.prefect_jobs import run_job

        return run_job(plan, nodes, **kwargs)
    if engine == "airflow":
        from gridflow.engines.airflow.job_run import run_job as run_on_airflow

        return run_on_airflow(plan, nodes, inventory=inventory, **kwargs)
    assert engine == "local", engine
    return asyncio.run(run_job_async(plan, nodes, **kwargs))


@pytest.fixture
def fleet(tmp_path: Path, session_factory: Transport) -> Fleet:
    return Fleet(tmp_path, session_factory)


@pytest.fixture
def local_fleet(tmp_path: Path) -> Fleet:
    """A fleet of local nodes only, for tests about this machine itself."""
    return Fleet(tmp_path, LocalTransport())
