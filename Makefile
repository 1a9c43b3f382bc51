# The two commands the README promises: `make demo` and `make test`. Both set everything up themselves
# (as root on a fresh Debian/Ubuntu machine): apt packages, the virtualenv, Python deps, fixture images.
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup system-deps demo test test-fast lint fixtures fixtures-prune bench clean

setup: system-deps $(STAMP)

system-deps:
	@bash scripts/install-system-deps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# Real test images from Debian packages, cached by recipe hash in $HONED_FIXTURES (~/.cache/honed/fixtures).
fixtures: setup
	$(PY) -m tests.fixtures.build --all

fixtures-prune: setup
	$(PY) -m tests.fixtures.build --prune

# pytest exit 5 means "no tests collected": not a failure of the suite.
test: setup fixtures
	@rc=0; $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests || rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi; exit $$rc

test-fast: setup
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow" tests

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

demo: setup
	bash scripts/demo.sh

bench: setup fixtures
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache
