"""Operator extra links: from a task in Airflow's UI to its block in the grid or job file.

Airflow 3 computes an operator's extra links on the worker when the task
ends (any end: success, failure, skip), pushes each to XCom under the
link's ``xcom_key``, and the API server only reads that XCom back; it never
imports these classes (the serialized DAG keeps just name and key). So
``get_link`` runs once per try, on the worker, where the operator carries
its Plan and the DAG bundle's folder is known.

The URL rules (the ``[gridflow] source_url_template`` setting, ``{path}``,
``{line}``) are :mod:`gridflow.engines.airflow.source_links`'. A link never
fails a task: any problem gives no link (the UI shows the button disabled)
and a warning in the task log; Airflow would only log a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperatorLink, conf

from gridflow.engines.airflow.source_links import CONFIG_OPTION, CONFIG_SECTION, source_link

__all__ = ["GridSourceLink", "JobSourceLink"]

log = logging.getLogger(__name__)


class _SourceLink(BaseOperatorLink):
    """The file and line of ``operator.source_location()`` (a :class:`~gridflow.plan.Location`
    or None), as the template makes them a URL."""

    name = "Source"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        try:
            where = operator.source_location() if hasattr(operator, "source_location") else None
            template = str(conf.get(CONFIG_SECTION, CONFIG_OPTION, fallback="") or "")
            link = source_link(template, where, _roots(ti_key))
        except Exception as exc:  # a link is never worth a failed task
            log.warning("%s link: not made (%s: %s)", self.name, type(exc).__name__, exc)
            return ""
        if link.warning:
            log.warning("%s link: %s", self.name, link.warning)
        return link.url


class GridSourceLink(_SourceLink):
    """The step's ``step "<runner>" "<name>"`` block in its ``.hcl`` file."""

    name = "Grid source"


class JobSourceLink(_SourceLink):
    """The task (or check) in the job's ``.yaml`` file."""

    name = "Job source"


def _roots(ti: Any) -> Sequence[str]:
    """Where files loaded from the dags folder are: the task's DAG bundle, then the dags folder.

    A task run by a worker has its bundle (``RuntimeTaskInstance.bundle_instance``);
    ``dag.test()`` runs tasks without one, from the configured dags folder.
    """
    roots: list[str] = []
    bundle = getattr(ti, "bundle_instance", None)
    bundle_path = getattr(bundle, "path", None)
    if bundle_path is not None:
        roots.append(str(bundle_path))
    dags_folder = conf.get("core", "dags_folder", fallback="")
    if dags_folder:
        roots.append(str(dags_folder))
    return roots
