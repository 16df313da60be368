"""gridflow as an Airflow provider.

Importing this package must stay cheap and Airflow-free: Airflow's provider
manager reaches :func:`get_provider_info` through it in every Airflow process.
Anything that needs Airflow lives in modules imported on demand.
"""

from __future__ import annotations

from typing import Any

from gridflow.provider.info import get_provider_info

__all__ = ["DagFileError", "get_provider_info", "load_dag", "load_dags"]


def __getattr__(name: str) -> Any:
    # `from gridflow.provider import load_dags` (or load_dag) in a dags-folder file, without
    # making every provider listing import the loader.
    if name in ("load_dags", "load_dag", "DagFileError"):
        from gridflow.provider import loader

        return getattr(loader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
