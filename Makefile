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
# Result folders: untracked (see .gitignore), so a clone stays clean after the quick start.
FIT := results/historical_2022_fit
COUNTERFACTUALS := results/counterfactuals
# The outputs the README shows, copied into the tracked results/published/ by `make publish`.
PUBLISHED := historical_2022/daily_entries.png historical_2022/queues.png \
	historical_2022/metadata.json $(addprefix historical_2022_fit/,fit.csv fit.png metadata.json) \
	counterfactuals/headline.csv counterfactuals/differences.png

.PHONY: install run test test-slow bench lint schema fit calibrate holdout sbc sensitivity compare report publish clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(FLOWSIM) run $(HISTORICAL) --observations $(OBSERVATIONS) --out results/historical_2022 $(ARGS)

# The fit to the reported counts quoted in the README.
fit: $(STAMP)
	$(FLOWSIM) validate $(HISTORICAL) --observations $(OBSERVATIONS) -n 20 --out $(FIT) $(ARGS)

# Recalibrate: the posterior of the calibrated parameters; rewrites $(HISTORICAL). At most 300
# evaluations of 2 replications and at most 2 h 45 min (about 45 minutes on 2 cores).
calibrate: $(STAMP)
	$(FLOWSIM) calibrate scenarios/historical_2022.yaml --observations $(OBSERVATIONS) -n 2 --budget 300 \
		--time-budget 2h45m --out calibration/historical_2022 --fitted $(HISTORICAL) \
		--validation-replications 4 $(ARGS)

# The out-of-sample test: calibrate as above on the seed reports alone (every R- figure held
# out), then validate the result on all 34 figures; the held-out rows are the test (about
# 45 minutes on 2 cores).
HOLDOUT := calibration/historical_2022_holdout
holdout: $(STAMP)
	$(FLOWSIM) calibrate scenarios/historical_2022.yaml --observations $(OBSERVATIONS) -n 2 --budget 300 \
		--time-budget 2h45m --out $(HOLDOUT) --validation-replications 4 --hold-out 'R-*' $(ARGS)
	$(FLOWSIM) validate $(HOLDOUT)/fitted.yaml --observations $(OBSERVATIONS) -n 20 \
		--hold-out 'R-*' --out results/historical_2022_holdout_fit -q
	cp results/historical_2022_holdout_fit/fit.csv results/historical_2022_holdout_fit/fit_summary.csv \
		results/historical_2022_holdout_fit/fit.png $(HOLDOUT)/

# Simulation-based calibration of the posterior method on the historical model: truths drawn
# from a box around the posterior, 30 synthetic data sets, a design of 64 points (about 13 min).
sbc: $(STAMP)
	$(FLOWSIM) sbc scenarios/historical_2022.yaml --observations $(OBSERVATIONS) \
		--box calibration/historical_2022/posterior.csv --datasets 30 --design 64 \
		--out calibration/historical_2022_sbc $(ARGS)

# What each counterfactual effect hangs on: 64 design points (posterior draws, and every
# other bounded parameter over its range), each running the calibrated history and the
# seven counterfactuals once, plus 6 runs as written for the noise (about 80 min on 2 cores).
# Ranges narrower than the bounds, for parameters set by hand against reported counts:
# the normal-traffic constants against the normal counts (G2, F1-F7, B9, B15, M1, M2, NB1),
# which hold each to about +-0.5 (a factor of 1.6 on a country's normal traffic), not the
# +-3 a calibration may search; the shares of surge entrants leaving Kazakhstan south and
# by air against S4_kz_dep_land and S4_kz_dep_air (whose bounds, each alone, would let
# the shares sum past 1).
SENSITIVITY := calibration/historical_2022_sensitivity
HAND_SET_RANGES := --range attract_georgia=0.5:1.5 --range attract_finland=0.5:1.5 \
	--range attract_estonia=0:1 --range attract_latvia=-1.5:-0.5 --range attract_mongolia=-0.3:0.7 \
	--range attract_norway=-0.5:0.5 --range fi_minor_crossing=-2:-1 \
	--range kz_onward_south_share=0.5:0.8 --range kz_onward_air_share=0.06:0.15
sensitivity: $(STAMP)
	$(FLOWSIM) sensitivity $(HISTORICAL) scenarios/counterfactuals/*.yaml --points 64 \
		--noise-replications 6 $(HAND_SET_RANGES) --out $(SENSITIVITY) $(ARGS)

compare: $(STAMP)
	$(FLOWSIM) compare $(HISTORICAL) scenarios/counterfactuals/*.yaml -n 20 \
		--observations $(OBSERVATIONS) --out $(COUNTERFACTUALS) $(ARGS)

# The fit and the comparison, each built first if it is missing (make fit, then make compare:
# about 10 minutes on 2 cores on a fresh clone).
report: $(STAMP) $(FIT)/fit.csv $(COUNTERFACTUALS)/comparison.csv
	$(FLOWSIM) report $(FIT) $(COUNTERFACTUALS) --out results/report.html

$(FIT)/fit.csv:
	@echo "make report: $(FIT) is missing, so make fit runs first"
	$(MAKE) --no-print-directory fit

$(COUNTERFACTUALS)/comparison.csv:
	@echo "make report: $(COUNTERFACTUALS) is missing, so make compare runs first"
	$(MAKE) --no-print-directory compare

# After make run, fit and compare (e.g. after a model change): refresh the tracked copies.
publish:
	cd results && for f in $(PUBLISHED) counterfactuals/scenarios/*/metadata.json; do \
		mkdir -p published/$$(dirname $$f) && cp $$f published/$$f || exit 1; done

test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto $(ARGS)

# The tests marked slow (whole calibrations, minutes each), which `make test` leaves out; CI runs both.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -n auto -m slow $(ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(ARGS)

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/ruff check src tests benchmarks

schema: $(STAMP)
	$(BIN)/flowsim schema --out docs/scenario.schema.json

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .hypothesis
