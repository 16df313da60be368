"""What Airflow's provider manager reads about gridflow, without importing Airflow.

Airflow finds this function through the ``apache_airflow_provider`` entry
point (``pyproject.toml``) and calls it in every process that lists
providers, connection types or hooks: the api-server, the scheduler, the
dag-processor and each task. So this module imports nothing from Airflow and
nothing heavy from gridflow; the hook classes are named by dotted path and
imported by Airflow only when it needs them.

Connection forms are declared here (``conn-fields`` and
``ui-field-behaviour``) rather than through ``get_connection_form_widgets``
on the hook: Airflow 3.2+ prefers the declarative form and deprecates the
method, and the UI can then render the form without importing the hook.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from gridflow._version import __version__

__all__ = [
    "CONFIG",
    "CONNECTION_TYPES",
    "EXTRA_LINKS",
    "HOOK_MODULES",
    "OPERATOR_MODULES",
    "get_provider_info",
]

PACKAGE_NAME: Final = "gridflow"
INTEGRATION: Final = "gridflow"

# Modules Airflow scans for hooks and operators. Adding an operator module is
# one line here; nothing else in this file changes.
HOOK_MODULES: Final[tuple[str, ...]] = (
    "gridflow.hooks.http",
    "gridflow.hooks.socketio",
)
OPERATOR_MODULES: Final[tuple[str, ...]] = ("gridflow.operators.grid",)

# Only connection types gridflow owns. GridHttpHook reads the standard `http`
# type, which apache-airflow-providers-http registers; declaring it a second
# time would make Airflow warn and keep only one of the two hooks.
CONNECTION_TYPES: Final[tuple[dict[str, Any], ...]] = (
    {
        "connection-type": "socketio",
        "hook-class-name": "gridflow.hooks.socketio.SocketIOHook",
        "hook-name": "Socket.IO (gridflow)",
        "ui-field-behaviour": {
            "hidden-fields": [],
            "relabeling": {
                "host": "Host or URL",
                "schema": "Scheme",
                "login": "Username (auth)",
                "password": "Token or password (auth)",
                "extra": "Extra (JSON: headers, auth)",
            },
            "placeholders": {
                "host": "socket.example.test or https://socket.example.test/socket.io",
                "schema": "https",
                "port": "443",
                "login": "only with a password: auth = {username, password}",
                "password": "alone: auth = {token}",
                "extra": '{"headers": {"X-Team": "perf"}, "auth": {"token": "..."}}',
            },
        },
        "conn-fields": {
            "namespace": {
                "label": "Namespace",
                "description": "Socket.IO namespace to connect to.",
                "schema": {"type": ["string", "null"], "default": "/"},
            },
            "timeout": {
                "label": "Timeout (seconds)",
                "description": "Connect and wait timeout, in seconds.",
                "schema": {"type": ["number", "null"], "default": 10, "minimum": 0},
            },
            "insecure_skip_verify": {
                "label": "Skip TLS verification",
                "description": "Accept any server certificate (test servers only).",
                "schema": {"type": ["boolean", "null"], "default": False},
            },
        },
    },
)


# Operator extra links, by dotted path (Airflow imports them only to list
# them: `airflow providers links`). The operators attach them themselves.
EXTRA_LINKS: Final[tuple[str, ...]] = (
    "gridflow.operators.links.GridSourceLink",
    "gridflow.operators.links.JobSourceLink",
)

# The `[gridflow]` section of Airflow's configuration (airflow.cfg, or
# AIRFLOW__GRIDFLOW__<OPTION>); `airflow config list` shows it with defaults.
CONFIG: Final[dict[str, Any]] = {
    "gridflow": {
        "description": "gridflow, the provider of grid and job DAGs.",
        "options": {
            "source_url_template": {
                "description": (
                    "URL of a grid or job file's line in your code browser, for the "
                    '"Grid source" and "Job source" links of gridflow\'s tasks. {path} is '
                    "the file's path inside the DAG bundle (the dags folder; for compiled "
                    "DAG files, as given to gridflow compile), {line} the line of the step "
                    "or task. Empty: the links are disabled."
                ),
                "version_added": "0.1.0",
                "type": "string",
                "example": "https://github.com/acme/grids/blob/main/{path}#L{line}",
                "default": "",
            },
        },
    },
}


def get_provider_info() -> dict[str, Any]:
    """The provider description Airflow validates against its provider_info schema.

    Fresh containers on every call: Airflow's provider manager may annotate
    what it receives, and a shared module-level dict would carry that over.
    """
    return {
        "package-name": PACKAGE_NAME,
        "name": "gridflow",
        "description": (
            "Declarative load tests and fleet operations: HCL grids and YAML jobs "
            "compiled to Airflow DAGs, with hooks for HTTP and Socket.IO connections."
        ),
        "versions": [__version__],
        "integrations": [{"integration-name": INTEGRATION, "tags": ["software"]}],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": list(HOOK_MODULES)}],
        "operators": [{"integration-name": INTEGRATION, "python-modules": list(OPERATOR_MODULES)}],
        "connection-types": copy.deepcopy(list(CONNECTION_TYPES)),
        "extra-links": list(EXTRA_LINKS),
        "config": copy.deepcopy(CONFIG),
    }
