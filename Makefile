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

test: $(INSTALLED)  ## the whole suite, learning tests included
	$(BIN)/python -m pytest -m "slow or not slow" -q

test-fast: $(INSTALLED)  ## unit and CLI tests only
	$(BIN)/python -m pytest -q

lint: $(INSTALLED)
	$(BIN)/ruff check dltrain tests benchmarks

clean:
	rm -rf runs outputs multirun lightning_logs .pytest_cache
