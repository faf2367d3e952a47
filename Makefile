# Two commands for a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: install run test lint messages clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install --upgrade pip
	$(PIP) install -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

## Install, migrate, seed the demo and start web + worker + beat on http://127.0.0.1:8000
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --calls 3000
	$(PY) manage.py run_dev

## Install and run the whole test suite (SQLite + embedded Redis unless DATABASE_URL / REDIS_URL are set)
test: install
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .

messages: install
	$(PY) manage.py makemessages -l ru --ignore=.venv --ignore=var
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf var/test-media .pytest_cache
