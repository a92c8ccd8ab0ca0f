# One-command workflows. Only Python 3.11+ and make are needed; everything else is installed on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed-stamp
# requirements.lock: what the image installs (runtime); requirements-dev.lock: that plus the embedded
# database and the development tools. Both pin every package with the hashes of its files.
LOCKS := requirements.lock requirements-dev.lock

.DEFAULT_GOAL := help
# The bench-% targets are pattern rules: declared .PHONY they would never run (make skips implicit
# rule search for phony targets), so they are left out here.
.PHONY: help install run seed test check-secrets lint format bench lock clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# Every third-party package is checked against the lock's hashes (--require-hashes), then the project
# itself is installed editable without fetching anything (its build backend is in the lock too).
$(STAMP): pyproject.toml $(LOCKS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (make PYTHON=python3.12 ...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes --no-deps -r requirements-dev.lock
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)  ## Create .venv and install the project with its locked, hash-checked dependencies

# With SEED=1 the seeder starts in the background and the launcher replaces the shell (exec), so the
# launcher stays make's child and Ctrl-C/SIGTERM reach it exactly as without SEED; the seeder waits for
# the gateway's /health, seeds, and stops by itself if the launcher exits first.
run: $(STAMP)  ## Run the whole stack (embedded database, four services, gateway) until Ctrl-C; SEED=1 loads the demo catalog
	$(if $(filter 1,$(SEED)),$(BIN)/python -m devtools.seed --wait $(SEED_ARGS) & exec )$(BIN)/python -m devstack

seed: $(STAMP)  ## Load the demo catalog into the running stack's database (idempotent); SEED_ARGS='--products 1000'
	$(BIN)/python -m devtools.seed $(SEED_ARGS)

test: $(STAMP)  ## Run the whole test suite (starts its own stack on free ports)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check-secrets: $(STAMP)  ## Fail on anything that looks like a committed secret
	$(BIN)/python -m devtools.secret_scan

lint: $(STAMP) check-secrets  ## Secret scan, ruff (lint and format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)  ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)  ## Run every benchmark against fresh stacks (prints figures, asserts nothing; ~18 min)
	$(BIN)/python -m bench

bench-%: $(STAMP)  ## One benchmark: bench-transactions, bench-auth, bench-catalog, bench-orders, bench-backup
	$(BIN)/python -m bench.$*

# Existing pins are kept unless pyproject.toml needs another version (pip-compile --upgrade-package NAME
# moves one); every file's hash is recorded, and the runtime lock is constrained by the development one.
COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	--no-emit-find-links
lock: $(STAMP)  ## Re-pin every dependency, with hashes, after changing pyproject.toml
	$(COMPILE) --extra embedded --extra dev --output-file requirements-dev.lock pyproject.toml
	$(COMPILE) --all-build-deps --constraint requirements-dev.lock --output-file requirements.lock pyproject.toml

clean:  ## Remove the virtualenv and caches (keeps the data in var/)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
