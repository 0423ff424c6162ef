# The two commands: `make run` (default dataset, end to end) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | cksum | cut -d' ' -f1)
# Scripts run by Snakemake must find the environment's Python first.
export PATH := $(abspath $(BIN)):$(PATH)
CORES ?= 2

.PHONY: run test test-cluster lint clean bench bench-quick

run: $(INSTALLED)
	$(BIN)/snakemake --cores $(CORES)

# --dist loadfile: a test file's workflow run (a module fixture) is made once, not once per worker. The files
# whose workflow runs take a minute or more are handed out first, so that no worker is left with one at the end
# while the other idles (pytest collects each file once, the rest of tests/ after them).
SLOW_TESTS := $(addprefix tests/,test_real_cepheid.py test_real_photometry.py test_m13.py test_rejection.py \
	test_lightcurve_workflow.py test_real_colour.py test_colour_workflow.py test_workflow.py test_groups.py)

test: lint
	$(BIN)/pytest -n $(CORES) --dist loadfile -q -m "not cluster" $(SLOW_TESTS) tests

# The workflow on a single-node SLURM brought up on this machine (root and apt-get; skipped, saying why, without).
# Apart from `make test`: it takes about 4 minutes of mostly waiting for SLURM.
test-cluster: $(INSTALLED)
	$(BIN)/pytest -q -m cluster tests/cluster

# Snakemake's own linter and formatter: the workflow follows the catalog's conventions. The lint needs no SLURM:
# tests/bin's stand-in scontrol spares it the SLURM plugin's 9 s wait for a controller (see that file).
lint: $(INSTALLED)
	$(BIN)/snakefmt --check Snakefile workflow/
	PATH=$(abspath tests/bin):$$PATH $(BIN)/snakemake --lint

# The run-time pins (requirements.txt, also those of the jobs' conda environment) and the test and lint tools.
$(INSTALLED): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

# First the five M13 frames end to end, as a person trying stackphot waits for them (bench/small_set.py), then
# registration's CPU per frame against the translation-only one and the star matching alone (bench/registration.py),
# the time series' per-frame photometry, CPU and memory (bench/lightcurve.py), its long table's ECSV (bench/tables.py),
# the masters' peak memory at 50 frames of 4096 x 4096 (bench/calibration.py, 3.2 GB of frames kept in
# $(BENCH_DIR)/calibration/), then the benchmark of issues 4 and 22 (bench/run_bench.py): the workflow against the
# same work in one process on one core (bench/reference.py), against the plain recipe in one process on one core
# (bench/plain.py) and against Siril where siril-cli is installed (bench/siril.py).
# Frames are simulated once into $(BENCH_DIR)/frames/; the 200x2048 set needs about 40 GB of free disk while it runs.
# Issue 22's sets (60x1024 40x2048) come first; `$(BIN)/python bench/run_bench.py 60x1024 40x2048` runs them alone.
# The plain recipe and these two sets add about half an hour to the full run's 67 minutes (estimated, not measured).
# bench-quick runs small sets, to try the harness; its figures are not the issues'.
BENCH_DIR ?= results/bench
BENCH_SETS ?= 60x1024 40x2048 100x2048 200x2048 1000x256
BENCH_QUICK_SETS ?= 10x512 20x512 100x128

bench: $(INSTALLED)
	$(BIN)/python bench/small_set.py
	$(BIN)/python bench/registration.py
	$(BIN)/python bench/calibration.py
	$(BIN)/python bench/lightcurve.py
	$(BIN)/python bench/tables.py
	$(BIN)/python bench/run_bench.py --dir $(BENCH_DIR) --cores $(CORES) $(BENCH_SETS)

bench-quick: $(INSTALLED)
	$(BIN)/python bench/small_set.py --repeat 1 --batch-size auto
	$(BIN)/python bench/registration.py 512 3
	$(BIN)/python bench/calibration.py 10 1024
	$(BIN)/python bench/lightcurve.py 100 512 500
	$(BIN)/python bench/run_bench.py --dir $(BENCH_DIR)/quick --cores $(CORES) $(BENCH_QUICK_SETS)

clean:
	rm -rf results logs benchmarks .snakemake
