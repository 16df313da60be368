"""Job runs on real nodes: HTTP checks, sessions, transports, secrets, backends, results.

HTTP probes go to the session's real HTTP server on 127.0.0.1; apt-get and
systemctl are the recording stand-ins (tests/support/standins.py) first on
PATH, so the exact argv every node ran is asserted.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from gridflow.engines.local_jobs import run_job_async
from gridflow.jobs import execute as job_execute
from gridflow.jobs import load_job
from gridflow.jobs.model import JobPlan
from gridflow.jobs.progress import JobProgress
from gridflow.nodes.base import NodeSpec
from gridflow.runtime.masking import Masker
from tests.jobrun.conftest import Fleet
from tests.jobrun.tasks import DIR, cmd, fails_on, job, mark, pipeline
from tests.support.http_server import LocalHTTPServer
from tests.support.job_nodes import SshTransport
from tests.support.standins import Standins

pytestmark = pytest.mark.timeout(60)

NI = {"DEBIAN_FRONTEND": "noninteractive"}


# ----------------------------------------------------------------- HTTP checks


@pytest.mark.parametrize(
    ("check", "status", "record"),
    [
        ({"url": "/status/200"}, "success", ("success", "GET {url}/status/200: 200 OK", None)),
        (
            {"url": "/status/204", "method": "HEAD", "expect_status": 204},
            "success",
            ("success", "HEAD {url}/status/204: 204 No Content", None),
        ),
        (
            {"url": "/redirect/2"},
            "success",
            ("success", "GET {url}/redirect/2: 200 OK", None),
        ),
        (
            {"url": "/status/503"},
            "failed",
            (
                "failed",
                "GET {url}/status/503: 503 Service Unavailable",
                "GET {url}/status/503: 503 Service Unavailable, expected 2xx",
            ),
        ),
        (
            {"url": "/status/404", "expect_status": ["200", "300-399"]},
            "failed",
            (
                "failed",
                "GET {url}/status/404: 404 Not Found",
                "GET {url}/status/404: 404 Not Found, expected 200 or 300-399",
            ),
        ),
        (
            {"url": "/delay/3000", "timeout": "200ms"},
            "failed",
            ("timeout", "", "GET {url}/delay/3000: no answer within 200ms (ReadTimeout)"),
        ),
    ],
    ids=["ok", "head-204", "redirects-followed", "503", "status-list", "timeout"],
)
def test_http_pre_check(
    fleet: Fleet,
    http_server: LocalHTTPServer,
    check: dict[str, Any],
    status: str,
    record: tuple[str, str, str | None],
) -> None:
    probe = {**check, "url": http_server.url + check["url"]}
    done = fleet.run(job(mark("ran"), checks={"pre": [{"http": probe}]}))
    assert done.doc["status"] == status
    [entry] = done.doc["checks"]
    shown = tuple(None if v is None else v.format(url=http_server.url) for v in record)
    assert (entry["status"], entry["output"], entry["error"]) == shown
    assert (entry["scope"], entry["stage"], entry["kind"], entry["node"]) == (
        "job",
        "pre",
        "http",
        None,
    )
    assert len(done.lines("ran")) == (3 if status == "success" else 0)


def test_http_probe_to_a_closed_port_fails_clearly(fleet: Fleet) -> None:
    done = fleet.run(job(mark("ran"), checks={"post": [{"http": {"url": "http://127.0.0.1:9/"}}]}))
    assert done.doc["status"] == "failed"
    assert done.doc["error"]["message"].startswith(
        "job post-check GET http://127.0.0.1:9/ failed: GET http://127.0.0.1:9/: ConnectError"
    )


def test_http_during_check_runs_from_the_worker_once_per_round(
    fleet: Fleet, http_server: LocalHTTPServer
) -> None:
    key = f"during-{uuid.uuid4().hex}"
    url = f"{http_server.url}/echo?test={key}"
    during = {"interval": "100ms", "checks": [{"http": {"url": url}}]}
    done = fleet.run(job(cmd("sleep 0.8", checks={"during": during})))
    [entry] = done.doc["checks"]
    assert entry["node"] is None
    assert entry["status"] == "success"
    served = http_server.requests(lambda r: r.query.get("test") == key)
    # one request per round however many nodes, every ~0.1 s while the phase
    # ran (over SSH the phase takes longer than the 0.8 s sleep: bound by it)
    assert len(served) == entry["runs"]
    longest = max(e["duration_s"] for e in done.doc["results"]["0"].values())
    assert 2 <= entry["runs"] <= longest / 0.1 + 2, (entry["runs"], longest)


# ------------------------------------------------------------ sessions, nodes


def test_one_session_per_node_reused_and_closed(fleet: Fleet) -> None:
    ssh = fleet.transport if isinstance(fleet.transport, SshTransport) else None
    logins_before = (
        {n: ssh.nodes.connections(ssh.sshd_node(n)) for n in ("n1", "n2")} if ssh else {}
    )
    done = fleet.run(
        job(
            pipeline(mark("a"), mark("b"), mark("c")),
            mark("d", checks={"pre": [cmd("true")], "post": [cmd("true")]}),
            checks={"pre": [{"backend": "ping", "action": "hostname"}]},
        ),
        nodes=("n1", "n2"),
    )
    assert done.doc["status"] == "success"
    log = fleet.transport.log
    assert dict(log.opened) == {"n1": 1, "n2": 1}
    assert dict(log.closed) == {"n1": 1, "n2": 1}
    # hostname + 3 pipeline tasks + pre + d + post on each node, one session each
    assert dict(log.commands) == {"n1": 7, "n2": 7}
    if ssh is not None:  # and the sshd of each node saw one login for all seven
        logins = {
            n: ssh.nodes.connections(ssh.sshd_node(n)) - logins_before[n] for n in ("n1", "n2")
        }
        assert logins == {"n1": 1, "n2": 1}


def test_nodes_outside_the_target_are_never_contacted(fleet: Fleet) -> None:
    job_path, inventory = fleet.write(job(mark("ran"), target="node:n2"))
    plan, nodes = load_job(job_path, inventory)
    run = asyncio.run(run_job_async(plan, nodes, session_factory=fleet.transport))
    assert run.result()["expected"] == ["n2"]
    assert dict(fleet.transport.log.opened) == {"n2": 1}


def _plan_on(fleet: Fleet, spec: dict[str, Any], nodes: list[NodeSpec]) -> JobPlan:
    job_path, inventory = fleet.write(spec, nodes=tuple(n.id for n in nodes))
    plan, _ = load_job(job_path, inventory)
    return plan


def test_ssh_node_without_the_ssh_transport_fails_clearly(
    local_fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridflow.nodes.base import SshTarget

    monkeypatch.setattr(job_execute, "SSH_MODULE", "gridflow.nodes.no_such_transport")
    nodes = [NodeSpec("web", transport="ssh", ssh=SshTarget(host="127.0.0.2"))]
    plan = _plan_on(local_fleet, job(cmd("true", max_retries=2)), nodes)
    doc = asyncio.run(run_job_async(plan, nodes)).result()
    entry = doc["results"]["0"]["web"]
    assert (entry["status"], entry["attempts"]) == ("failed", 1)
    assert entry["error"].startswith(
        "node web: SSH transport not available in this build "
        "(gridflow.nodes.no_such_transport cannot be imported: No module named"
    )
    assert doc["status"] == "failed"


def test_the_default_factory_runs_local_nodes_here(local_fleet: Fleet) -> None:
    nodes = [NodeSpec("n1"), NodeSpec("n2")]
    plan = _plan_on(
        local_fleet, job({"backend": "ping", "action": "echo", "params": {"message": "hi"}}), nodes
    )
    doc = asyncio.run(run_job_async(plan, nodes)).result()
    assert {n: e["output"] for n, e in doc["results"]["0"].items()} == {"n1": "hi", "n2": "hi"}


# --------------------------------------------------------------------- secrets


def test_connection_and_env_secrets_are_masked(
    local_fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridflow.nodes.base import SshTarget

    monkeypatch.setenv("GF_TEST_PASSWORD", "hunter2-very-secret")
    # An ssh node reached through this machine's session: what matters here is
    # that its connection password, wherever it shows up, is masked.
    nodes = [
        NodeSpec(
            "n1", transport="ssh", ssh=SshTarget(host="127.0.0.2", password="hunter2-very-secret")
        )
    ]
    spec = job(
        cmd('echo "pw=$GF_TEST_PASSWORD"; echo "token=$API_TOKEN"'),
        cmd('echo "pw=$GF_TEST_PASSWORD" >&2; exit 1'),
    )
    spec["tasks"][0]["params"]["env"] = {"API_TOKEN": "tok-0123456789"}
    plan = _plan_on(local_fleet, spec, nodes)
    lines: list[str] = []
    run = asyncio.run(
        run_job_async(
            plan,
            nodes,
            session_factory=local_fleet.transport,
            on_event=lambda e: lines.append(e.message),
            masker=Masker(),
        )
    )
    text = json.dumps(run.result())
    assert "hunter2" not in text
    assert "tok-0123456789" not in text
    assert run.result()["results"]["0"]["n1"]["output"] == "pw=***\ntoken=***\n"
    assert run.result()["results"]["1"]["n1"]["error"].endswith("exited with 1: pw=***")
    assert not any("hunter2" in line for line in lines)
    assert any(line.endswith("exited with 1: pw=***") for line in lines)


# -------------------------------------------------------- backends on stand-ins


def test_rolling_restart_stops_at_the_first_failure_and_rolls_back(
    local_fleet: Fleet, standins: Standins
) -> None:
    # All local nodes share this machine's stand-in state: nginx is installed
    # once, so the first rollback removes it and the others find it gone.
    standins.installed("nginx")
    standins.behave("systemctl", exit=1, stderr="Job for nginx.service failed.\n")
    remove = {"backend": "apt", "action": "remove", "params": {"package": "nginx"}}
    done = local_fleet.run(
        job(
            {"backend": "apt", "action": "update"},
            {
                "backend": "systemd",
                "action": "restart",
                "params": {"unit": "nginx"},
                "concurrency": 1,
            },
            {"condition": "on_failure", "concurrency": 1, **remove},
        )
    )
    assert done.all_statuses() == {
        "0": dict.fromkeys(("n1", "n2", "n3"), "success"),
        "1": {"n1": "failed", "n2": "cancelled", "n3": "cancelled"},
        "2": dict.fromkeys(("n1", "n2", "n3"), "success"),
    }
    probe = ["dpkg-query", "-W", "-f", "${Status}\\t${Version}\\n", "nginx"]
    assert standins.argvs() == [
        *[["apt-get", "update"]] * 3,
        ["systemctl", "restart", "nginx"],
        probe,
        ["apt-get", "remove", "-y", "nginx"],
        probe,
        probe,
    ]
    assert all(c["env"] == NI for c in standins.calls("apt-get"))
    assert done.entry("1", "n1")["error"] == (
        "systemctl restart nginx exited with 1: Job for nginx.service failed."
    )
    assert [done.entry("2", n)["changed"] for n in ("n1", "n2", "n3")] == [True, False, False]
    assert done.entry("2", "n2")["output"] == "nginx is not installed"
    assert not standins.is_installed("nginx")


def test_apt_install_reports_changed(local_fleet: Fleet, standins: Standins) -> None:
    done = local_fleet.run(
        job({"backend": "apt", "action": "install", "params": {"package": "nginx"}}),
        nodes=("n1",),
    )
    assert done.entry("0", "n1")["changed"] is True
    assert standins.argvs("apt-get") == [["apt-get", "install", "-y", "nginx"]]
    again = local_fleet.run(
        job({"backend": "apt", "action": "install", "params": {"package": "nginx"}}),
        nodes=("n1",),
    )
    assert again.entry("0", "n1")["changed"] is False
    assert again.entry("0", "n1")["output"] == "nginx 1.0-standin is already installed"


# -------------------------------------------------------------- result shape


def test_result_document_shape(fleet: Fleet, tmp_path: Any) -> None:
    # n2 fails only once n1 has finished its chain (the nodes share this
    # machine's files): what n1 records must not depend on who came first.
    done_mark = tmp_path / "n1-done"
    wait_for_n1 = (
        f"i=0; while [ ! -e {done_mark} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; "
        "sleep 0.3; "
    )
    fail_late = (
        f'case "$GF_NODE" in n2) {wait_for_n1}echo "boom on $GF_NODE" >&2; exit 1;; esac; '
        f'touch {done_mark}; echo "ok on $GF_NODE"'
    )
    done = fleet.run(
        job(
            pipeline(cmd("echo one"), cmd(fail_late)),
            mark("after"),
            {"name": "undo", "condition": "on_failure", **mark("undo")},
            name="shape",
        ),
        nodes=("n1", "n2"),
    )
    doc = done.doc
    json.dumps(doc)  # plain JSON
    assert list(doc) == [
        "id",
        "name",
        "target",
        "strategy",
        "status",
        "step",
        "expected",
        "results",
        "phases",
        "checks",
        "dropped",
        "started",
        "ended",
        "duration",
        "duration_s",
        "error",
    ]
    assert (doc["name"], doc["target"], doc["strategy"]) == ("shape", {"scope": "all"}, "fail-fast")
    assert (doc["status"], doc["step"], doc["expected"]) == ("failed", 2, ["n1", "n2"])
    assert list(doc["results"]) == ["0.0", "0.1", "1", "2"]
    entry = doc["results"]["0.0"]["n1"]
    assert list(entry) == [
        "status",
        "output",
        "error",
        "duration",
        "duration_s",
        "attempts",
        "changed",
        "started",
        "ended",
    ]
    assert (entry["status"], entry["output"], entry["error"], entry["attempts"]) == (
        "success",
        "one\n",
        None,
        1,
    )
    assert entry["changed"] is None  # cmd cannot tell
    assert isinstance(entry["duration_s"], float)
    assert entry["duration"].endswith("s")
    skipped = doc["results"]["1"]["n1"]
    assert skipped["status"] == "skipped"
    assert skipped["attempts"] == 0
    assert skipped["reason"] == (
        "the job stopped because phase 0 failed: only on_failure and always phases run now"
    )
    assert doc["phases"]["0"] | {"duration": "", "duration_s": 0} == {
        "name": None,
        "kind": "pipeline",
        "condition": None,
        "status": "failed",
        "keys": ["0.0", "0.1"],
        "nodes": ["n1", "n2"],
        "failed_nodes": ["n2"],
        "duration": "",
        "duration_s": 0,
        "error": doc["error"],
    }
    assert doc["phases"]["1"]["status"] == "skipped"
    assert (doc["phases"]["2"]["name"], doc["phases"]["2"]["status"]) == ("undo", "success")


# ----------------------------------------------------------------- progress


def test_progress_prints_one_line_per_node_and_task_event(fleet: Fleet, tmp_path: Any) -> None:
    import io

    out = io.StringIO()
    progress = JobProgress(out)
    job_path, inventory = fleet.write(
        job(cmd(fails_on("n2", after=0.2)), mark("skipped-phase"), name="progress"),
        nodes=("n1", "n2"),
    )
    plan, nodes = load_job(job_path, inventory)
    asyncio.run(
        run_job_async(plan, nodes, session_factory=fleet.transport, on_event=progress.event)
    )
    lines = [line.split("s  ", 1)[1] for line in out.getvalue().splitlines()]
    script = f"{fails_on('n2', after=0.2)}"
    assert lines[0].startswith("job progress (")
    assert lines[0].endswith(") on 2 nodes (all), strategy fail-fast")
    assert lines[1] == "phase 0 (barrier cmd run) on 2 nodes"
    assert sorted(lines[2:4]) == ["0 cmd run on n1: started", "0 cmd run on n2: started"]
    assert lines[4].startswith("0 cmd run on n1: success in ")
    assert lines[5].startswith("0 cmd run on n2: failed in ")
    assert lines[5].endswith(f"/bin/sh -c '{script}' exited with 1: boom on n2")
    assert lines[6].startswith("phase 0 (barrier cmd run): failed: phase 0: 1 of 2 nodes failed")
    assert lines[7].startswith("phase 1 (barrier cmd run): skipped: the job stopped because")
    assert lines[8].startswith("job progress: failed in ")
    assert len(lines) == 9
    assert DIR not in out.getvalue()
