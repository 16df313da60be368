"""gridflow as an Airflow provider: what Airflow itself lists and validates.

The CLI runs in a subprocess against a throwaway AIRFLOW_HOME, so this needs
no running servers; the schema check uses the schema shipped in Airflow.
"""

from __future__ import annotations

import importlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.airflow.harness import AIRFLOW_BIN, airflow_env

from gridflow import __version__
from gridflow.provider import get_provider_info

pytestmark = pytest.mark.airflow


def _airflow(tmp_path: Path, *args: str, environ: dict[str, str] | None = None) -> str:
    """``airflow ARGS`` in a fresh home under ``tmp_path``; its stdout (it must succeed)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = airflow_env(home, tmp_path / "dags", port=8080, extra=environ)
    done = subprocess.run(
        [str(AIRFLOW_BIN), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _airflow_json(tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(_airflow(tmp_path, *args, "--output", "json"))
    return rows


def test_providers_list_shows_gridflow(tmp_path: Path) -> None:
    rows = {row["package_name"]: row for row in _airflow_json(tmp_path, "providers", "list")}
    assert rows["gridflow"]["version"] == __version__
    assert "HCL grids" in rows["gridflow"]["description"]


def test_providers_hooks_shows_the_socketio_hook(tmp_path: Path) -> None:
    rows = {row["connection_type"]: row for row in _airflow_json(tmp_path, "providers", "hooks")}
    assert rows["socketio"]["class"] == "gridflow.hooks.socketio.SocketIOHook"
    assert rows["socketio"]["package_name"] == "gridflow"
    assert rows["socketio"]["conn_id_attribute_name"] == "socketio_conn_id"
    # `http` stays the HTTP provider's: gridflow reads that type, never re-registers it.
    assert rows["http"]["package_name"] == "apache-airflow-providers-http"


def test_providers_links_lists_the_source_links(tmp_path: Path) -> None:
    rows = _airflow_json(tmp_path, "providers", "links")
    names = {row["extra_link_class_name"] for row in rows}
    assert {
        "gridflow.operators.links.GridSourceLink",
        "gridflow.operators.links.JobSourceLink",
    } <= names


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ""),
        (
            {
                "AIRFLOW__GRIDFLOW__SOURCE_URL_TEMPLATE": "https://git.test/r/blob/main/{path}#L{line}"
            },
            "https://git.test/r/blob/main/{path}#L{line}",
        ),
    ],
    ids=["declared-default", "from-the-environment"],
)
def test_source_url_template_is_an_airflow_option(
    tmp_path: Path, environ: dict[str, str], expected: str
) -> None:
    # An option no provider declares is "not found in config" (exit 1).
    out = _airflow(
        tmp_path, "config", "get-value", "gridflow", "source_url_template", environ=environ
    )
    assert out.strip() == expected


def test_link_classes_are_the_ones_the_operators_attach() -> None:
    from gridflow.operators import grid, job

    info = get_provider_info()
    declared = set(info["extra-links"])
    attached = {
        f"{type(link).__module__}.{type(link).__qualname__}"
        for op in (
            grid.GridStepOperator,
            grid.GridInstancesOperator,
            grid.GridBurstOperator,
            job.JobNodeTaskOperator,
            job.JobChecksOperator,
            job.JobDuringChecksSensor,
            job.JobResultOperator,
        )
        for link in op.operator_extra_links
    }
    assert attached == declared
    assert info["config"]["gridflow"]["options"]["source_url_template"]["default"] == ""


def test_provider_info_is_valid_per_airflows_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import airflow

    schema_path = Path(airflow.__file__).with_name("provider_info.schema.json")
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_provider_info_imports_no_airflow() -> None:
    # The provider manager calls it in every Airflow process: it must stay cheap.
    code = (
        "import sys; from gridflow.provider.info import get_provider_info; get_provider_info(); "
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith(('airflow.', "
        "'gridflow.hooks', 'httpx', 'pydantic'))))"
    )
    done = subprocess.run(
        [str(AIRFLOW_BIN.with_name("python")), "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[]"


def test_hook_modules_and_connection_types_exist() -> None:
    # Every dotted path in the provider info must import: Airflow only logs
    # a warning for a wrong one, so a typo would go unnoticed.
    info = get_provider_info()
    for conn_type in info["connection-types"]:
        module, _, name = conn_type["hook-class-name"].rpartition(".")
        hook = getattr(importlib.import_module(module), name)
        assert hook.conn_type == conn_type["connection-type"]
        assert hook.hook_name == conn_type["hook-name"]
    for group in info["hooks"]:
        for module in group["python-modules"]:
            importlib.import_module(module)


def test_socketio_form_is_registered_from_the_declarative_fields() -> None:
    # A conn-field or ui-field-behaviour Airflow rejects is only logged as a
    # warning; ask the provider manager (what the UI reads) what it kept.
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()  # type: ignore[no-untyped-call]  # untyped in Airflow
    widgets = manager.connection_form_widgets
    for name in ("namespace", "timeout", "insecure_skip_verify"):
        assert f"extra__socketio__{name}" in widgets
        assert widgets[f"extra__socketio__{name}"].package_name == "gridflow"
    behaviour = manager.field_behaviours["socketio"]
    assert behaviour["relabeling"]["host"] == "Host or URL"
    assert behaviour["hidden_fields"] == []
