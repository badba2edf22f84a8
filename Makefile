# The two commands from the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format install migrate bench clean chaos soak

NODE_COMPAT := tests/compat/node

$(STAMP): requirements-dev.lock $(NODE_COMPAT)/package-lock.json
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.lock
	# The official Postmark Node.js client for the compat tests (tests/compat/node).
	npm ci --prefix $(NODE_COMPAT) --no-audit --no-fund --loglevel=error
	touch $(STAMP)

install: $(STAMP)

migrate: install
	mkdir -p var
	$(PY) manage.py migrate --noinput

# Start the whole platform on 127.0.0.1 with embedded defaults; Ctrl-C stops it.
# `make run PROCS="web worker"` starts only some of the Procfile.dev processes.
PROCS ?=
run: migrate
	mkdir -p var/broker/queue var/broker/processed
	$(PY) manage.py demo_setup
	$(VENV)/bin/honcho -f Procfile.dev start $(PROCS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: install lint
	$(PY) -m pytest $(PYTEST_ARGS)

# Reliability programme (docs/reliability.md): not part of `make test`.
# `make chaos` injects every fault (~15 min); `make soak` runs 30 minutes at 80 %
# of measured capacity and plots memory and queue depth to docs/soak.png.
chaos: install
	$(PY) -m chaos.run $(CHAOS_ARGS)

soak: install
	$(PY) -m chaos.soak $(SOAK_ARGS)

clean:
	rm -rf var/test-archive .pytest_cache
