# Everyday commands. Each one is a plain command you can also run by hand.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: install run worker test test-postgres lint format migrate lock bench settings-docs

install:  ## create .venv with the pinned runtime and development dependencies
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q -r requirements.txt -r requirements-dev.txt

run:  ## serve on http://127.0.0.1:8000 with reload, on ./app.db unless DATABASE_URL is set
	$(VENV)/bin/uvicorn app.main:app --reload

worker:  ## run background jobs and schedules until Ctrl-C (needs a PostgreSQL DATABASE_URL)
	$(PYTHON) -m app.jobs worker

test:  ## the whole suite on SQLite, in parallel
	$(PYTHON) -m pytest

test-postgres:  ## the whole suite on PostgreSQL and Redis (creates and drops its own databases)
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) TEST_REQUIRE_SERVERS=1 $(PYTHON) -m pytest

lint:  ## style, lint and strict types
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy app api tests migrations bench .ci/removal_contract.py

format:  ## fix what ruff can fix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate:  ## upgrade DATABASE_URL to the newest migration of every feature
	$(PYTHON) -m app.migrate

settings-docs:  ## regenerate docs/settings.md and .env.example from the settings classes
	$(PYTHON) -m tests.settings_reference

bench:  ## measure against bare FastAPI and raw asyncpg on local PostgreSQL; writes BENCHMARKS.md
	$(PYTHON) -m bench.run

lock:  ## after editing pins in pyproject.toml: re-lock and re-export the requirement files
	uv lock
	uv export --frozen --no-dev --no-hashes --no-emit-project --no-annotate -o requirements.txt
	uv export --frozen --only-group dev --no-hashes --no-emit-project --no-annotate -o requirements-dev.txt
