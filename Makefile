# Every target sets itself up: the virtual environment is created and filled from the lock files (make lock
# makes them from pyproject.toml's pins: requirements/runtime.lock and dev.lock, layers/core/requirements.lock).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCKS := requirements/runtime.lock requirements/dev.lock
SAM_VENV := .venv-sam
# checkov's pins conflict with the project's: it gets its own virtual environment, installed once per version.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

.PHONY: help install lock test lint typecheck unit integration e2e fuzz bench dev build schema template clean chromium

help:
	@echo "make dev    run the whole product locally on http://127.0.0.1:3000 (no AWS account)"
	@echo "            options of python -m automations_local pass through: make dev ARGS=\"--port 3100\""
	@echo "make test   lint, type-check and run every test"
	@echo "make template  the template's checks only: cfn-lint, checkov, and the production review tests"
	@echo "make fuzz   schemathesis with many more cases per API operation (FUZZ_EXAMPLES=500)"
	@echo "make bench  print the performance figures (JSON lines)"
	@echo "make build  sam build of infra/template.yaml"
	@echo "make lock   the lock files from pyproject.toml's pins (UPGRADE=1: newest unpinned dependencies)"

# The locked dependencies by hash (the runtime's, then the development tools'), then the project itself, which
# brings nothing more: its packages automations, automations_local and automations_cli, and the command.
$(STAMP): pyproject.toml $(LOCKS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes $(addprefix -r ,$(LOCKS))
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

lock: $(STAMP)
	$(BIN)/python -m scripts.lock $(if $(UPGRADE),--upgrade)

$(CHECKOV_STAMP):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $(CHECKOV_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo --no-cache

# Each function's handler is a module named app: one mypy run per handler.
typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy tests/support/fakes.py tests/contract
	for handler in functions/*/app.py; do $(BIN)/mypy $$handler || exit 1; done

test: lint typecheck $(CHECKOV_STAMP) chromium
	CHECKOV=$(CHECKOV) $(BIN)/python -m pytest

# The console's end-to-end test (tests/e2e/test_console.py) drives Debian's chromium through Playwright, which is
# given its path: no browser is downloaded.
chromium:
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

# cfn-lint (informational checks included) and checkov on the translated template, and the tests that read
# the template as a production reviewer would.
template: $(STAMP) $(CHECKOV_STAMP)
	CHECKOV=$(CHECKOV) $(BIN)/python -m pytest tests/unit/test_template.py tests/unit/test_template_operations.py

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

e2e: $(STAMP) chromium
	$(BIN)/python -m pytest tests/e2e

# Schemathesis against the served OpenAPI document, FUZZ_EXAMPLES random cases per operation (make test: 30).
FUZZ_EXAMPLES ?= 500

fuzz: $(STAMP)
	SCHEMATHESIS_MAX_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/e2e/test_schemathesis.py

schema: $(STAMP)
	$(BIN)/python -m automations.language.schema > layers/core/automations/language/automation.schema.json

# The built layer's figures too (scripts/layer.py), once make build has made it.
bench: $(STAMP)
	$(BIN)/python -m scripts.bench
	$(BIN)/python -m scripts.layer

dev: $(STAMP)
	$(BIN)/python -m automations_local $(ARGS)

# sam build needs a real python3.13 (not a pyenv shim that points elsewhere): found in pyenv or on PATH.
PY313 := $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13))

build:
	test -x $(SAM_VENV)/bin/sam || ( $(PYTHON) -m venv $(SAM_VENV) && $(SAM_VENV)/bin/pip install --quiet aws-sam-cli==1.170.0 )
	@test -n "$(PY313)" || { echo "sam build needs python3.13: install it (e.g. pyenv install 3.13) and retry"; exit 1; }
	PATH="$(dir $(PY313)):$$PATH" SAM_CLI_TELEMETRY=0 \
		$(SAM_VENV)/bin/sam build --template-file infra/template.yaml --build-dir .aws-sam/build

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .mypy_cache .pytest_cache .ruff_cache
