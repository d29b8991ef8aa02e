# y8m: `make run` (demo) and `make test` do all the set-up themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
Y8M_HOME ?= $(CURDIR)/var
DEMO := $(Y8M_HOME)/datasets/demo
export Y8M_HOME

.PHONY: venv run test bench lint format clean

# The venv is rebuilt when requirements.txt or pyproject.toml change.
$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

venv: $(VENV)/.installed

$(DEMO)/synthetic.json: | venv
	$(VENV)/bin/y8m data synth $(DEMO) --preset demo --seed 0

run: venv $(DEMO)/synthetic.json
	@$(VENV)/bin/y8m data splits $(DEMO) --level frame | grep -v '^      '
	@echo
	@echo "Demo dataset ready at $(DEMO)."
	@echo "Train a model on it (the 80 configurations: $(VENV)/bin/y8m configs list):"
	@echo "  $(VENV)/bin/y8m train --config 25 --data $(DEMO) --preset small --epochs 1"
	@echo "Or an ensemble with every run it needs (#75 stacks #2, #10, #18 and #25):"
	@echo "  $(VENV)/bin/y8m reproduce --configs 75 --data $(DEMO) --preset tiny --max-steps 200"
	@echo "Or through the run store and a worker (y8m runs list shows progress and GAPs):"
	@echo "  $(VENV)/bin/y8m worker &"
	@echo "  $(VENV)/bin/y8m runs submit --config 75 --data $(DEMO) --preset tiny --max-steps 200"
	@echo "The Streamlit dashboard will start here (coming with the next issue)."

test: venv
	$(PY) -m pytest -q

bench: venv
	$(PY) bench/bench_reader.py
	$(PY) bench/bench_gap.py
	$(PY) bench/bench_synthetic.py
	$(PY) bench/bench_models.py
	$(PY) bench/bench_learning.py
	$(PY) bench/bench_train.py
	$(PY) bench/bench_stacking.py
	$(PY) bench/bench_workers.py

lint: venv
	$(VENV)/bin/ruff check .

format: venv
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
