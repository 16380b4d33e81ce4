# Two commands do all the set-up: `make lab` opens the course, `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# nbgrader runs tools (alembic) from PATH: this environment's come first.
export PATH := $(abspath $(BIN)):$(PATH)
# nbgrader's commands and JupyterLab's formgrader read the course's nbgrader configuration from here.
export JUPYTER_CONFIG_PATH := $(CURDIR)/course

.PHONY: lab test test-slow exercises venv clean hub hub-stop hub-clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[course,test]'
	touch $@

# Learners work in my-work/ (their own copies of exercises/, never overwritten) and start from the syllabus,
# with the command a learner who installed the course with pip runs (`backprop-course lab [DIR]`).
# LAB_ARGS go to jupyter lab, e.g. `make lab LAB_ARGS=--no-browser`.
lab: venv
	$(BIN)/backprop-course lab $(LAB_ARGS)

test: venv
	$(BIN)/python -m pytest

test-slow: venv
	$(BIN)/python -m pytest -m slow

# Regenerate the learner notebooks from the instructor's (nbgrader generate_assignment).
exercises: venv
	$(BIN)/backprop-course build

# A demo class on JupyterHub on this machine (as root): an instructor and learners as Unix users, the course
# from its wheel, nbgrader's exchange; start prints the URL and the accounts (deploy/jupyterhub/hub.py).
hub: venv
	$(BIN)/python deploy/jupyterhub/hub.py start

hub-stop:
	$(PYTHON) deploy/jupyterhub/hub.py stop

hub-clean:
	$(PYTHON) deploy/jupyterhub/hub.py clean

# What the tools made and make again: the virtual environment, build outputs and caches, and the grading
# state that `make exercises` and `backprop-course grade`, `feedback` and `report` recompute (the gradebook,
# the autograded notebooks, the feedback pages, the reports). Kept: your answers (my-work/), the collected
# submissions (course/submitted/), the exchange (course/exchange/: submissions not collected yet) and
# course/grading.key (so that a regrade draws the same hidden cases and gives the same scores).
clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis
	rm -rf course/gradebook.db course/gradebook.db-journal course/autograded course/feedback course/reports
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
