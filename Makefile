# civicgrid — the two commands: `make run` and `make test`. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export PYTHONDONTWRITEBYTECODE := 1

# Find a Python >= 3.12: PATH first, then pyenv's versions; fail clearly when there is none.
define FIND_PYTHON
for c in python3.13 python3.12 python3 python; do \
  p=$$(command -v $$c 2>/dev/null) || continue; \
  $$p -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null && { echo $$p; exit 0; }; \
done; \
root=$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv); \
for p in $$(ls -d $$root/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do \
  $$p -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null && { echo $$p; exit 0; }; \
done; exit 1
endef

.PHONY: help venv install install-dev browser run serve test test-fast check lint format typecheck \
        migrations-check bench soak messages clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(PY):
	@BASE=$$( $(FIND_PYTHON) ) || { echo "civicgrid needs Python >= 3.12: none on PATH or under pyenv. Install one (e.g. 'pyenv install 3.12') and run make again." >&2; exit 1; }; \
	echo "Using $$BASE ($$($$BASE --version))"; \
	$$BASE -m venv $(VENV) && $(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(VENV)/.installed $@

venv: $(PY)
install: $(VENV)/.installed  ## create .venv and install the runtime
install-dev: $(VENV)/.installed-dev  ## install runtime and test/lint tools

browser:  ## install Debian chromium, a CJK font and msgfmt for the tests (when missing)
	@bash scripts/ensure-browser.sh

run: install  ## create .venv, install, migrate, load the demo, serve on http://$(HOST):$(PORT)
	$(PY) manage.py ensure_database
	$(PY) manage.py migrate --noinput
	$(PY) manage.py compilemessages --ignore=.venv -v 0 || true
	$(PY) manage.py demo_load --if-empty
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

# Extra pytest arguments: `make test PYTEST_ARGS="-k cases -x"`. The suite runs on every CPU
# with pytest-xdist (browser tests and live_server work under it; see conftest.py);
# `make test PYTEST_WORKERS=0` runs it in one process.
PYTEST_ARGS ?=
PYTEST_WORKERS ?= auto
# compilemessages refuses to run when there is no locale directory yet: compile only when there is.
# It needs msgfmt (Debian's gettext), which `make browser` installs.
COMPILE_MESSAGES = if find civicgrid -type d -name locale -print -quit | grep -q .; then \
	  if command -v msgfmt >/dev/null; then $(PY) manage.py compilemessages --ignore=.venv -v 0; \
	  else echo "make: msgfmt is missing, translations not compiled; run 'make browser'." >&2; fi; fi
# pytest's exit code, with a clear word for 5 (no test collected), which must never pass.
PYTEST = $(PY) -m pytest -p no:cacheprovider -n $(PYTEST_WORKERS)
define RUN_PYTEST
rc=0; $(PYTEST) $(1) $(PYTEST_ARGS) || rc=$$?; \
[ $$rc -ne 5 ] || echo "make: pytest collected no tests (exit 5): check testpaths, -m and -k." >&2; \
exit $$rc
endef

test: install-dev browser  ## install what the tests need and run the whole suite
	@$(COMPILE_MESSAGES)
	@$(call RUN_PYTEST,)

test-fast: install-dev  ## the suite without browser tests
	@$(COMPILE_MESSAGES)
	@$(call RUN_PYTEST,-m "not browser")

lint: install-dev  ## ruff and import-linter
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install-dev  ## mypy with django-stubs
	$(VENV)/bin/mypy civicgrid bench

migrations-check: install-dev  ## fail when models and migrations disagree
	$(PY) manage.py makemigrations --check --dry-run

check: lint typecheck migrations-check test  ## exactly what CI runs

messages: install-dev  ## refresh the translation catalogues
	$(PY) manage.py makemessages -l zh_Hans -l en --ignore=.venv --ignore=tests --no-obsolete
	$(PY) manage.py compilemessages --ignore=.venv

# `make bench BENCH_ARGS="--cases 20000 --seconds 5"` for a quicker pass.
BENCH_ARGS ?=
bench: install-dev  ## benchmarks with ratios; bench/results/latest.json and latest.md
	$(PY) -m bench.geo_locate --points 1000000
	$(PY) -m bench.http_bench --db sqlite --db postgres $(BENCH_ARGS)
	@# whole case loops through the JSON API (cases/s, p50/p99 per step); a failed step exits 1,
	@# the report still runs and shows it. Options: make bench WORKFLOW_ARGS="--cases 50".
	-$(PY) -m bench.workflow_bench --db sqlite --db postgres $(WORKFLOW_ARGS)
	$(PY) -m bench.report

# The long reliability runs at the issue's full size (PostgreSQL at SOAK_DATABASE_URL; figures in
# bench/results/proofs/). The same proofs run small in `make test`.
SOAK_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
soak: install-dev browser  ## proofs at full size: races, retries, fuzzing (figures to bench/results/proofs/)
	CIVICGRID_PROOF_SCALE=full CIVICGRID_FUZZ_EXAMPLES=100 DATABASE_URL=$(SOAK_DATABASE_URL) \
	  $(PY) -m pytest tests/test_proof_concurrency.py tests/test_proof_idempotency.py tests/test_proof_crash.py \
	  tests/test_fuzz_parsers.py \
	  tests/test_schemathesis.py -p no:cacheprovider -q $(PYTEST_ARGS)
	@# 100 clients for 60 s against gunicorn: no 5xx, every acknowledged write in the database.
	$(PY) -m bench.load_proof --db sqlite --clients 100 --seconds 60
	$(PY) -m bench.load_proof --db postgres --clients 100 --seconds 60

clean:
	rm -rf $(VENV) var/ staticfiles/ .pytest_cache .mypy_cache .ruff_cache
