# Set-up is two commands: `make demo` and `make test` (see README's Quick start).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
TEST_WORKERS ?= 2

.PHONY: demo test test-gpu lint format bench bench-gpu clean

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

# The suite runs twice: with the JIT kernels (numba comes with the dev extras) and on the NumPy
# path (BACKPROP_JIT=0), which users without numba get.
test: $(VENV)/.dev
	$(PY) -m ruff check src tests benchmarks examples
	$(PY) -m pytest -n $(TEST_WORKERS) -q
	BACKPROP_JIT=0 $(PY) -m pytest -n $(TEST_WORKERS) -q

# On a machine with an NVIDIA GPU and CuPy (pip install 'backprop[cuda]'): the device-parametrized
# oracle suite and the CUDA tests, on the GPU.
test-gpu: $(VENV)/.dev
	$(PY) -m pytest -n $(TEST_WORKERS) -q --device cuda tests/test_cuda.py tests/test_ops_oracle.py tests/test_ops_more.py \
		tests/test_special_ops.py tests/test_nn_layers.py tests/test_nn_rnn.py tests/test_nn_attention.py tests/test_nn_more.py \
		tests/test_nn_losses.py tests/test_nn_module.py tests/test_optim.py tests/test_serialization.py tests/test_interop.py

lint: $(VENV)/.dev
	$(PY) -m ruff check src tests benchmarks examples

format: $(VENV)/.dev
	$(PY) -m ruff format src tests benchmarks examples

bench: $(VENV)/.dev
	$(PY) -m benchmarks.run

bench-gpu: $(VENV)/.dev
	$(PY) -m benchmarks.run --device cuda --workloads mlp cnn resnet gpt lstm overhead

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
