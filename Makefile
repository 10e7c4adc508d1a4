# One entry point for everything: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages: mysqlclient builds against libmariadb; the IMAP tests start Dovecot;
# the browser check drives Debian's Chromium.
RUNTIME_DEBS := pkg-config libmariadb-dev
TEST_DEBS := $(RUNTIME_DEBS) mariadb-client-core postgresql-client-15 dovecot-imapd openssl chromium
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt 2>/dev/null | sha1sum | cut -c1-12)
AIRFLOW_ENV := source scripts/airflow_env.sh

.PHONY: help install system-deps test test-fast lint format bench bench-extract bench-freshness bench-freshness-learning bench-peers bench-load bench-overhead run connections clean \
	demo demo-stop test-e2e test-docker

help: ## List the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-16s %s\n", $$1, $$2}'

system-deps: ## Install the Debian packages the project needs (as root), or say which are missing
	@scripts/ensure_system_packages.sh $(TEST_DEBS)

$(STAMP): requirements.txt requirements-dev.txt
	@scripts/ensure_system_packages.sh $(RUNTIME_DEBS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv
	@$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.txt -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## Create .venv and install the pinned requirements (fast when already done)

lint: install ## ruff lint (with the AIR rules), format check and the type check (mypy)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install system-deps lint ## Install what is missing, lint, then run the whole test suite
	$(AIRFLOW_ENV) && AIRFLOW_HOME=$$(mktemp -d) $(BIN)/pytest $(PYTEST_ARGS)

test-fast: install ## Run the DAG and unit tests only (no servers)
	$(AIRFLOW_ENV) && AIRFLOW_HOME=$$(mktemp -d) $(BIN)/pytest tests/policy tests/unit $(PYTEST_ARGS)

bench: bench-extract bench-peers bench-freshness bench-freshness-learning bench-load bench-overhead ## Run every benchmark (prints rows/s or seconds, peak RSS, ratios)

bench-extract: install ## Benchmark relational extraction (initial load, merge, nothing new, binary COPY) against the raw pipe and GenericTransfer
	$(AIRFLOW_ENV) && $(BIN)/python bench/bench_extract.py $(BENCH_ARGS)

bench-peers: install ## Benchmark relational extraction side by side with dlt, ingestr and sling (peers in .bench-venv/; every load md5-checked)
	$(AIRFLOW_ENV) && $(BIN)/python bench/bench_peers.py $(BENCH_ARGS)

bench-freshness: install ## Benchmark the freshness sweep against a Watchdog-style baseline
	$(AIRFLOW_ENV) && $(BIN)/python bench/bench_freshness.py $(BENCH_ARGS)

bench-freshness-learning: install ## Replay learned vs fixed freshness thresholds on generated history (precision, recall)
	$(AIRFLOW_ENV) && $(BIN)/python bench/freshness_learning.py $(BENCH_ARGS)

bench-load: install ## Benchmark publishes (IMAP 50k-row reprocess) against the first load of the same rows
	$(AIRFLOW_ENV) && $(BIN)/python bench/bench_load.py

bench-overhead: install ## Benchmark a small DAG's per-run overhead to its first source query (dags test, LocalExecutor, breakdown)
	$(AIRFLOW_ENV) && $(BIN)/python bench/bench_overhead.py $(BENCH_ARGS)

# `make run`/`make demo` switches, honoured when given on the command line only (an exported PORT
# or HOST in the shell must not move the UI): METADATA_DB=sqlite|postgres, HOST=0.0.0.0, PORT=8090.
cli = $(filter command line,$(origin $(1)))
RUN_SETTINGS = $(if $(call cli,METADATA_DB),BI_METADATA_DB=$(METADATA_DB)) \
	$(if $(call cli,HOST),AIRFLOW__API__HOST=$(HOST)) $(if $(call cli,PORT),AIRFLOW__API__PORT=$(PORT))

run: install ## Start Airflow on 127.0.0.1:8080 (METADATA_DB=postgres, HOST=0.0.0.0, PORT=8090); Ctrl-C stops it
	$(AIRFLOW_ENV) && $(RUN_SETTINGS) scripts/run_airflow.sh

connections: install ## Show the five source connections and where each comes from (secrets masked)
	$(AIRFLOW_ENV) && $(BIN)/python scripts/show_connections.py

demo: install ## Seed sample sources, start Dovecot, the Vonigo fake and Airflow on :8080 (DEMO_ARGS=--run-all triggers every DAG; METADATA_DB, HOST, PORT as for run)
	$(AIRFLOW_ENV) && $(RUN_SETTINGS) $(BIN)/python devtools/demo.py up $(DEMO_ARGS)

demo-stop: ## Stop everything `make demo` started (DEMO_ARGS=--drop-databases also drops the sample databases)
	$(AIRFLOW_ENV) && $(BIN)/python devtools/demo.py down $(DEMO_ARGS)

test-e2e: install ## Start Airflow against the demo sources, drive it through the REST API and a browser
	$(AIRFLOW_ENV) && AIRFLOW_HOME=$$(mktemp -d) $(BIN)/pytest tests/e2e -m e2e $(PYTEST_ARGS)

test-docker: install ## Build the image, run the compose stack + demo (Local, then Celery x2) and drive every DAG green (root; DOCKER_TEST_SCOPE=reduced is shorter)
	PYTHON=$(abspath $(BIN)/python) devtools/docker/test_docker.sh

clean: ## Remove the local Airflow home and caches (keeps .venv and credentials/)
	rm -rf .airflow .pytest_cache .ruff_cache artifacts
