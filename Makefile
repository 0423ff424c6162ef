# The two commands: `make run` (default dataset, end to end) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
# Scripts run by Snakemake must find the environment's Python first.
export PATH := $(abspath $(BIN)):$(PATH)
CORES ?= 2

.PHONY: run test lint clean

run: $(INSTALLED)
	$(BIN)/snakemake --cores $(CORES)

test: lint
	$(BIN)/pytest -n $(CORES) -q

# Snakemake's own linter and formatter: the workflow follows the catalog's conventions.
lint: $(INSTALLED)
	$(BIN)/snakefmt --check Snakefile workflow/
	$(BIN)/snakemake --lint

$(INSTALLED): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

clean:
	rm -rf results logs benchmarks .snakemake
