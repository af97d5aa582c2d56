# identity: two commands from a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_WORKERS ?= auto

.PHONY: install bytecode run test test-sqlite test-postgresql lint format bench messages clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# uv installs in about a second; plain pip is the fallback when PyPI has no uv for us.
	# Both leave bytecode: the tests start many `identity` processes, and one that compiles
	# its imports (PYTHONDONTWRITEBYTECODE, or a read-only tree) takes twice as long.
	($(BIN)/pip install -q uv && VIRTUAL_ENV=$(VENV) $(BIN)/uv pip install -q --compile-bytecode -e '.[dev]') \
	  || $(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The provider on :8000 and the demo relying party (store, app, marketplace) on :8001.
# The demo's brand (a deployment sets its own, see docs/configuration or settings.py).
DEMO_BRAND := IDENTITY_BRAND_LOGO=/static/brand/demo-shop.svg IDENTITY_BRAND_COLOR=\#0b6e4f
run: install
	$(BIN)/identity db upgrade
	$(BIN)/identity demo seed
	$(BIN)/identity demo rp --host $(HOST) --port 8001 & rp=$$!; \
	  trap "kill $$rp 2>/dev/null" EXIT INT TERM; \
	  $(DEMO_BRAND) $(BIN)/identity serve --host $(HOST) --port $(PORT)

# The suite on SQLite, then on PostgreSQL (a throwaway cluster, or the server named by
# IDENTITY_TEST_DATABASE_URL). Both halves must pass. Every test that reaches a database runs
# on both; the browser journeys (tests/e2e: the same pages through a real server, which the
# integration tests cover on both) run once, on production's PostgreSQL, which halves the
# suite's time on two cores. `make test-sqlite` runs them on SQLite too.
test: install bytecode
	$(BIN)/pytest -n $(PYTEST_WORKERS) --db=sqlite -m "not e2e"
	$(BIN)/pytest -n $(PYTEST_WORKERS) --db=postgresql

test-sqlite: install bytecode
	$(BIN)/pytest -n $(PYTEST_WORKERS) --db=sqlite $(ARGS)

test-postgresql: install bytecode
	$(BIN)/pytest -n $(PYTEST_WORKERS) --db=postgresql $(ARGS)

# identity's own bytecode (an editable install has none) for the processes the tests start.
bytecode: install
	$(BIN)/python -m compileall -q src

lint: install
	$(BIN)/ruff check src tests bench migrations tools
	$(BIN)/ruff format --check src tests bench migrations tools
	# The architecture contracts in pyproject.toml ([tool.importlinter]).
	$(BIN)/lint-imports --no-cache
	# No module over 450 lines, no function over 60 (tools/sizes.py).
	$(BIN)/python tools/sizes.py

format: install
	$(BIN)/ruff format src tests bench migrations tools
	$(BIN)/ruff check --fix src tests bench migrations tools

# Each prints its figures (medians over rounds, ratios against a baseline measured in the same
# run) and writes JSON to bench/results/. Needs wrk (apt-get install -y wrk), node for the
# token benchmark's peer, and PostgreSQL binaries for the --database postgresql runs.
# make bench [BENCH_DATABASE=postgresql]: every benchmark on one database (figures in README);
# on PostgreSQL the consent benchmark runs twice, the database on the server's core, then on
# its own (the README's two PostgreSQL columns), and the audit log's benchmark (writes against
# pgbench, sequencer lag, export, verification and proofs at 1,000,000 entries) and the
# linking benchmark (a sign-in with and without anon_id, anonymous decisions and writes
# beside accounts') run too.
BENCH_DATABASE ?= sqlite
bench: install
	$(BIN)/python bench/login.py --database $(BENCH_DATABASE)
	$(BIN)/python bench/tokens.py --database $(BENCH_DATABASE)
	$(BIN)/python bench/consent.py --database $(BENCH_DATABASE)
ifeq ($(BENCH_DATABASE),postgresql)
	$(BIN)/python bench/consent.py --database postgresql --pg-core load
	$(BIN)/python bench/audit.py
	$(BIN)/python bench/linking.py
endif

# Re-extract translatable strings and merge them into the catalogs; then translate the new
# entries in src/identity/web/locales/es/LC_MESSAGES/messages.po.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _ -k gettext -k ngettext -k N_ --no-location \
	  --sort-output -o src/identity/web/locales/messages.pot .
	$(BIN)/pybabel update -i src/identity/web/locales/messages.pot -d src/identity/web/locales \
	  -l es --ignore-obsolete --no-fuzzy-matching

clean:
	rm -rf $(VENV) var artifacts
