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
	@echo "The same runs from the command line, in another shell: $(VENV)/bin/y8m runs list, y8m reproduce (README)."
	$(PY) -m app.serve

test: venv
	$(PY) -m pytest -q

bench: venv
	$(PY) bench/bench_reader.py
	$(PY) bench/bench_gap.py
	$(PY) bench/bench_synthetic.py
	$(PY) bench/bench_models.py
	$(PY) bench/bench_learning.py
	test -d $(Y8M_HOME)/datasets/paper || $(VENV)/bin/y8m data synth $(Y8M_HOME)/datasets/paper --preset paper --seed 0
	$(PY) bench/bench_paper_data.py --data $(Y8M_HOME)/datasets/paper
	$(PY) bench/bench_schedule.py --data $(Y8M_HOME)/datasets/paper --seconds 150 --every 15
	$(PY) bench/bench_train.py
	$(PY) bench/bench_stacking.py
	$(PY) bench/bench_workers.py
	$(PY) bench/bench_app.py

lint: venv
	$(VENV)/bin/ruff check .

format: venv
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
