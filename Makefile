# segml — run `make help` for the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP  := $(VENV)/.segml-installed
CONFIG ?= experiments/configs/default.yaml
PYTEST_ARGS ?=
# two pytest-xdist workers, a test file per worker at a time (its module fixtures run once),
# the heaviest files first and the notebooks test by test (tests/conftest.py);
# PYTEST_WORKERS=0 runs the tests in one process
PYTEST_WORKERS ?= 2
PYTEST_XDIST = $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder)
# no usage telemetry from MLflow in a bank's environment
export MLFLOW_DISABLE_TELEMETRY ?= true
export DO_NOT_TRACK ?= 1
UI_PORT ?= 5000

## help: list the targets and what they do
.PHONY: help
help:
	@echo "segml — bank customer segmentation and tiering"
	@echo
	@grep -E '^## ' $(MAKEFILE_LIST) | sed -e 's/^## /  /' | awk -F': ' '{printf "  make %-10s %s\n", substr($$1,3), $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "segml needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)

# The stamp is rebuilt only when the pinned lock or the project metadata change.
# Packages are installed with their bytecode compiled: where PYTHONDONTWRITEBYTECODE is set
# (containers, CI images) nothing is cached at import, and every process of the test suite
# (segml subprocesses, notebook kernels, model servers) compiled pandas, scikit-learn, MLflow
# and shap from source again: 8 s instead of 2.5 s per process, +7 CPU-minutes per `make test`;
# the test targets compile segml's own modules first for the same reason.
$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	@($(BIN)/python -m pip install -q "uv==$(UV_VERSION)" && \
	  $(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -r requirements.lock && \
	  $(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .) || \
	 ($(BIN)/python -m pip install -q -r requirements.lock && \
	  $(BIN)/python -m pip install -q --no-deps -e .)
	@touch $(STAMP)

## setup: create .venv and install segml with its pinned dependencies (idempotent)
.PHONY: setup
setup: $(STAMP)

## demo: set up, run the main job on the synthetic bank (about 6.5 min on 2 cores), write its review pack; an unchanged config reuses its finished run (segml run --reuse), FORCE=1 runs it again
.PHONY: demo
demo: $(STAMP)
	$(BIN)/segml run --config $(CONFIG) $(if $(filter 1,$(FORCE)),,--reuse)
	$(BIN)/segml report --config $(CONFIG) --latest

## report: write the model-review pack (one HTML file) of the latest run; REPORT_ARGS="--run-id ID"
.PHONY: report
report: $(STAMP)
	$(BIN)/segml report --config $(CONFIG) $(if $(findstring --run-id,$(REPORT_ARGS)),,--latest) $(REPORT_ARGS)

## test: set up, then run the whole test suite (slow and spark tests included)
.PHONY: test
test: $(STAMP)
	@$(BIN)/python -m compileall -q src
	$(BIN)/python -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

## test-fast: the tests not marked slow, for iteration (under 3 minutes; docs/testing.md)
.PHONY: test-fast
test-fast: $(STAMP)
	@$(BIN)/python -m compileall -q src
	$(BIN)/python -m pytest $(PYTEST_XDIST) -m "not slow" $(PYTEST_ARGS)

## lint: ruff lint and format check
.PHONY: lint
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools notebooks
	$(BIN)/ruff format --check src tests benchmarks tools notebooks

## format: apply ruff fixes and formatting
.PHONY: format
format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks tools notebooks
	$(BIN)/ruff format src tests benchmarks tools notebooks

## bench: run the benchmarks (small default; BENCH_ARGS="--customers 1000000" for the big one)
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_synth.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/bench_features.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/bench_rfm.py
	$(BIN)/python benchmarks/bench_clv.py
	$(BIN)/python benchmarks/bench_clv_lifetimes.py
	$(BIN)/python benchmarks/bench_explain.py
	$(BIN)/python benchmarks/bench_serving.py
	$(BIN)/python benchmarks/bench_pipeline.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/bench_caps.py

## lab: JupyterLab on notebooks/ with the project's kernel; as root (or JUPYTER_ALLOW_ROOT=1) with --allow-root, said in one line; LAB_ARGS="--port 8889" adds options
.PHONY: lab
# JupyterLab refuses to start as root without --allow-root (containers often run as root)
LAB_UID ?= $(shell id -u)
LAB_ROOT = $(if $(or $(filter 0,$(LAB_UID)),$(filter 1,$(JUPYTER_ALLOW_ROOT))),--allow-root)
lab: $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name segml --display-name "segml (.venv)" >/dev/null
	mkdir -p .venv/share/jupyter/lab/settings
	printf '%s\n' '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}}}' \
	  > .venv/share/jupyter/lab/settings/overrides.json
	$(if $(LAB_ROOT),@echo "make lab: running as root (or JUPYTER_ALLOW_ROOT=1): starting JupyterLab with --allow-root")
	$(BIN)/jupyter lab --notebook-dir=notebooks $(LAB_ROOT) $(LAB_ARGS)

## ui: MLflow UI on the local tracking store (experiments/mlflow.db)
.PHONY: ui
ui: $(STAMP)
	@mkdir -p experiments
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/experiments/mlflow.db \
	  --default-artifact-root $(CURDIR)/experiments/artifacts --host 127.0.0.1 --port $(UI_PORT) --workers 1

## lock: re-resolve requirements.lock from pyproject.toml (needs network; commit the result)
.PHONY: lock
lock: | $(BIN)/python
	$(BIN)/python -m pip install -q "uv==$(UV_VERSION)"
	$(BIN)/uv pip compile pyproject.toml --all-extras --universal --python-version 3.11 \
	  --no-header -o requirements.lock
	$(BIN)/python tools/write_environment.py

## clean: remove the virtual environment and caches (never data/raw)
.PHONY: clean
clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
