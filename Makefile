# Customer-analytics lakehouse. `make help` lists the targets.
# First use creates .venv and installs the pinned dependencies (requirements.lock);
# later runs skip that step until pyproject.toml or requirements.lock change.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ENV ?= local
ARGS ?=
PYTEST_ARGS ?=
STAMP := $(VENV)/.installed
# The Delta Lake jars (pinned in conf/jars.ivy.xml), fetched once into paths.jars (.venv/jars).
JARS_STAMP := $(VENV)/.jars
RUN := $(PY) -m
# Browser assets of the Data Docs pages (pinned in web/package-lock.json), installed once into
# web/node_modules so the pages work offline (lakehouse/quality/offline.py).
WEB_STAMP := web/node_modules/.installed

.PHONY: help venv prereqs data bronze silver gold train score pipeline test lint docs \
        mlflow-ui audit jars shell maintain bench bundle-validate clean clean-venv \
        cluster-up cluster-down report browser report-screenshot runtime-check \
        test-runtime-twin

help: ## list the targets with one line each
	@echo "Usage: make TARGET [ENV=local|test|databricks] [ARGS='--set section.key=value ...']"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

prereqs: $(WEB_STAMP)
	@scripts/check-prereqs.sh $(PYTHON)
ifeq ($(ENV),cluster)
	@$(RUN) tools.cluster up --env $(ENV)
endif

$(STAMP): pyproject.toml requirements.lock
	@scripts/check-prereqs.sh $(PYTHON)
	@echo "Creating $(VENV) and installing pinned dependencies (first run only, ~1-2 min)..."
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	@$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[local,dev]"
	@touch $@

$(WEB_STAMP): web/package.json web/package-lock.json
	@if command -v npm >/dev/null; then \
	  echo "Installing the Data Docs browser assets (first run only)..." && \
	  (cd web && npm ci --silent) && touch $@; \
	else echo "npm not found: Data Docs pages will load their scripts from public CDNs"; fi

# Debian's Chromium and its driver for the browser tests (tests/browser), installed when missing.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  echo "Installing Debian's chromium and chromium-driver for the browser tests..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver \
	    >/dev/null; }

venv: $(STAMP) ## create .venv with the pinned dependencies (done automatically by other targets)

$(JARS_STAMP): $(STAMP) conf/jars.ivy.xml
	@echo "Fetching the Delta Lake jars (first run only)..."
	@$(RUN) lakehouse.jars fetch --env $(ENV)
	@touch $@

jars: $(STAMP) ## fetch the pinned Delta Lake jars (done automatically by other targets)
	$(RUN) lakehouse.jars fetch --env $(ENV)
	@touch $(JARS_STAMP)

data: $(STAMP) ## generate sample transactions into the landing folder (ARGS='--rows 1000000 --force')
	$(RUN) datagen --env $(ENV) $(ARGS)

# Several stage goals on one command line (`make bronze silver gold train`) run in one
# process, in the order given: one JVM start instead of one per stage. The first of them
# runs them all; the others find nothing left to do. A single goal runs its own entry point.
STAGES := bronze silver gold train score
STAGE_GOALS := $(filter $(STAGES),$(MAKECMDGOALS))
SAMPLE_IF_EMPTY := $(RUN) datagen --env $(ENV) --if-empty $(ARGS)

ifneq ($(word 2,$(STAGE_GOALS)),)
define stage_recipe
	@if [ "$@" = "$(firstword $(STAGE_GOALS))" ]; then \
	  $(if $(filter bronze,$(STAGE_GOALS)),$(SAMPLE_IF_EMPTY) && ,)\
	  $(RUN) pipeline --env $(ENV) $(ARGS) $(STAGE_GOALS); fi
endef
else
stage_recipe = $(RUN) $(1) --env $(ENV) $(ARGS)
endif

bronze: $(STAMP) $(JARS_STAMP) prereqs ## ingest new landing CSV files into bronze (generates a sample if landing is empty)
ifeq ($(word 2,$(STAGE_GOALS)),)
	$(SAMPLE_IF_EMPTY)
