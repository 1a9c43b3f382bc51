# The two commands the README promises: `make demo` and `make test`. Both set everything up themselves.
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: setup system-deps demo test test-fast lint fixtures bench clean

setup: system-deps $(STAMP)

system-deps:
	@bash scripts/install-system-deps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

fixtures: setup
	$(PY) -m tests.fixtures.build --all

test: setup fixtures
	$(PY) -m pytest -q -p no:cacheprovider tests

test-fast: setup
	$(PY) -m pytest -q -m "not slow" tests

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

demo: setup
	$(PY) -m tests.fixtures.build flask-app
	bash scripts/demo.sh

bench: setup fixtures
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache
