# The two commands: `make up` (install and run everything) and `make test` (install and test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config/development.toml

.PHONY: up test lint format bench lock clean

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.lock
	$(BIN)/python -m pip install -q -r requirements-dev.lock
	touch $@

up: $(VENV)/.installed
	$(BIN)/scheduler up --config $(CONFIG)

test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports  # the layering contracts in pyproject.toml [tool.importlinter]
	$(BIN)/mypy  # the packages in [tool.mypy] files; strict on domain/ and application/
	$(BIN)/pytest -n 3 --dist loadfile  # three workers on two cores, a test module each: e2e tests mostly wait

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/run.py

# Re-pin every dependency from pyproject.toml into the lock files.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install -q --upgrade pip setuptools
	.lockenv/bin/pip install -q .
	.lockenv/bin/pip freeze --exclude scheduler > requirements.lock
	.lockenv/bin/pip install -q ".[dev]"
	.lockenv/bin/pip freeze --exclude scheduler | grep -vxFf requirements.lock > requirements-dev.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
