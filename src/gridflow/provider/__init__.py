"""gridflow as an Airflow provider.

Importing this package must stay cheap and Airflow-free: Airflow's provider
manager reaches :func:`get_provider_info` through it in every Airflow process.
Anything that needs Airflow lives in modules imported on demand.
"""

from __future__ import annotations

from gridflow.provider.info import get_provider_info

__all__ = ["get_provider_info"]
