"""Airflow DAGs: one per gridflow grid in this folder (the .hcl files below).

Copy this file and the grids into your dags folder. The docstring keeps the
words Airflow's safe mode looks for in a DAG file.
"""

from gridflow.provider import load_dags

load_dags(globals())
