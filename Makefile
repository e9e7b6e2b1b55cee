# Set-up is part of both targets: the first run creates .venv and installs hierstan into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: results test bench clean

## regenerate every table and plot into results/ (the native engine unless CmdStan is installed)
results: $(VENV)/installed
	$(BIN)/hierstan reproduce --out results

## lint and run the whole test suite
test: $(VENV)/installed
	$(BIN)/ruff check hierstan tests scripts
	$(BIN)/python -m pytest -ra --durations=15

## time hierstan against PyMC and nutpie (about 80 minutes; see hierstan/bench/run.py)
bench: $(VENV)/installed
	$(BIN)/hierstan bench --scaling --out results/bench

$(VENV)/installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

clean:
	rm -rf $(VENV) build dist *.egg-info
