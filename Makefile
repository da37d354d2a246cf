# Set-up is two commands: `make demo` and `make test` (see README's Quick start).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
TEST_WORKERS ?= 2

.PHONY: demo test lint format bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Runtime install for the demo: NumPy plus the demo extras (digits data, progress bar, checkpoints).
$(VENV)/.runtime: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e '.[demo]'
	touch $@

# Dev install: adds pytest, hypothesis, ruff and torch==2.13.0 (the test oracle).
$(VENV)/.dev: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e '.[dev]'
	touch $@ $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(VENV)/bin/backprop train

test: $(VENV)/.dev
	$(PY) -m ruff check src tests benchmarks examples
	$(PY) -m pytest -n $(TEST_WORKERS) -q

lint: $(VENV)/.dev
	$(PY) -m ruff check src tests benchmarks examples

format: $(VENV)/.dev
	$(PY) -m ruff format src tests benchmarks examples

bench: $(VENV)/.dev
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
