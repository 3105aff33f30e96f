# Two commands for a fresh machine:
#   make lab    install the course (the runtime only) into .venv, copy the exercises into
#               your own work folder my-work/ and open the course in JupyterLab
#   make test   install the test extras too and run the whole test suite
# torch's version is pinned in pyproject.toml alone. On a machine with no local CPU build
# of torch, add the CPU wheel index to avoid a multi-GB CUDA download:
#   make lab TORCH_INDEX=https://download.pytorch.org/whl/cpu
# Extra JupyterLab or pytest options (benchmarks/newcomer.py uses them):
#   make lab LAB_ARGS="--no-browser --port=8899"    make test PYTEST_ARGS="tests/test_layout.py"

PYTHON ?= python3
VENV ?= .venv
TORCH_INDEX ?=
LAB_ARGS ?=
PYTEST_ARGS ?=
BIN := $(VENV)/bin
PIP_EXTRA := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
RUNTIME := $(VENV)/.installed-runtime
TESTS := $(VENV)/.installed-test

.PHONY: lab test install install-test execute lint clean

install: $(RUNTIME)

install-test: $(TESTS)

# the runtime: what reading the course needs (no pytest, ruff or playwright)
$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e . $(PIP_EXTRA)
	touch $@

# the test extras, on top of the runtime
$(TESTS): $(RUNTIME)
	$(BIN)/python -m pip install --quiet -e ".[test]" $(PIP_EXTRA)
	touch $@

# my-work/ holds your own copies of exercises/ (git ignores it): new exercises are copied in,
# your files are never overwritten.
# jupyter/overrides.json: the course's JupyterLab defaults (no "get notified about news?" pop-up)
lab: $(RUNTIME)
	install -D -m 644 jupyter/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	$(BIN)/coursekit doctor || true
	$(BIN)/coursekit workspace
	$(BIN)/jupyter lab --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

test: $(TESTS)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Maintainers: re-run every lesson and solution in place (stores the outputs nbval checks).
execute: $(RUNTIME)
	$(BIN)/coursekit execute notebooks solutions

lint: $(TESTS)
	$(BIN)/ruff check coursekit tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
