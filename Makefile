# netboot-harness: the two commands of the README, and the steps they are made of.
#   make boot   install everything, then boot every node of the default (emulated) testbed
#   make test   install everything, then run the whole test suite (lint, unit, lab)
# Each step is cached: a second run installs and builds nothing.

SHELL := /bin/bash
PYTHON ?= /usr/bin/python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: boot test deps venv images lint unit lab clean

boot: deps venv images
	$(VENV)/bin/pytest tests_hw -m boot $(PYTEST_ARGS)

test: deps venv images lint
	$(VENV)/bin/pytest tests tests_hw $(PYTEST_ARGS)
	$(VENV)/bin/pytest tests_hw -m "boot or provision" --testbed devices/emulated-x86.yaml $(PYTEST_ARGS)
	$(VENV)/bin/pytest tests_hw -m boot --testbed devices/emulated-pi-machines.yaml $(PYTEST_ARGS)
	$(VENV)/bin/pytest tests_hw/test_fleet.py -m boot --testbed devices/emulated-fleet.yaml $(PYTEST_ARGS)
	NBH_BMC_PASSWORD=nbh-lab-only $(VENV)/bin/pytest tests_hw -m boot --testbed devices/emulated-ipmi.yaml $(PYTEST_ARGS)

deps:
	@setup/deps.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

images: deps venv
	$(VENV)/bin/harness images build

lint: venv
	$(VENV)/bin/ruff check harness tests tests_hw bench conftest.py
	$(VENV)/bin/mypy harness

unit: venv
	$(VENV)/bin/pytest tests -m 'not lab' $(PYTEST_ARGS)

lab: deps venv images
	$(VENV)/bin/pytest tests_hw $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
