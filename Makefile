# Conversation Ledger. `make run` and `make test` install what they need into .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test test-fast bench drills lint format schemas clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Start the whole stack on embedded defaults, served on http://127.0.0.1:8000
run: install
	$(VENV)/bin/ledger up

## Every test, against the real stack (embedded PostgreSQL, or LEDGER_DATABASE_URL's server)
test: install
	$(PY) -m pytest

## Only the fast tests that need no running services
test-fast: install
	$(PY) -m pytest tests/unit -q

## The benchmark suite at its default sizes (< 15 min on 2 cores): a table, and JSON in bench-results/
bench: install
	$(PY) -m bench.suite $(BENCH_ARGS)

## The fault drills: each starts the real stack, injects a fault under load, counts what survived
drills: install
	$(PY) -m pytest tests/drills -m drills -v $(DRILLS_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## Regenerate the JSON Schemas of the event catalog (schemas/events)
schemas: install
	$(PY) -m domain.schema_export --write schemas/events

clean:
	rm -rf .ledger .pytest_cache .hypothesis
