# Two commands on a fresh machine: `make run` (the demo on http://127.0.0.1:5000) and `make test`.
# Everything the project needs is installed from requirements.txt (pinned, the one place).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
PYTEST := $(VENV)/bin/pytest
RUFF := $(VENV)/bin/ruff
STAMP := $(VENV)/.installed

HOST ?= 127.0.0.1
PORT ?= 5000
EMULATOR_PORT ?= 12111
# Passed to pytest, e.g. `make test PYTEST_ARGS="tests/access -x"`.
PYTEST_ARGS ?=
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432
PG_TEST_DB ?= access_program_test

.PHONY: help install run test test-postgres browser-deps lint format bench screenshots clean

help:
	@echo "make run            the demo on http://$(HOST):$(PORT) (venv, migrations, demo data)"
	@echo "make test           the whole suite on SQLite (installs Chromium for the browser test)"
	@echo "make test-postgres  the suite on PostgreSQL ($(PG_URL)/$(PG_TEST_DB))"
	@echo "make lint           ruff check + ruff format --check"
	@echo "make bench          every benchmark in benchmarks/ (the access check needs wrk)"
	@echo "make screenshots    refresh docs/screenshots/"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

install: $(STAMP)

# The demo: SQLite under instance/, demo data on first run (seed-demo is idempotent), the Stripe
# emulator beside the app when the `stripe-emulator` command exists, then the development server.
run: install
	@mkdir -p instance
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	@set -e; emulator=""; \
	if $(FLASK) stripe-emulator --help >/dev/null 2>&1; then \
		$(FLASK) stripe-emulator --port $(EMULATOR_PORT) \
			--webhook-url http://$(HOST):$(PORT)/webhooks/stripe \
			--webhook-secret "$${STRIPE_WEBHOOK_SECRET:-whsec_emulator}" \
			>instance/stripe-emulator.log 2>&1 & emulator=$$!; \
		trap 'kill $$emulator 2>/dev/null || true' EXIT INT TERM; \
		export STRIPE_API_BASE=http://127.0.0.1:$(EMULATOR_PORT); \
		echo "Stripe emulator on http://127.0.0.1:$(EMULATOR_PORT) (log: instance/stripe-emulator.log)"; \
	else \
		echo "note: no 'flask stripe-emulator' command in this build; payouts run without it"; \
	fi; \
	echo "Serving on http://$(HOST):$(PORT) (Ctrl-C stops)"; \
	$(FLASK) run --host $(HOST) --port $(PORT)

# Debian's Chromium for the Playwright browser test (installed only when missing and root).
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update || (sleep 5 && apt-get update); \
			DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
		else \
			echo "note: /usr/bin/chromium is missing and not root: the browser test will skip"; \
		fi; \
	fi

# pytest exits 5 when it collected no test (an empty selection): not a failure of the code.
test: install browser-deps
	@rc=0; $(PYTEST) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi; exit $$rc

test-postgres: install browser-deps
	$(PY) scripts/pgdb.py ensure "$(PG_URL)/$(PG_TEST_DB)"
	@rc=0; TEST_DATABASE_URL="$(PG_URL)/$(PG_TEST_DB)" REQUIRE_POSTGRES=1 \
		$(PYTEST) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi; exit $$rc

lint: install
	$(RUFF) check .
	$(RUFF) format --check .

format: install
	$(RUFF) check --fix .
	$(RUFF) format .

# Every script in benchmarks/ (each prints its table; access_check.py also needs Debian's wrk).
bench: install
	@rc=0; for script in benchmarks/*.py; do \
		echo "== $$script"; $(PY) $$script || rc=1; \
	done; exit $$rc

screenshots: install browser-deps
	$(PY) scripts/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
