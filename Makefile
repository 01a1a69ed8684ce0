# `make run` and `make test` are all a newcomer needs: each builds .venv on
# first use and reinstalls only when requirements.txt changes.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.docs-installed
# Node tools the checks run (the spec linter), installed from tests/tools/package-lock.json like the venv.
TOOLS       := tests/tools
TOOLS_STAMP := $(TOOLS)/node_modules/.installed

.PHONY: run test test-fast lint fuzz bench demo migrate backup restore psql admin reset docs docs-build screenshots clean

run: $(STAMP)
	$(PY) -m app

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# Everything but the tests that start processes or clusters (marked slow): seconds, not minutes.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# ruff (lint and format), mypy (strict, with the pydantic plugin) and import-linter (app/'s layers,
# no cycles); settings in pyproject.toml. Then the OpenAPI document, as the app serves it in each
# AUTH mode, through Redocly's recommended rules (tests/tools/redocly.yaml; Node, pinned in tests/tools/).
lint: $(STAMP) $(TOOLS_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	@spec=$$(mktemp -d) && trap 'rm -rf "$$spec"' EXIT && \
	$(PY) -m tests.tools.write_openapi "$$spec" && \
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(TOOLS)/node_modules/.bin/redocly lint \
		--config $(TOOLS)/redocly.yaml "$$spec/openapi-open.json" "$$spec/openapi-required.json"

# The web page's screenshots the docs show (docs/images/web-*.png), taken by the browser tests
# (tests/web/test_web_browser.py, which need chromium and npm); ordinary test runs leave them alone.
screenshots: $(STAMP)
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest tests/web/test_web_browser.py -m slow $(PYTEST_ARGS)

# Schemathesis against our own OpenAPI, every check and phase, in both AUTH modes
# (FUZZ_SECONDS split between them), on the tests' database (a throwaway embedded
# PostgreSQL unless TEST_DATABASE_URL): tests/whole_api/test_fuzz.py's tests marked fuzz, with
# schemathesis' report shown as it runs. `make test` runs a short deterministic slice of it.
FUZZ_SECONDS ?= 180
fuzz: $(STAMP)
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(PY) -m pytest tests/whole_api/test_fuzz.py -m fuzz -s $(PYTEST_ARGS)

# The API against a raw floor (bench/floor.py), endpoint by endpoint, on a
# throwaway embedded PostgreSQL; needs wrk. make bench BENCH_FLAGS="--large --workers 2"
# Then the valuation's budget (bench/portfolio.py: 50 holdings, 500 entries, 3 years of closes; bar 100 ms),
# and reads split across a primary and one streaming replica against the primary alone (bench/replicas.py).
bench: $(STAMP)
	$(PY) -m bench.run $(BENCH_FLAGS)
	$(PY) -m bench.portfolio
	$(PY) -m bench.replicas

# make demo USERS=1000 STOCKS_PER_USER=10 [DEMO_FLAGS=--force]
USERS ?= 100
STOCKS_PER_USER ?= 5
demo: $(STAMP)
	$(PY) -m app demo --users $(USERS) --stocks-per-user $(STOCKS_PER_USER) $(DEMO_FLAGS)

migrate: $(STAMP)
	$(PY) -m app migrate

# make backup FILE=portfolio.dump; make restore FILE=portfolio.dump [RESTORE_FLAGS=--force]
# The database `make run` uses: the embedded one, or DATABASE_URL.
backup: $(STAMP)
	@test -n "$(FILE)" || { echo "usage: make backup FILE=portfolio.dump" >&2; exit 2; }
	$(PY) -m app backup '$(FILE)'

restore: $(STAMP)
	@test -n "$(FILE)" || { echo "usage: make restore FILE=portfolio.dump [RESTORE_FLAGS=--force]" >&2; exit 2; }
	$(PY) -m app restore '$(FILE)' $(RESTORE_FLAGS)

# psql on the database `make run` uses (embedded, or DATABASE_URL).
psql: $(STAMP)
	@$(PY) -m app psql

# make admin EMAIL=you@example.com: make EMAIL an admin, creating the user (password:
# ADMIN_PASSWORD, or asked without echo). Running it again changes nothing.
admin: $(STAMP)
	@test -n "$(EMAIL)" || { echo "usage: make admin EMAIL=you@example.com" >&2; exit 2; }
	$(PY) -m app create-admin '$(EMAIL)'

# Delete the embedded development data (.data/postgres), after asking. make reset [RESET_FLAGS=--yes]
reset: $(STAMP)
	@$(PY) -m app reset $(RESET_FLAGS)

# The documentation site (mkdocs.yml, docs/): make docs serves it on 127.0.0.1:$(DOCS_PORT), rebuilt as
# pages change; make docs-build builds it into site/ strictly (a broken link, a missing page or a page
# outside the nav fails), as CI does. Both need only docs/requirements.txt, installed on first use.
DOCS_PORT ?= 8008
# mkdocs-material's banner about MkDocs 2.0 and its successor, printed on every build: noted, and quiet.
docs docs-build: export NO_MKDOCS_2_WARNING = 1
docs: $(DOCS_STAMP)
	$(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:$(DOCS_PORT)

docs-build: $(DOCS_STAMP)
	$(VENV)/bin/mkdocs build --strict

$(DOCS_STAMP): docs/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed; set PYTHON=/path/to/python3.x")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r docs/requirements.txt
	touch $@

# Then the test tools whose declared pins clash with ours, without their dependencies
# (tests/tools/requirements.txt says which, and why).
$(STAMP): requirements.txt $(TOOLS)/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed; set PYTHON=/path/to/python3.x")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r $(TOOLS)/requirements.txt
	touch $@

$(TOOLS_STAMP): $(TOOLS)/package-lock.json
	cd $(TOOLS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache site $(TOOLS)/node_modules
