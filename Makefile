# Two commands do all the set-up: `make lab` opens the course, `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# nbgrader runs tools (alembic) from PATH: this environment's come first.
export PATH := $(abspath $(BIN)):$(PATH)
# JupyterLab's formgrader reads the course's nbgrader configuration from here.
export JUPYTER_CONFIG_PATH := $(CURDIR)/course

.PHONY: lab test test-slow exercises venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[course,test]'
	touch $@

# Jupyter refuses to run as root unless told; containers and CI machines often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

# Learners work in my-work/ (their own copies of exercises/, never overwritten) and start from the syllabus.
lab: venv
	$(BIN)/backprop-course workspace my-work
	$(BIN)/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir=. course/index.ipynb

test: venv
	$(BIN)/python -m pytest

test-slow: venv
	$(BIN)/python -m pytest -m slow

# Regenerate the learner notebooks from the instructor's (nbgrader generate_assignment).
exercises: venv
	$(BIN)/backprop-course build

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
