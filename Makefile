# Banana Studio. `make run` starts everything on this machine; `make test` runs every check.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed-$(shell cat uv.lock | cksum | cut -d' ' -f1)
# uv installs exactly what uv.lock says into $(VENV), with the Python found below (it never
# downloads one).
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test test-newest-django lint format bench bench-burst bench-team bench-memory clean messages upgrade

$(STAMP): uv.lock pyproject.toml
	@py=""; for p in python3.14 python3.13 python3.12 python3 python; do \
	  if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then py=$$p; break; fi; \
	done; \
	if [ -z "$$py" ]; then echo "Banana Studio needs Python 3.12 or newer (python3.12 or python3.13 on PATH); none was found." >&2; exit 1; fi; \
	if [ ! -x $(PY) ]; then echo "Creating $(VENV) with $$($$py --version)"; $$py -m venv $(VENV); fi
	@# uv comes from PyPI into the environment; the lock then pins it like everything else.
	@[ -x $(UV) ] || $(PY) -m pip install --quiet --disable-pip-version-check 'uv>=0.13'
	$(UV) sync --frozen --quiet --python $(PY)
	@rm -f $(VENV)/.installed-*; touch $@

# make run PORT=8001 EMULATOR_PORT=8766 when 8000 or 8765 is taken (the emulator's port is
# BANANA_API_BASE_URL's, 8765, unless given).
PORT ?= 8000
EMULATOR_PORT ?=

run: $(STAMP)
	@# The committed .mo files are used as they are; a .po changed since is compiled here
	@# (or, without GNU gettext, refused with what to install).
	DEBUG=true $(PY) manage.py translations compile
	DEBUG=true $(PY) manage.py migrate --verbosity 0
	DEBUG=true $(PY) manage.py ensure_demo_admin
	DEBUG=true $(PY) manage.py rundev --addr 127.0.0.1:$(PORT) $(if $(EMULATOR_PORT),--emulator-port $(EMULATOR_PORT))

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	DEBUG=true $(PY) -m mypy
	DEBUG=true $(PY) manage.py makemigrations --check --dry-run --verbosity 0
	$(PY) -m pytest $(PYTEST_ARGS)

# generations/prepared.py, the one module on Django's internals, and what stands on it,
# against the newest Django release on PyPI (layered over the locked environment by uv).
NEWEST_DJANGO_TESTS ?= tests/test_prepared_reads.py tests/test_query_counts.py tests/test_card_rendering.py
test-newest-django: $(STAMP)
	@newest=$$(echo Django | $(UV) pip compile - --quiet --no-header --no-annotate --refresh-package django --python $(PY) | grep -i '^django=='); \
	echo "--- $(NEWEST_DJANGO_TESTS) with $$newest"; \
	$(UV) run --no-sync --with "$$newest" python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) $(NEWEST_DJANGO_TESTS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	DEBUG=true $(PY) -m mypy

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# After changing marked strings: new messages join locale/*/LC_MESSAGES/*.po untranslated;
# translate them, then `make messages` again compiles them (docs/languages.md).
messages: $(STAMP)
	DEBUG=true $(PY) manage.py translations update
	DEBUG=true $(PY) manage.py translations compile

bench: $(STAMP)
	$(PY) -m bench; in_process=$$?; $(PY) -m bench.pages; exit $$(( in_process || $$? ))

# A team's burst and a team's day: time to image, the largest team the web tier holds, and
# memory across 1,000 jobs (docs/benchmarks.md). BENCH_DATABASE_URL=postgres://… (EMPTIED
# first) runs them on PostgreSQL.
bench-burst: $(STAMP)
	$(PY) -m bench.burst

bench-team: $(STAMP)
	$(PY) -m bench.team

bench-memory: $(STAMP)
	$(PY) -m bench.memory

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache .mypy_cache

# Newest releases within pyproject.toml's ranges, into uv.lock; then `make test`.
upgrade: $(STAMP)
	$(UV) lock --upgrade
	$(UV) sync --frozen --python $(PY)
