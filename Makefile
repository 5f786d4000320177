# The two commands of the README: `make run` starts the service, `make test` runs every check.
# Both bootstrap a virtual environment in .venv from the lock file on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-console bench-calendar screenshots migrate clean

$(STAMP): requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/receptionist serve

migrate: $(STAMP)
	$(BIN)/receptionist migrate

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app benchmarks tests/doubles

# Three workers on two cores: most tests wait on real sockets and real-time audio, not the CPU
# (about 4 minutes instead of 17 in one process).
test: lint
	$(BIN)/pytest -n 3 --dist loadfile

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(ARGS)

# The staff console's page times on 10,000 demo calls (docs/performance.md).
bench-console: $(STAMP)
	$(BIN)/python -m benchmarks.console

# Availability with a linked calendar that answers in 100 ms (docs/performance.md).
bench-calendar: $(STAMP)
	$(BIN)/python -m benchmarks.calendar $(ARGS)

# Rewrite docs/images/ from demo data with the browser test (needs Debian's chromium).
screenshots: $(STAMP)
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/staff/test_staff_browser.py -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
