# `make train` and `make test` work on a fresh machine: they create .venv and install dltrain first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install train smoke test test-fast lint clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

train: $(INSTALLED)  ## the default run: LeNet-5 on digits; pass more overrides with ARGS="..."
	$(BIN)/dltrain train $(ARGS)

smoke: $(INSTALLED)  ## one batch of train/val/test, seconds
	$(BIN)/dltrain train debug=smoke $(ARGS)

# Two test processes (one per core of the CI machine); a module's tests stay together to share its fixtures.
PYTEST := $(BIN)/python -m pytest -q -n 2 --dist loadscope

test: $(INSTALLED)  ## the whole suite, learning tests included
	$(PYTEST) -m "slow or not slow"

test-fast: $(INSTALLED)  ## unit and CLI tests only
	$(PYTEST)

lint: $(INSTALLED)
	$(BIN)/ruff check dltrain tests benchmarks

clean:
	rm -rf runs outputs multirun lightning_logs .pytest_cache
