# Quick start:  make run   (the historical scenario end to end, with a plot)
#               make test  (the test suite)
# Both create .venv and install the pinned dependencies (requirements.lock) first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ARGS ?=
FLOWSIM := $(BIN)/flowsim
HISTORICAL := scenarios/historical_2022_calibrated.yaml
OBSERVATIONS := calibration/observations.csv

.PHONY: install run test bench lint schema fit calibrate compare report clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(FLOWSIM) run $(HISTORICAL) --out results/historical_2022 $(ARGS)

# The fit to the reported counts quoted in the README.
fit: $(STAMP)
	$(FLOWSIM) validate $(HISTORICAL) --observations $(OBSERVATIONS) -n 20 --out results/historical_2022_fit $(ARGS)

# Recalibrate: rewrites $(HISTORICAL) (about 20 minutes on 2 cores).
calibrate: $(STAMP)
	$(FLOWSIM) calibrate scenarios/historical_2022.yaml --observations $(OBSERVATIONS) -n 2 --budget 80 \
		--out calibration/historical_2022 --fitted $(HISTORICAL) --validation-replications 4 $(ARGS)

compare: $(STAMP)
	$(FLOWSIM) compare $(HISTORICAL) scenarios/counterfactuals/*.yaml -n 10 \
		--observations $(OBSERVATIONS) --out results/counterfactuals $(ARGS)

report: $(STAMP)
	$(FLOWSIM) report results/historical_2022_fit results/counterfactuals --out results/report.html

test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto $(ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(ARGS)

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/ruff check src tests benchmarks

schema: $(STAMP)
	$(BIN)/flowsim schema --out docs/scenario.schema.json

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .hypothesis
