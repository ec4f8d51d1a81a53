# From a fresh clone:
#   make demo       creates .venv, installs jaxloss with the train extra, runs `jaxloss demo`
#   make test       creates .venv with the train, data and test extras, runs the whole suite
#                   with JAX on the CPU (BACKEND=cpu; torch is the reference, on the CPU)
#   make test-accelerator   the loss parity suites with JAX on a GPU or TPU (ACCELERATOR=cuda,
#                   rocm or tpu; cpu runs the same command here) and torch on the CPU;
#                   ACCEL_PIP='jax[cuda12]' (or 'jax[tpu]') installs that jaxlib into .venv first
#   make lint       ruff (lint + format check) and mypy on the library and the app
#   make bench      the benchmarks (jaxloss vs torch vs optax) into benchmarks/out
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo test test-accelerator lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

$(VENV)/.installed-train: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[train]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[train,data,test]'
	touch $@ $(VENV)/.installed-train

$(VENV)/.installed-lint: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[train,lint]'
	touch $@

demo: $(VENV)/.installed-train
	$(BIN)/jaxloss demo $(ARGS)

# The backend JAX runs the suite on (tests/conftest.py checks it is there; float64 cases skip
# where it has none). TESTS: what pytest runs, the whole suite by default.
BACKEND ?= cpu
TESTS   ?=
test: $(VENV)/.installed-test
	JAX_PLATFORMS=$(BACKEND) $(BIN)/python -m pytest -n 2 --dist loadfile $(TESTS) $(PYTEST_ARGS)

# The same parity run on an accelerator: the loss suites (LOSS_TESTS, below) on ACCELERATOR.
ACCELERATOR ?= cuda
test-accelerator: $(VENV)/.installed-test
	$(if $(ACCEL_PIP),$(PIP) '$(ACCEL_PIP)')
	$(MAKE) test BACKEND=$(ACCELERATOR) TESTS="$(LOSS_TESTS)"

lint: $(VENV)/.installed-lint
	$(BIN)/ruff check jaxloss tests benchmarks
	$(BIN)/ruff format --check jaxloss tests benchmarks
	$(BIN)/mypy

bench: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks $(ARGS)

clean:
	rm -rf $(VENV) $(VENV_MIN) build dist *.egg-info .pytest_cache docs/_build benchmarks/out

# make docs       the documentation site, offline, warnings as errors, into docs/_build/html
#                 (then runs the guide pages' doctest blocks)
.PHONY: docs
$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[docs]'
	touch $@

docs: $(VENV)/.installed-docs
	$(BIN)/sphinx-build -W --keep-going -b html -d docs/_build/doctrees docs docs/_build/html
	$(BIN)/sphinx-build -W --keep-going -b doctest -d docs/_build/doctrees docs docs/_build/doctest

# make test-min   the loss tests on the oldest supported jax, jaxlib and numpy (the pins of
#                 constraints-min.txt), in their own venv .venv-min, with torch==2.13.0
VENV_MIN   := .venv-min
LOSS_TESTS := tests/api $(filter-out tests/test_benchmarks.py,$(wildcard tests/test_*.py))
MIN_TESTS  := $(LOSS_TESTS)
.PHONY: test-min
$(VENV_MIN)/bin/python:
	$(PYTHON) -m venv $(VENV_MIN)

$(VENV_MIN)/.installed: pyproject.toml constraints-min.txt | $(VENV_MIN)/bin/python
	$(VENV_MIN)/bin/python -m pip install --quiet --disable-pip-version-check \
		-c constraints-min.txt -e '.[test]'
	touch $@

test-min: $(VENV_MIN)/.installed
	$(VENV_MIN)/bin/python -m pip list --disable-pip-version-check 2>/dev/null \
		| grep -E '^(jax|jaxlib|numpy|scipy|ml_dtypes|torch) '
	$(VENV_MIN)/bin/python -m pytest -n 2 --dist loadfile -p no:cacheprovider \
		$(MIN_TESTS) $(PYTEST_ARGS)
