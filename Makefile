# Shiptrack Portal: `make demo` runs everything on this machine, `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: demo test lint format bench clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

## demo: portal + worker + Odoo and AfterShip simulators, with seeded deliveries (Ctrl-C stops all)
demo: $(STAMP)
	@$(BIN)/python -m simulators.demo

## test: the whole suite (SQLite by default; DATABASE_URL / REDIS_URL select PostgreSQL / Redis)
test: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	@$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	@$(BIN)/ruff format . && $(BIN)/ruff check --fix .

## bench: the outbound backlog benchmark (prints figures; see docs/benchmarks.md)
bench: $(STAMP)
	@$(BIN)/python -m bench.outbound_backlog $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .demo .pytest_cache .ruff_cache
