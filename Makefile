# One-command entry points. Everything runs in .venv; every target is idempotent.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# One BLAS thread per process: on 2 cores, numpy's threads fight the grader's other processes
# (measured: the solution notebook took 3x longer without it). A value you set wins.
OPENBLAS_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS

.PHONY: setup data test test-fast lint demo release student-bundle bench

setup: $(VENV)/.installed          ## create .venv and install the kit with test extras

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,postgres]'
	@touch $@

data: setup                         ## fetch CIFAR-10 into data/ (honours CIFAR10_URL / CIFAR10_MD5)
	$(PY) -m cs231n_utils.data download

# Two pytest workers, a test module per worker (fixtures are module-scoped: a course graded once per
# module); the slowest tests are listed at the end. `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= 2
test: data                          ## set up, fetch data, run the whole test suite
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=20

# The tiers are markers assigned in tests/conftest.py.
test-fast: setup                    ## the quick tier: no download, no bubblewrap, under a minute
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=10 -m "not slow and not data and not sandbox and not browser and not postgres"

lint: setup                         ## the style gate CI runs (ruff, configured in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

demo: data                          ## the instructor's full cycle on the bundled class (re-runs redo what changed)
	$(PY) -m cs231n_grader.demo

ASSIGNMENT ?= two_layer_net
release: setup                      ## regenerate assignment/$(ASSIGNMENT)/ from solutions/ (kept as it was on failure)
	$(PY) -m cs231n_grader.course release $(ASSIGNMENT)

bench: data                         ## print the benchmark figures quoted in the README
	$(PY) benchmarks/bench_data.py
	$(PY) benchmarks/bench_sandbox.py
	$(PY) benchmarks/bench_grading.py
	$(PY) benchmarks/bench_notebook.py

.PHONY: student-bundle
student-bundle: setup               ## dist/two_layer_net-student.zip: released notebook, student wheel, README, data script
	$(PY) -m cs231n_grader.bundle

.PHONY: selfcheck-data
selfcheck-data: setup               ## recompute the students' self-check data from the solution notebook, then release
	$(PY) -m cs231n_grader.selfcheck_data
	$(MAKE) release ASSIGNMENT=two_layer_net
