# Linli 邻里 — the two commands: `make demo` (run it) and `make test` (test it). Everything else is their parts.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
ASSETS := linli/static/vendor/.built
PG_URL ?= postgres://postgres@127.0.0.1:5432/linli

.PHONY: demo test test-sqlite test-postgres lint install assets messages chromium postgres mosquitto redis serve bench bench-grid clean

demo: install assets
	$(BIN)/linli demo

test: install assets chromium postgres mosquitto redis lint test-sqlite test-postgres

test-sqlite:
	@echo "== tests on SQLite =="
	env -u DATABASE_URL $(BIN)/pytest

test-postgres:
	@echo "== tests on PostgreSQL ($(PG_URL)) =="
	DATABASE_URL=$(PG_URL) $(BIN)/pytest

lint: install
	$(BIN)/ruff check linli conftest.py
	$(BIN)/ruff format --check linli conftest.py
	$(BIN)/mypy linli/core/services.py linli/core/scope.py linli/core/regions.py

install: $(INSTALLED)

$(INSTALLED): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

assets: $(ASSETS)

$(ASSETS): frontend/package.json frontend/package-lock.json frontend/copy-assets.mjs
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	node frontend/copy-assets.mjs
	touch $@

messages: install
	cd linli && ../$(BIN)/django-admin compilemessages --ignore=.venv

chromium:
	@scripts/ensure-chromium

postgres:
	@scripts/ensure-postgres

mosquitto:
	@scripts/ensure-mosquitto

redis:
	@scripts/ensure-redis

serve: install assets
	$(BIN)/linli serve

bench: install postgres
	$(BIN)/python bench/registry.py
	$(BIN)/python bench/registry_import.py
	$(BIN)/python bench/workcalendar.py
	$(BIN)/python bench/open311.py
	$(BIN)/python bench/iot_store.py
	$(MAKE) bench-grid

bench-grid: install postgres
	$(BIN)/python bench/grid.py

clean:
	rm -rf $(VENV) frontend/node_modules linli/static/vendor var
