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

.PHONY: setup run test lint typecheck unit check bench clean

setup: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip uv

$(STAMP): pyproject.toml | $(PY)
	@# A venv made by another tool may lack pip: ensurepip brings it back.
	@test -x $(UV) || { $(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip --upgrade >/dev/null; $(PY) -m pip install --quiet uv; }
	$(UV) pip install --quiet --python $(PY) -e ".[prefect,dev]"
	@touch $(STAMP)

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
	$(VENV)/bin/pytest -q

bench: setup
	$(PY) bench/compile.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
