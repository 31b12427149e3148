# Two set-up commands: `make run` (demo study + dashboard) and `make test` (SQLite + PostgreSQL + browser).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8501
DEMO_DIR ?= demo_study
PYTEST_ARGS ?=

.PHONY: run test lint format install bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/labdb init
	$(BIN)/labdb demo --out $(DEMO_DIR)
	@echo "Dashboard on http://localhost:$(PORT)"
	$(BIN)/labdb dashboard --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	@bash tests/chromium.sh || { echo "make test: Chromium could not be installed" >&2; if [ "$$CI" = "true" ]; then exit 1; fi; }
	@PG_URL="$$(bash tests/pg_server.sh)" || { \
	  echo "make test: the PostgreSQL test server could not start" >&2; \
	  if [ "$$CI" = "true" ]; then exit 1; fi; PG_URL=""; }; \
	LABDB_TEST_PG_URL="$$PG_URL" $(BIN)/python -m pytest -ra $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) labdb.sqlite labdb.sqlite-wal labdb.sqlite-shm $(DEMO_DIR)
