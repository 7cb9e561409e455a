# Two commands do all set-up on a fresh machine (Python 3.11+, Node.js with npm):
#   make run    start the service: SQLite under ./data and a managed local anvil chain
#   make test   run the whole test suite (SQLite, and PostgreSQL made ready by scripts/postgres.sh)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: setup run test lint bench demo

$(PY_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# `npm ci`: exactly the locked versions. The lock lists every platform's anvil binary
# (tests/core/test_setup_files.py checks it), so a Mac, Linux or Windows machine gets
# the same anvil.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(PY_STAMP) $(NODE_STAMP)

run: setup
	$(BIN)/kokudaka serve

test: setup
	scripts/test.sh

lint: setup
	scripts/lint.sh

demo: setup
	$(BIN)/kokudaka demo

bench: setup
	$(BIN)/python bench/api_confirm.py
	$(BIN)/python bench/api_reads.py --database-url sqlite --database-url "$$(scripts/postgres.sh)"
	$(BIN)/python bench/settlement.py
	$(BIN)/python bench/reconcile.py
	$(BIN)/python bench/harvest_settlement.py
	$(BIN)/python bench/bill_expiry.py
