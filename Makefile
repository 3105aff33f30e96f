# Two commands for a fresh machine:
#   make lab    install everything into .venv and open the course in JupyterLab
#   make test   install everything (with the test extras) and run the whole test suite
# torch's version is pinned in pyproject.toml alone. On a machine with no local CPU build
# of torch, add the CPU wheel index to avoid a multi-GB CUDA download:
#   make lab TORCH_INDEX=https://download.pytorch.org/whl/cpu

PYTHON ?= python3
VENV ?= .venv
TORCH_INDEX ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lab test install execute lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]" $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	touch $@

lab: install
	$(BIN)/coursekit doctor || true
	$(BIN)/jupyter lab --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb $(if $(filter 0,$(shell id -u)),--allow-root)

test: install
	$(BIN)/python -m pytest

# Maintainers: re-run every lesson and solution in place (stores the outputs nbval checks).
execute: install
	$(BIN)/coursekit execute notebooks solutions

lint: install
	$(BIN)/ruff check coursekit tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
