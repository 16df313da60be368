"""Property tests: whatever a job or inventory file holds, loading it gives a
JobPlan / node list or gridflow's own LoadError: never a traceback from
PyYAML, pydantic or us.

Three generators: byte-level mutations of valid files, token soup, and
random *structures* built from the language's own keys and values (dumped
to YAML), which reach much deeper into the translator than text noise.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflow.errors import LoadError
from gridflow.jobs import JobPlan, load_inventory, read_job, select
from gridflow.jobs.inventory import SSH_KEYS
from gridflow.jobs.translate import (
    BARRIER_KEYS,
    CHECKS_KEYS,
    HTTP_KEYS,
    JOB_KEYS,
    PIPELINE_KEYS,
)
from tests.support.fuzz import SETTINGS, mutated

ROOT = Path(__file__).resolve().parents[3]
SEEDS = [
    p.read_text()
    for p in sorted((ROOT / "dags_examples" / "jobs").glob("*.yaml"))
    + sorted((Path(__file__).parent / "grid_seed").iterdir())
]

TOKENS = [
    "- ", ": ", "{", "}", "[", "]", ",", "\n", "\t", "  ", "#", "&a ", "*a", "<<: ", "!!str ",
    "!x ", "---\n", "'", '"', "|", ">", "? ", "tasks:", "backend: apt", "action: install",
    "params:", "condition: ", "on_failure", "timeout: ", "5s", "-1", "1e999", "34%", "~",
    "yes", "checks:", "http:", "\x00", "\ufeff", "é",
]  # fmt: skip


def outcome(text: str, name: str = "job.yaml") -> JobPlan | list[Any] | LoadError:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            if name.startswith("inv"):
                nodes = load_inventory(path, environ={"PW": "x"}).nodes
                return select(nodes, "all")
            return read_job(path)
        except LoadError as exc:
            return exc


def check_job(text: str) -> None:
    result = outcome(text)
    if isinstance(result, LoadError):
        assert result.diagnostics, "a LoadError carries at least one diagnostic"
        assert all(d.line >= 1 and d.col >= 1 and d.message for d in result.diagnostics)
        return
    assert isinstance(result, JobPlan)
    assert JobPlan.from_json(result.to_json()) == result


@SETTINGS
@given(mutated(SEEDS, TOKENS, longest_cut=8))
def test_mutated_jobs_raise_only_gridflow_errors(text: str) -> None:
    check_job(text)


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
def test_token_soup_raises_only_gridflow_errors(text: str) -> None:
    check_job(text)


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=200))
def test_random_text_raises_only_gridflow_errors(text: str) -> None:
    check_job(text)


# ---------------------------------------------------------------- structures
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 100_000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "all", "group:web", "node:x", "apt", "systemd", "ping", "test", "cmd", "rke2",
            "install", "start", "status", "echo", "flaky", "run", "nginx", "fail-fast",
            "continue", "always", "on_failure", "on_success", "5s", "1m30s", "0", "25%",
            "150%", "http://127.0.0.1:1/x", "2xx", "GET", "ssh", "local", "",
        ]
    ),
    st.text(max_size=8),
)  # fmt: skip
KEYS = sorted(
    {*JOB_KEYS, *BARRIER_KEYS, *PIPELINE_KEYS, *CHECKS_KEYS, *HTTP_KEYS, "scope", "value"}
    | {"package", "unit", "message", "rate", "argv", "shell", "duration", "interval"}
)


def values(keys: list[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.sampled_from(keys), inner, max_size=6),
        ),
        max_leaves=30,
    )


@SETTINGS
@given(st.dictionaries(st.sampled_from(KEYS), values(KEYS), max_size=8))
def test_random_job_structures_raise_only_gridflow_errors(doc: dict[str, Any]) -> None:
    check_job(yaml.safe_dump(doc))


INVENTORY_KEYS = sorted({"nodes", "id", "groups", "connection", *SSH_KEYS, "conn_id", "password"})


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(INVENTORY_KEYS), values(INVENTORY_KEYS), min_size=1, max_size=4
    ).map(lambda d: {"nodes": [d]})
)
def test_random_inventories_raise_only_gridflow_errors(doc: dict[str, Any]) -> None:
    result = outcome(yaml.safe_dump(doc), "inv.yaml")
    if isinstance(result, LoadError):
        assert all(d.line >= 1 and d.col >= 1 for d in result.diagnostics)
    else:
        assert isinstance(result, list)
