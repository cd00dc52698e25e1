# Credit ledger — `make help` lists the targets. Everything runs from a local .venv that the
# targets create on first use (only Python 3.11 and the package registries are needed).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# pytest-xdist workers: one per core; each starts its own embedded PostgreSQL and nats-servers.
TEST_WORKERS ?= auto

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	@touch $(STAMP)

.PHONY: install
install: $(STAMP) ## Create .venv and install the project with its dev tools

.PHONY: run
run: $(STAMP) ## Run the whole system (embedded PostgreSQL and NATS unless DATABASE_URL/NATS_URL are set)
	$(BIN)/credit-ledger dev $(ARGS)

# The page tests drive Debian's chromium. As root with apt-get, make test installs it; elsewhere
# those tests skip, saying so (or point CREDIT_LEDGER_CHROMIUM at a Chromium).
CHROMIUM ?= $(or $(CREDIT_LEDGER_CHROMIUM),/usr/bin/chromium)

.PHONY: browser
browser: ## Install Debian's chromium for the page tests (as root, with apt-get)
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the page tests"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || \
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; \
	else echo "no Chromium at $(CHROMIUM) and no root apt-get: the page tests will skip"; fi

.PHONY: test
test: $(STAMP) browser ## Run every check CI runs: lint, types, contracts, the test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/credit-ledger contracts check
	$(BIN)/pytest -p no:cacheprovider -n $(TEST_WORKERS) --durations=20 $(PYTEST_ARGS)

.PHONY: unit
unit: $(STAMP) ## Run the unit tests only (no servers)
	$(BIN)/pytest -p no:cacheprovider tests/unit

.PHONY: fmt
fmt: $(STAMP) ## Format and auto-fix lint
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: contracts
contracts: $(STAMP) ## Regenerate proto/ artefacts and docs/openapi.json
	$(BIN)/credit-ledger contracts generate

.PHONY: fuzz
fuzz: $(STAMP) ## Fuzz the three services' OpenAPI documents with schemathesis (ARGS="--max-examples 500")
	$(BIN)/python -m tests.support.fuzzing $(ARGS)

.PHONY: bench
bench: $(STAMP) ## Run the ledger benchmark (see bench/README.md)
	$(BIN)/python -m bench.ledger_bench $(ARGS)

.PHONY: clean
clean: ## Remove the virtual environment and the dev data directory
	rm -rf $(VENV) .data
