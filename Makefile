# One command each: `make run` (an example grid, end to end) and `make test`
# (lint, types, every test). Both bootstrap .venv on a fresh machine that has
# only python3 and the package registries.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.gridflow-installed
EXAMPLE ?= dags_examples/grids/http_fanout
ENGINE ?= prefect
LINTED := $(wildcard src tests bench examples)

# Airflow lives in its own venv: the newest apache-airflow and prefect pin
# shared web libraries differently (docs/decisions/0002-airflow-environment.md).
AF_VENV := .venv-airflow
AF_PY := $(AF_VENV)/bin/python
AF_UV := $(AF_VENV)/bin/uv
AF_STAMP := $(AF_VENV)/.gridflow-installed

.PHONY: setup run test lint typecheck unit check bench clean setup-airflow test-airflow

setup: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip uv

$(STAMP): pyproject.toml | $(PY)
	@# A venv made by another tool may lack pip: ensurepip brings it back.
	@test -x $(UV) || { $(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip --upgrade >/dev/null; $(PY) -m pip install --quiet uv; }
	$(UV) pip install --quiet --python $(PY) -e ".[prefect,dev]"
	@touch $(STAMP)

setup-airflow: $(AF_STAMP)

$(AF_PY):
	$(PYTHON) -m venv $(AF_VENV)
	$(AF_PY) -m pip install --quiet --upgrade pip uv

$(AF_STAMP): pyproject.toml | $(AF_PY)
	@test -x $(AF_UV) || { $(AF_PY) -m pip --version >/dev/null 2>&1 || $(AF_PY) -m ensurepip --upgrade >/dev/null; $(AF_PY) -m pip install --quiet uv; }
	$(AF_UV) pip install --quiet --python $(AF_PY) -e ".[airflow,airflow-tests,dev]"
	@touch $(AF_STAMP)

# Starts a real Airflow (api-server, scheduler, dag-processor) once per session,
# its metadata DB on a throwaway PostgreSQL cluster (tests/support/postgres.py).
test-airflow: setup-airflow
	tools/debian-packages postgresql
	$(AF_VENV)/bin/pytest -q -m airflow tests/airflow

run: setup
	$(PY) examples/run_example.py --engine $(ENGINE) $(EXAMPLE)

lint: setup
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)

typecheck: setup
	$(VENV)/bin/mypy src/gridflow

unit: setup
	$(VENV)/bin/pytest -x -q -m "not integration"

test: setup lint typecheck
	@# Real sshd nodes for the fleet tests (tests/support/sshd.py).
	tools/debian-packages openssh-server
	$(VENV)/bin/pytest -q -m "not airflow"
	$(MAKE) test-airflow

# Benchmarks print ratios against references measured side by side (wrk,
# Locust, bare client loops, hand-written DAGs); results go to docs/benchmarks.md.
bench: setup
	$(UV) pip install --quiet --python $(PY) -e ".[prefect,dev,bench]"
	tools/debian-packages nginx-light wrk
	$(PY) bench/compile.py
	$(PY) bench/burst_threshold.py
	$(PY) bench/http_burst.py --repeat 3
	$(PY) bench/burst_memory.py
	$(PY) bench/fleet.py --repeat 3

clean:
	rm -rf $(VENV) $(AF_VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
