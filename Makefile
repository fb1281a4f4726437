# make train: create .venv, install the pinned stack, train the default experiment.
# make test:  create .venv, install, lint, run the whole test suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: train test lint benchmark clean

$(STAMP): setup.cfg pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required (TensorFlow 2.15 has no wheels for 3.12+): install it (pyenv install 3.11, or apt install python3.11 python3.11-venv) or run make PYTHON=/path/to/python3.11."; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "$(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'), but 3.11 is required (TensorFlow 2.15 has no wheels for 3.12+): install 3.11 or run make PYTHON=/path/to/python3.11."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/python -m experiments.train --model_dir=runs/default

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Two test processes: most tests run on one core at a time (a training
# step, a subprocess), so two halve the suite's time on a 2-core machine.
# A test class stays in one process (--dist loadscope): its shared run is
# trained once.
test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 --dist loadscope

benchmark: $(STAMP)
	$(BIN)/python -m experiments.benchmark --steps=200 --repeats=5

clean:
	rm -rf $(VENV) runs build *.egg-info
