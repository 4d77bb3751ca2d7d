# Tandem: `make demo` and `make test` are the two commands a newcomer needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8080

.PHONY: demo test test-full install build bench clean e2e-deps backend-deps mitm bench-deps bench-rewriters compat cluster cluster-deps

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

build: node_modules/.package-lock.json
	npm run --silent build

install: $(STAMP) build

demo: install
	$(BIN)/tandem serve --demo --port $(PORT)

e2e-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium (needed by the end-to-end tests)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The live-state tests run every backend against a real Redis (a throwaway server per test module).
backend-deps:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing Debian redis-server (needed by the live-state tests)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

# Several nodes: HAProxy in front, Redis between them, PostgreSQL for the store (the cluster tests and `make cluster`).
cluster-deps: backend-deps
	@command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || { \
	  echo "installing Debian haproxy (needed by the cluster tests and make cluster)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; }
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian postgresql (needed by the store tests and make cluster)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# Redis, PostgreSQL, three `tandem serve` nodes and HAProxy on this machine; prints the address. Ctrl-C stops it.
CLUSTER_PORT ?= 8090
cluster: install cluster-deps
	$(BIN)/python -m tandem.cluster.local --nodes 3 --port $(CLUSTER_PORT)

# mitmproxy is the real forward proxy the egress tests go through. It pins cryptography<44.1 and
# Brotli<=1.1.0, which clash with ours, so it lives in its own virtual environment.
MITM_VENV := .venv-mitm
MITM_STAMP := $(MITM_VENV)/.installed
MITM_SPEC := mitmproxy>=11,<13

$(MITM_STAMP):
	$(PY) -m venv $(MITM_VENV)
	$(MITM_VENV)/bin/pip install -q '$(MITM_SPEC)'
	touch $(MITM_STAMP)

mitm: $(MITM_STAMP)

# pytest runs on two workers (pytest-xdist; each test file stays on one worker, so its module-scoped
# servers start once), with its temporary files (SQLite databases, Chromium profiles, PostgreSQL and
# Redis data) on tmpfs where there is one: each test server's SQLite commits with fsync, and on a busy
# disk every fsync costs milliseconds (tests/control: 206 s on /dev/shm, 398 s on /tmp at load 13).
# `make test TEST_WORKERS=0` runs in one process; TEST_TMPDIR=... puts the files elsewhere.
TEST_WORKERS ?= 2
TEST_TMPDIR ?= $(if $(wildcard /dev/shm/.),/dev/shm,$(or $(TMPDIR),/tmp))

test: install e2e-deps backend-deps cluster-deps mitm
	npm test --silent
	TMPDIR=$(TEST_TMPDIR) $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# `make test` co-browses a sample of the saved real pages (tests/e2e/realpages); this runs every one
# of them (about 10 s a page on a 2-core machine), then prints the suite's pass counts and latencies.
REALPAGES_RESULTS ?= $(or $(TMPDIR),/tmp)/tandem-realpages/full.jsonl
test-full: install e2e-deps backend-deps cluster-deps mitm
	npm test --silent
	rm -f $(REALPAGES_RESULTS)
	REALPAGES=all REALPAGES_RESULTS=$(REALPAGES_RESULTS) $(BIN)/python -m pytest -q; status=$$?; \
	  $(BIN)/python -m tests.e2e.realpages.report $(REALPAGES_RESULTS); exit $$status

# The public compatibility matrix (docs/compat.md, docs/compat.json) from a full probe-suite run.
compat: install e2e-deps
	$(BIN)/python -m tests.e2e.probes.compat

# Every benchmark prints its own figures and ratios against a baseline measured in the same run.
bench: install bench-deps
	$(BIN)/python -m bench
	$(BIN)/python -m bench.rewriters
	$(BIN)/python -m bench.pageload
	$(BIN)/python -m bench.sync
	$(BIN)/python -m bench.live

# pywb is the baseline of the rewriter benchmark. Its pins (brotlipy, which installs a module named
# brotli over ours; redis==2.10.6; werkzeug; gevent) clash with ours: it gets its own virtualenv.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
PYWB_SPEC := pywb==2.10.0

$(BENCH_STAMP):
	$(PY) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q '$(PYWB_SPEC)'
	touch $(BENCH_STAMP)

bench-deps: $(BENCH_STAMP)

bench-rewriters: install bench-deps
	$(BIN)/python -m bench.rewriters

clean:
	rm -rf $(VENV) $(MITM_VENV) $(BENCH_VENV) node_modules viewer/static/build *.egg-info