endif
	$(call stage_recipe,bronze)

silver: $(STAMP) $(JARS_STAMP) prereqs ## type, clean, dedupe and merge new bronze batches into silver
	$(call stage_recipe,silver)

gold: $(STAMP) $(JARS_STAMP) prereqs ## point-in-time customer features and churn labels
	$(call stage_recipe,gold)

train: $(STAMP) $(JARS_STAMP) prereqs ## train and evaluate the churn model and segmentation, track in MLflow, rebuild the report
	$(call stage_recipe,pipeline train)

score: $(STAMP) $(JARS_STAMP) prereqs ## score the latest snapshot with the champion models, rebuild the report
	$(call stage_recipe,pipeline score)

report: $(STAMP) $(JARS_STAMP) prereqs ## build the HTML report (reports/report/index.html; train and score do it too)
	$(RUN) report --env $(ENV) $(ARGS)

report-screenshot: $(STAMP) browser ## the README's picture of the report's first screen (docs/report.png)
	$(RUN) tools.browser screenshot reports/report/index.html docs/report.png

pipeline: $(STAMP) $(JARS_STAMP) prereqs ## the whole pipeline in one process (same as make bronze silver gold train)
	$(SAMPLE_IF_EMPTY)
	$(RUN) pipeline --env $(ENV) $(ARGS) bronze silver gold train

test: $(STAMP) $(JARS_STAMP) prereqs browser lint bundle-validate runtime-check ## run the test suite (unit, integration, end-to-end)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP) ## static checks (ruff)
	$(VENV)/bin/ruff check .

docs: $(STAMP) $(WEB_STAMP) ## rebuild the Great Expectations Data Docs site and print its path
	$(RUN) lakehouse.quality.docs --env $(ENV) $(ARGS)

mlflow-ui: $(STAMP) ## start the MLflow UI on 127.0.0.1:5000 over the local store
	$(RUN) ml.ui --env $(ENV) $(ARGS)

shell: $(STAMP) $(JARS_STAMP) prereqs ## a pyspark shell with the project's session: spark.table("silver.transactions")
	$(RUN) lakehouse.shell --env $(ENV) $(ARGS)

maintain: $(STAMP) $(JARS_STAMP) prereqs ## OPTIMIZE (Z-order by customer) and VACUUM every table (ARGS='--vacuum' deletes)
	$(RUN) audit --env $(ENV) maintain $(ARGS)

audit: $(STAMP) $(JARS_STAMP) prereqs ## time-travel audits: make audit ARGS='history gold.customer_features' (diff, restore, reproduce)
	$(RUN) audit --env $(ENV) $(ARGS)

cluster-up: $(STAMP) $(JARS_STAMP) ## start a local Spark standalone cluster (master + 2 workers) for ENV=cluster
	$(RUN) tools.cluster up --env cluster $(ARGS)

cluster-down: $(STAMP) ## stop the local Spark cluster (exactly the processes cluster-up started)
	$(RUN) tools.cluster down

bundle-validate: $(STAMP) ## check databricks.yml and resources/ offline (fields, enums, refs, files)
	$(RUN) tools.validate_bundle

runtime-check: $(STAMP) ## the built wheel installs on the Databricks runtime (databricks-runtime.txt) replacing nothing
	$(RUN) tools.runtime check

test-runtime-twin: $(STAMP) $(JARS_STAMP) ## the ML and end-to-end tests on the Databricks runtime's versions (.venv-twin)
	$(RUN) tools.twin $(PYTEST_ARGS)

bench: $(STAMP) $(JARS_STAMP) prereqs ## benchmarks against DuckDB at 1M and 10M rows, incremental month (long; not in make test)
	$(RUN) bench.run_bench $(ARGS)

clean: ## remove generated data, lake, MLflow runs and reports (never source, never .venv)
	rm -rf data lake reports mlruns mlflow.db spark-warehouse metastore_db derby.log \
	       .pytest_cache bench/cache

clean-venv: ## remove the virtual environment too
	rm -rf $(VENV)
