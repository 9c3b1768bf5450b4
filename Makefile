# The course's task runner. Everything installs itself into .venv on first use.
#   make lab       set up and open the course in JupyterLab (learners)
#   make test      set up and run every test (what CI runs)
# More: make help

SHELL  := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# nbgrader shells out to `alembic` and `jupyter`: the venv's bin/ must come first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)
export MPLBACKEND ?= Agg
PYTEST_WORKERS ?= 2
# one test at a time to whichever worker is free: slow tests are collected first (tests/conftest.py), so
# the two workers share them instead of one worker getting a long consecutive chunk of them
PYTEST_SCHED ?= --maxschedchunk 1
LAB_ARGS ?=
# JupyterLab refuses to run as root without --allow-root (containers, cloud notebooks)
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
# the Lab's terminals: bash with lab/terminal.bashrc (the user's ~/.bashrc, then the venv first on PATH again),
# so `python -m msglib check` works there even when ~/.bashrc puts pyenv's or conda's python first; a login
# shell would also reset PATH from /etc/profile
export MSGLIB_VENV_BIN := $(abspath $(BIN))
LAB_COMMON = --ServerApp.terminado_settings="{'shell_command': ['$(SHELL)', '--rcfile', '$(CURDIR)/lab/terminal.bashrc', '-i']}" \
  $(ALLOW_ROOT) $(LAB_ARGS)
# learners: nbgrader's Validate button only, answered by msglib.grading.lab_validate (every exercise with
# its points, as `make check` prints them). Formgrader, Create Assignment, Assignment List and Course List
# are instructor tools; they are switched off for this launch only (server extensions here, the Lab's
# plugins in lab/learner/labconfig/page_config.json), never in the environment: `make lab-instructor` has them.
LEARNER_ONLY = --ServerApp.jpserver_extensions="{'nbgrader.server_extensions.formgrader': False, \
  'nbgrader.server_extensions.assignment_list': False, 'nbgrader.server_extensions.course_list': False, \
  'nbgrader.server_extensions.validate_assignment': False, 'msglib.grading.lab_validate': True}"

.PHONY: help setup sysdeps lab lab-instructor feedback test test-fast release check grade doctor lint bench mutation clean

help:
	@echo "make lab        set up (first time only) and open the course in JupyterLab"
	@echo "make lab-instructor   JupyterLab at the repository root, with Formgrader and the solutions"
	@echo "make test       set up and run every test: msglib, notebooks, release drift, grading"
	@echo "make check NB=notebooks/00_why_messaging   self-check your work (visible tests)"
	@echo "make release    instructors: regenerate notebooks/ from solutions/ with nbgrader"
	@echo "make grade      instructors: autograde submitted/, export grades/, write feedback/"
	@echo "make feedback   instructors, after hand-grading in Formgrader: feedback/ and grades/ with the hand grades"
	@echo "make doctor     diagnose the setup;  make lint  check notebook conventions;  make bench  benchmarks"
	@echo "make mutation   mutation-test every exercise's reference solution against its checks (slow)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "msglib needs Python 3.10 or newer; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# PYTHONWARNINGS=ignore: no setuptools "Editable installation" banner (a warning, not a problem)
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet -e ".[course]"
	@touch $(STAMP)

# System tools the tests use: bubblewrap (the grading sandbox), rabbitmq-server and kcat (fidelity tests
# against real, independent implementations), chromium (tests/test_browser.py, driven by Playwright). Installed when running as root with apt (CI, containers);
# elsewhere `make doctor` names what is missing and the tests that need it skip with the reason.
SYSDEPS ?= bubblewrap rabbitmq-server kcat chromium
sysdeps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in $(SYSDEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi; \
	else echo "not root or no apt-get: system packages ($(SYSDEPS)) not installed; make doctor lists what is missing"; fi

setup: $(STAMP)

lab: setup
	JUPYTER_CONFIG_PATH=$(CURDIR)/lab/learner $(BIN)/jupyter lab --ServerApp.root_dir=notebooks $(LEARNER_ONLY) $(LAB_COMMON)

# instructors: the repository root (solutions/, notebooks/, submitted/...), with Formgrader and Create Assignment
lab-instructor: setup
	$(BIN)/jupyter lab --ServerApp.root_dir=. $(LAB_COMMON)

test: setup
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_SCHED) --durations=15 $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_SCHED) -m "not slow" $(PYTEST_ARGS)

release: setup
	$(BIN)/python -m msglib release

NB ?= notebooks
# `python -m msglib check` exits 1 when a check fails (for scripts and CI); here its last line is the summary,
# and make does not add its own "Error 1" line to it (CHECK_STRICT=1: exit 1 too)
check: setup
	@$(BIN)/python -m msglib check $(NB) || { rc=$$?; [ $$rc = 1 ] && [ -z "$(CHECK_STRICT)" ] || exit $$rc; }

grade: setup
	$(BIN)/python -m msglib grade
	@echo "next: grade the written answers in Formgrader (make lab-instructor), then: make feedback"

# after hand-grading: feedback/ and grades/grades.csv with the hand grades
feedback: setup
	$(BIN)/python -m msglib feedback

doctor: setup
	$(BIN)/python -m msglib doctor

lint: setup
	$(BIN)/python -m msglib.authoring lint solutions/

bench: setup
	$(BIN)/python -m pip install --quiet -e ".[course,bench]"
	@for b in benchmarks/bench_*.py; do m=$${b%.py}; $(BIN)/python -m $${m//\//.} || exit 1; done

# Mutation testing of every exercise's reference solution against its visible and hidden checks
# (mutmut's operators, one forked run per mutant; writes mutation/results.json). Slow, so not in `make test`.
mutation: setup
	$(BIN)/python -m pip install --quiet -e ".[course,mutation]"
	$(BIN)/python -m mutation $(MUTATION_ARGS)

clean:
	rm -rf autograded feedback grades generated_solutions gradebook.db .pytest_cache
