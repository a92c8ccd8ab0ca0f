# One-command workflows. Only Python 3.11+ and make are needed; everything else is installed on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed-stamp
# requirements.lock: what the image installs (runtime); requirements-dev.lock: that plus the embedded
# database and the development tools. Both pin every package with the hashes of its files.
LOCKS := requirements.lock requirements-dev.lock
# What the scans read: every shell script (by its #! line) and YAML file Git tracks or would add.
SHELL_SCRIPTS = $(shell { git grep -lIE '^\#!/(usr/)?bin/(env +)?(ba|da)?sh( |$$)' -- . ':!*.md'; \
	git ls-files --others --exclude-standard -- '*.sh'; } 2>/dev/null | sort -u)
YAML_FILES = $(shell git ls-files --cached --others --exclude-standard -- '*.yml' '*.yaml')

.DEFAULT_GOAL := help
# The bench-% targets are pattern rules: declared .PHONY they would never run (make skips implicit
# rule search for phony targets), so they are left out here.
.PHONY: help install run seed test check lint check-secrets secrets-baseline shellcheck yamllint \
	hadolint sbom audit-deps format bench loadtest lock clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

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

check: lint shellcheck yamllint hadolint sbom  ## What CI checks before the tests: lint and every offline supply-chain scan

lint: $(STAMP) check-secrets  ## Secret scan, ruff (lint, security rules S, format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# detect-secrets with the project's plugins (devtools/secret_scan.py) over every file Git tracks or would
# add; a finding passes only when .secrets.baseline lists it audited as not a secret.
check-secrets: $(STAMP)  ## Fail on a committed secret (detect-secrets, the project's plugins, .secrets.baseline)
	@git ls-files -z --cached --others --exclude-standard | xargs -0 $(BIN)/python -m devtools.secret_scan

# Lines that name where a secret is kept, never a secret: a Kubernetes Secret's name (secretName: shop-tls;
# detect-secrets reads YAML values quoted).
export SECRET_REFERENCE_LINES := ^\s*(- )?secretName: ["']?[a-z0-9.-]+["']?\s*$$
SECRETS_SCAN = $(BIN)/detect-secrets scan --plugin devtools/secret_scan.py \
	--exclude-files '^requirements(-dev)?\.lock$$' --exclude-lines "$$SECRET_REFERENCE_LINES"
# After a reviewed change of findings: rewrite the baseline, then mark each finding real or not with
# `.venv/bin/detect-secrets audit .secrets.baseline` (docs/secrets.md).
secrets-baseline: $(STAMP)  ## Record the current findings in .secrets.baseline (then audit them)
	@# With --baseline detect-secrets updates the file in place, keeping the audit of known findings.
	if [ -f .secrets.baseline ]; then $(SECRETS_SCAN) --baseline .secrets.baseline; \
	else $(SECRETS_SCAN) > .secrets.baseline; fi
	@sed -i 's|"path": "file://[^"]*/devtools/secret_scan.py"|"path": "file://devtools/secret_scan.py"|' \
		.secrets.baseline

shellcheck: $(STAMP)  ## shellcheck (every rule, style included) on every shell script
	$(BIN)/shellcheck --severity=style --external-sources $(SHELL_SCRIPTS)

yamllint: $(STAMP)  ## yamllint on every YAML file (.yamllint.yml)
	$(BIN)/yamllint --strict $(YAML_FILES)

hadolint: $(STAMP)  ## hadolint on the Dockerfile (.hadolint.yaml)
	$(BIN)/hadolint --config .hadolint.yaml deploy/Dockerfile

# From the runtime lock, i.e. exactly what the image installs, with each file's hash.
sbom: $(STAMP)  ## CycloneDX SBOM of what the image installs (requirements.lock) into build/sbom.cdx.json
	@mkdir -p build
	$(BIN)/python -W ignore::UserWarning -m cyclonedx_py requirements requirements.lock \
		--pyproject pyproject.toml --mc-type application --of JSON --output-reproducible -o build/sbom.cdx.json
	@$(BIN)/python -c "$$SBOM_SUMMARY" build/sbom.cdx.json

export SBOM_SUMMARY := import json, sys; bom = json.load(open(sys.argv[1])); \
	print("sbom:", sys.argv[1], "lists", len(bom["components"]), "components, each with its files' hashes")

# Needs a vulnerability service (PyPI's JSON API or OSV). Where none answers it prints NOTHING WAS
# AUDITED and exits 2; .ci/run never calls it, the hosted workflow (.github/workflows/ci.yml) does.
audit-deps: $(STAMP)  ## Known vulnerabilities in the locked dependencies (pip-audit; needs the internet)
	$(BIN)/python .ci/audit_deps.py $(LOCKS)

format: $(STAMP)  ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)  ## Run every benchmark against fresh stacks (prints figures, asserts nothing; ~18 min)
	$(BIN)/python -m bench

bench-%: $(STAMP)  ## One benchmark: bench-transactions, bench-auth, bench-catalog, bench-orders, bench-gateway, bench-backup
	$(BIN)/python -m bench.$*

# Ramp until p95 > 500 ms or a failure, then hold 80% of it for LOADTEST_HOLD_SECONDS (default 600);
# LOADTEST_STEP_SECONDS, LOADTEST_STEP_USERS, LOADTEST_MAX_USERS shorten or widen the ramp.
loadtest: $(STAMP)  ## Load test of the whole shop (Locust, ~20 min): report in docs/performance/loadtest.md
	$(BIN)/python -m bench.loadtest

# Existing pins are kept unless pyproject.toml needs another version (pip-compile --upgrade-package NAME
# moves one); every file's hash is recorded, and the runtime lock is constrained by the development one.
COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	--no-emit-find-links
lock: $(STAMP)  ## Re-pin every dependency, with hashes, after changing pyproject.toml
	$(COMPILE) --extra embedded --extra dev --output-file requirements-dev.lock pyproject.toml
	$(COMPILE) --all-build-deps --constraint requirements-dev.lock --output-file requirements.lock pyproject.toml

clean:  ## Remove the virtualenv and caches (keeps the data in var/)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info build
