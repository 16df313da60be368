"""gridflow: declarative load tests and fleet operations on Airflow and Prefect."""

from gridflow._version import __version__

__all__ = ["__version__"]
