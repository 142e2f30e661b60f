# Credit Lifecycle Portal — developer and CI entry points.
#   make run      dev server on 127.0.0.1:5000 (embedded SQLite under instance/, demo data)
#   make worker   RQ worker (needs REDIS_URL)
#   make cron     RQ cron scheduler for the periodic jobs (needs REDIS_URL)
#   make test     system packages + venv, then the whole pytest suite (CI: .ci/run)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
FLASK := $(VENV)/bin/flask --app wsgi
STAMP := $(VENV)/.stamp
REQUIREMENTS := $(wildcard requirements*.txt)

.PHONY: venv run worker cron test system-deps lint bench clean

venv: $(STAMP)

# Re-install only when a requirements file is newer than the stamp.
$(STAMP): $(REQUIREMENTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

system-deps:
	bash scripts/install-system-deps.sh

run: venv
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	$(FLASK) run --host 127.0.0.1 --port 5000

worker: venv
	@test -n "$$REDIS_URL" || { echo "worker: set REDIS_URL (e.g. redis://127.0.0.1:6379/0)" >&2; exit 1; }
	$(FLASK) rq-worker default billing exports notifications ocr

# RQ's cron scheduler (jobs/schedule.py): score recalculation Sundays 02:00 IST; run one next to the workers.
cron: venv
	@test -n "$$REDIS_URL" || { echo "cron: set REDIS_URL (e.g. redis://127.0.0.1:6379/0)" >&2; exit 1; }
	$(FLASK) rq-cron

test: venv system-deps
	$(VENV)/bin/pytest -q

lint: venv
	$(VENV)/bin/ruff check portal jobs tests

bench: venv
	@if [ -f scripts/bench.py ]; then $(PY) -m scripts.bench; else echo "no benchmarks yet"; fi

clean:
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache htmlcov .coverage test-results
