# Chorus: one command for each thing a developer does.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PYTHON  := $(VENV)/bin/python
BUS     := $(VENV)/bin/bus
STAMP   := $(VENV)/.installed
# Docker compose when a Docker engine answers, the native scripts otherwise.
DOCKER  := $(shell docker info >/dev/null 2>&1 && echo yes)
PYTEST_ARGS ?=

.PHONY: help setup format lint test bench up down status logs stack-up stack-down \
        services-up services-down publish tail journal console demo user docs clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: $(STAMP) ## Create .venv and install the project into it (editable)

$(STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[dev]'
	touch $(STAMP)

format: setup ## Format and auto-fix the code
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

lint: setup contracts-check ## ruff, mypy and the import layering (after the contract compatibility check)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

.PHONY: contracts-check
contracts-check: setup ## Fail on a breaking change to a published event contract
	$(BUS) contracts check

test: setup stack-up ## Start what the tests need, then run them all
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: setup stack-up ## Measure the bus and the system against the goals (BENCH_ARGS=--quick, --only a,b): bench/results.json
	$(PYTHON) -m bench $(BENCH_ARGS)

up: setup stack-up services-up ## Start the stack and every service in the background
	@$(MAKE) --no-print-directory status

down: services-down stack-down ## Stop the services and the stack (data stays)

status: ## What runs, on which port, healthy or not
ifeq ($(DOCKER),yes)
	@docker compose -f infra/compose.yaml ps
else
	@infra/stack.sh status
endif
	@infra/services.sh status

logs: ## Tail the logs of the stack and the services
ifeq ($(DOCKER),yes)
	docker compose -f infra/compose.yaml logs --tail=50
else
	infra/stack.sh logs
endif
	@infra/services.sh logs

stack-up:
ifeq ($(DOCKER),yes)
	python3 infra/broker_identities.py .stack/compose/mosquitto/dynsec.json
	python3 infra/stack_secrets.py compose-env
	docker compose -f infra/compose.yaml up -d --wait
else
	infra/stack.sh up
endif

stack-down:
ifeq ($(DOCKER),yes)
	docker compose -f infra/compose.yaml down
else
	infra/stack.sh down
endif

services-up: setup
	BUS_BIN=$(BUS) infra/services.sh up

services-down:
	infra/services.sh down

publish: setup ## Publish an event: make publish TYPE=documents.uploaded.v1 DATA='{...}'
	@test -n "$(TYPE)" -a -n '$(DATA)' || { echo "usage: make publish TYPE=... DATA='{...}'"; exit 2; }
	$(BUS) publish '$(TYPE)' '$(DATA)'

tail: setup ## Watch every domain event as it arrives
	$(BUS) tail

journal: setup ## The newest events in the journal
	$(BUS) journal

console: setup ## One more web console, in the foreground, on http://127.0.0.1:8090 (make up runs one: make status)
	$(BUS) console

demo: setup ## Upload the sample files as a demo user and watch them become ready (after make up)
	$(PYTHON) infra/demo.py

docs: setup ## Regenerate docs/: the choreography graph, the system's AsyncAPI and the gateway's OpenAPI
	$(BUS) graph --service gateway,accounts,inspector,catalog,notifier,exporter,journal -o docs/graph.mmd
	$(BUS) graph --service gateway,accounts,inspector,catalog,notifier,exporter,journal -f html -o docs/graph.html
	$(BUS) docs --service gateway,accounts,inspector,catalog,notifier,exporter,journal
	$(PYTHON) -m services.gateway.openapi docs/openapi.json

user: setup ## Create a user and print its API key: make user EMAIL=you@example.com
	@test -n "$(EMAIL)" || { echo "usage: make user EMAIL=you@example.com"; exit 2; }
	$(PYTHON) -m services.accounts create-user '$(EMAIL)'

clean: ## Remove caches (not the stack's data: see infra/stack.sh reset)
	rm -rf .pytest_cache .mypy_cache .ruff_cache
