# Two entry points for a fresh machine: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

export DAGSTER_HOME := $(CURDIR)/.dagster
export MM_DATA_DIR ?= $(CURDIR)/data/tenants
export MM_STORAGE_DIR ?= $(CURDIR)/storage
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install system-deps demo test bench ui clean

# espeak-ng synthesises the demo speech (Debian package; CI runs as root).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@command -v espeak-ng >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq espeak-ng >/dev/null; }

# torch first and pinned: it is the CPU build on disk; resolving it through other packages pulls CUDA.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: system-deps $(VENV)/.installed
	@mkdir -p $(DAGSTER_HOME)

demo: install
	$(VENV)/bin/mm demo-data --profile small
	@# A fresh storage seeds the registry with the multilingual champion (MiniLM, the seed's
	@# English baseline, is its challenger): `mm run` with no flags uses what the README says.
	$(VENV)/bin/mm run
	@echo
	$(VENV)/bin/mm api-keys
	@echo
	@echo "Open the UI:     DAGSTER_HOME=$(DAGSTER_HOME) $(VENV)/bin/dagster dev -w workspace.yaml   -> http://127.0.0.1:3000"
	@echo "Ask a tenant:    $(VENV)/bin/mm query --tenant ecommerce --language en --text 'Can I return what I bought?'"
	@echo "Serve Dify:      $(VENV)/bin/mm serve --port 8000   (then POST /retrieval with 'Authorization: Bearer <key>')"

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/run_all.py --profile seed

ui: install
	$(VENV)/bin/dagster dev -w workspace.yaml

clean:
	rm -rf storage .dagster data/tenants
