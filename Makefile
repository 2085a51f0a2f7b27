# disposable.disco — one-command set-up, tests and local cluster.
#   make test            set up everything, run every test tier as two streams side by side (scripts/test-streams.sh):
#                        lint, sanity, build, molecule default, unit, playbooks vs moto | end to end, molecule disco
#   make local-cluster   launch a local Disco cluster (moto + docker), no AWS account needed
# Every target does its own set-up; nothing needs to be installed by hand on a Debian machine with Python 3.11.
# Releases: the molecule scenarios run on DISCO_MOLECULE_RELEASE (trixie by default), the end-to-end test on
# DISCO_E2E_RELEASE (bookworm by default): each Debian release is proven once per make test (README, Tests).
# DISCO_SOURCES: Disco's checkouts (the disco scenario and the end-to-end test are skipped, loudly, without it).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON       ?= python3.11
CACHE_DIR    ?= $(HOME)/.cache/disposable-disco
VENV         := .venv
BIN          := $(VENV)/bin
COLLECTIONS  := .collections
REQ_HASH     := $(shell cat requirements.txt requirements-test.txt | sha256sum | cut -c1-12)
VENV_STAMP   := $(VENV)/.installed-$(REQ_HASH)
COLL_STAMP   := $(COLLECTIONS)/ansible_collections/amazon/aws/MANIFEST.json
# boto3's wheels (the controller's pins) for the client venv that the end-to-end test makes, offline (no index).
WHEELS       := $(CACHE_DIR)/client-wheels-$(REQ_HASH)
export DISCO_CLIENT_WHEELS := $(WHEELS)
export PATH  := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLLECTIONS)

.PHONY: help setup venv collections wheels docker images lint sanity build pytest unit playbooks e2e molecule test \
        local-cluster local-teardown disco-suite clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

$(VENV_STAMP): requirements.txt requirements-test.txt
	@echo "[setup] virtualenv $(VENV) (cached in $(CACHE_DIR)/venv-$(REQ_HASH))"
	@mkdir -p $(CACHE_DIR)
	@if [ ! -x $(CACHE_DIR)/venv-$(REQ_HASH)/bin/python ] || [ ! -e $(CACHE_DIR)/venv-$(REQ_HASH)/.complete ]; then \
	  rm -rf $(CACHE_DIR)/venv-$(REQ_HASH); \
	  $(PYTHON) -m venv $(CACHE_DIR)/venv-$(REQ_HASH); \
	  $(CACHE_DIR)/venv-$(REQ_HASH)/bin/pip install -q -r requirements-test.txt 2>&1 | grep -v 'is ignored' || true; \
	  $(CACHE_DIR)/venv-$(REQ_HASH)/bin/python -c 'import ansible, boto3, moto, molecule, pytest' ; \
	  touch $(CACHE_DIR)/venv-$(REQ_HASH)/.complete; \
	fi
	@rm -rf $(VENV) && ln -s $(CACHE_DIR)/venv-$(REQ_HASH) $(VENV)
	@touch $@

venv: $(VENV_STAMP) ## create .venv with the pinned requirements

$(COLL_STAMP): scripts/install-collections.py | $(VENV_STAMP)
	@$(BIN)/python scripts/install-collections.py --dest $(COLLECTIONS) --cache $(CACHE_DIR)

collections: $(COLL_STAMP) ## install amazon.aws and community.docker without Galaxy, link this checkout in
	@$(BIN)/python scripts/install-collections.py --dest $(COLLECTIONS) --cache $(CACHE_DIR)

$(WHEELS)/.complete: requirements.txt | $(VENV_STAMP)
	@echo "[setup] boto3's wheels for the end-to-end test's laptop client, in $(WHEELS)"
	@rm -rf $(WHEELS) && mkdir -p $(WHEELS)
	@$(BIN)/pip download -q --only-binary=:all: -c requirements.txt -d $(WHEELS) boto3 2>&1 | { grep -v 'is ignored' || true; }
	@touch $@

wheels: $(WHEELS)/.complete ## boto3's wheels (controller pins) for the client venv the end-to-end test makes

setup: venv collections wheels ## venv + collections: all ansible-playbook needs (and the tests' client wheels)

docker: ## make sure a Docker engine answers (starts Debian's dockerd as root)
	@scripts/ensure-docker.sh

images: docker ## build the local base and node images (bookworm, trixie) when missing
	@scripts/base-image.sh

lint: setup ## yamllint, ansible-lint (production profile), ruff
	@echo "== yamllint"; $(BIN)/yamllint -s .
	@echo "== ruff"; $(BIN)/ruff check . && $(BIN)/ruff format --check .
	@echo "== ansible-lint"; $(BIN)/ansible-lint --profile production

sanity: setup ## ansible-test sanity from a temporary ansible_collections tree
	@scripts/sanity.sh

build: setup ## ansible-galaxy collection build
	@mkdir -p $(CACHE_DIR)/build && $(BIN)/ansible-galaxy collection build --force --output-path $(CACHE_DIR)/build .

pytest: setup images ## every pytest tier (unit, playbooks against moto, end to end)
	@$(BIN)/pytest

unit: setup ## pytest tier tests/unit (pure Python, a few containers)
	@$(BIN)/pytest tests/unit

playbooks: setup images ## pytest tier tests/playbooks (real ansible-playbook runs against moto)
	@$(BIN)/pytest tests/playbooks

e2e: setup images ## pytest tier tests/e2e (the local cloud end to end; needs DISCO_SOURCES)
	@$(BIN)/pytest tests/e2e

molecule: setup images ## every molecule scenario (MOLECULE_SCENARIOS="a b" for some)
	@scripts/molecule-all.sh $(MOLECULE_SCENARIOS)

test: setup images ## everything CI runs: two streams side by side (scripts/test-streams.sh)
	@MAKE="$(MAKE)" scripts/test-streams.sh

local-cluster: setup ## launch (or resume) the local cluster: moto + docker, no AWS account
	@scripts/local-cluster.sh up

local-teardown: setup ## tear the local cluster down
	@scripts/local-cluster.sh down

disco-suite: setup ## Disco's functional suite on the running cluster (DISCO_SUITE_CONFIG, default the local cloud)
	@scripts/disco-suite.sh $(DISCO_SUITE_ARGS)

clean: ## remove .venv and .collections links (caches stay in $(CACHE_DIR))
	rm -rf $(VENV) $(COLLECTIONS) .pytest_cache
