# Two commands do all set-up: `make run` (the hub with its demo) and `make test` (the suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
VAR ?= $(or $(VAR_DIR),var)
PYTEST_ARGS ?= -n auto --dist loadfile
export PATH := $(CURDIR)/$(BIN):$(PATH)

RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed

.PHONY: run serve test lint bench format install clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@ $(RUNTIME)

install: $(RUNTIME)

## run: migrate, seed the demo once, start the embedded broker, web, worker, beat and the demo's emulated shops
run: $(RUNTIME)
	$(BIN)/python manage.py migrate --noinput
	DEMO=1 PUBLIC_URL=http://127.0.0.1:$(PORT) $(BIN)/python manage.py seed_demo --url http://127.0.0.1:$(PORT)/
	DEMO=1 $(BIN)/python manage.py demo_logins > $(VAR)/demo-banner.txt
	DEMO=1 BIND_ADDRESS=127.0.0.1 PUBLIC_URL=http://127.0.0.1:$(PORT) exec $(BIN)/python -m cartrover.launcher --procfile Procfile.demo --port $(PORT) --banner-file $(VAR)/demo-banner.txt

## serve: the product without the demo (web + worker + beat); the first visit creates the first login
serve: $(RUNTIME)
	$(BIN)/python manage.py migrate --noinput
	BIND_ADDRESS=127.0.0.1 exec $(BIN)/python -m cartrover.launcher --procfile Procfile --port $(PORT)

## test: the whole suite (PostgreSQL and Redis when DATABASE_URL / CELERY_BROKER_URL are set)
test: $(DEV)
	$(BIN)/pytest $(PYTEST_ARGS)

## lint: ruff (lint + format check), mypy, Django's checks, migrations up to date
lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy cartrover sync carts/adapters wms/adapters
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

## bench: the benchmarks (PostgreSQL when DATABASE_URL is set); figures in bench/results/
bench: $(DEV)
	$(BIN)/python -m bench.run

format: $(DEV)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache staticfiles
