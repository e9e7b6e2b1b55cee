# Set-up is part of every target: the first run creates .venv and installs hierstan into it.
# `results` needs hierstan alone; `test` and `bench` add the dev and bench extras (pytest, ruff,
# Jupyter for the notebook test, PyMC and nutpie for the benchmark: about 1 GB more); `docs` adds
# Sphinx, MyST-NB and the furo theme.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: results test test-fast docs bench clean

## regenerate every table and plot into results/ (the native engine unless CmdStan is installed)
results: $(VENV)/installed
	$(BIN)/hierstan reproduce --out results

## lint and run the whole test suite
test: $(VENV)/installed-dev
	$(BIN)/ruff check hierstan tests scripts
	$(BIN)/python -m pytest -ra --durations=15

## the fast tier: compile-free tests plus one tiny fit per engine (a few minutes)
test-fast: $(VENV)/installed-dev
	$(BIN)/python -m pytest -ra -m "not slow"

## build the documentation site into docs/_build/html, executing every example (a few minutes);
## -W -n: any warning, broken cross-reference, failing cell or output on a cell's stderr fails it
docs: $(VENV)/installed-docs
	rm -rf docs/_build
	$(BIN)/sphinx-build -W --keep-going -n -q -b html docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

## time hierstan against PyMC and nutpie (about 80 minutes; see hierstan/bench/run.py)
bench: $(VENV)/installed-dev
	$(BIN)/hierstan bench --scaling --out results/bench

$(VENV)/installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/installed-dev: $(VENV)/installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

$(VENV)/installed-docs: $(VENV)/installed
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	touch $@

clean:
	rm -rf $(VENV) build dist *.egg-info docs/_build
