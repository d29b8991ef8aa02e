# y8m: `make run` (the dashboard on the paper dataset) and `make test` do all the set-up themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
Y8M_HOME ?= $(CURDIR)/var
PAPER := $(Y8M_HOME)/datasets/paper
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

$(PAPER)/synthetic.json: | venv
	$(VENV)/bin/y8m data synth $(PAPER) --preset paper --seed 0

run: venv $(PAPER)/synthetic.json
	@echo "The demo (about 6 minutes on 2 cores): the Paper page's 'Run the demo' button, or in another shell"
	@echo "  $(VENV)/bin/y8m paper --demo --data paper --out $(Y8M_HOME)/demo --workers 0"
	@echo "The same runs from the command line: $(VENV)/bin/y8m runs list, y8m reproduce, y8m paper (README)."
	$(PY) -m app.serve

test: venv
	$(PY) -m pytest -q

bench: venv $(PAPER)/synthetic.json
	$(PY) bench/bench_reader.py
	$(PY) bench/bench_gap.py
	$(PY) bench/bench_synthetic.py
	$(PY) bench/bench_models.py
	$(PY) bench/bench_learning.py
	$(PY) bench/bench_paper_data.py --data $(PAPER)
	$(PY) bench/bench_schedule.py --data $(PAPER) --seconds 150 --every 15
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
