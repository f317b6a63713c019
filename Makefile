# make run  - set up everything and serve the chat on http://127.0.0.1:8000 (embedded default)
# make test - set up everything (venv, Debian packages, PostgreSQL and Redis) and run the whole suite
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test venv dev-venv system-deps services lint cluster clean

$(VENV)/.runtime: requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 (or run make PYTHON=python3)" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.runtime
dev-venv: $(VENV)/.dev

run: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	@echo "Serving the chat on http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) chatapp.asgi:application

# Debian packages the end-to-end and cluster tests drive: Chromium and nginx.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v nginx >/dev/null || test -x /usr/sbin/nginx || missing="$$missing nginx-light"; \
	command -v pg_ctlcluster >/dev/null || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	test -d /usr/share/fonts/truetype/noto || missing="$$missing fonts-noto-color-emoji"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# PostgreSQL and Redis on their usual loopback ports; started when they are down.
services: system-deps
	@pg_isready -q -h 127.0.0.1 -p 5432 || { \
	  echo "starting PostgreSQL"; \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start; }
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { \
	  echo "starting Redis"; mkdir -p /var/lib/redis /var/log/redis; \
	  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
	    --dir /var/lib/redis --logfile /var/log/redis/ci.log; }
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli ping >/dev/null 2>&1 && break; sleep 1; done; \
	  pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli ping >/dev/null 2>&1 || { \
	  echo "error: PostgreSQL or Redis did not come up; see /var/log/postgresql and /var/log/redis" >&2; exit 1; }
	@psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='chat'" | grep -q 1 || \
	  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE chat"

# The benchmark's Node load client (bench/loadclient.js) and its one package.
bench/node_modules/.installed: bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

test: dev-venv services bench/node_modules/.installed
	$(PY) -m pytest
	CHAT_TEST_DB=sqlite $(PY) -m pytest -m sqlite -p no:cacheprovider

lint: dev-venv
	$(VENV)/bin/ruff check .

cluster: venv services
	$(PY) manage.py cluster --replicas 3

clean:
	rm -rf $(VENV) staticfiles .pytest_cache bench/node_modules
