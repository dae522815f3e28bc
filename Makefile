# The commands a person types. `make run` and `make test` set everything up themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-dev run serve test bench capacity lint format collectstatic clean

# Reinstalled whenever a requirements file changes.
$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Development server on the embedded SQLite default (or DATABASE_URL), DJANGO_DEBUG=1.
run: install
	DJANGO_DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=1 $(BIN)/python manage.py devsetup --base-url http://$(HOST):$(PORT)
	DJANGO_DEBUG=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

# The production stack in the foreground: nginx on 127.0.0.1:$PORT (default 8080) in front of gunicorn,
# against DATABASE_URL and REDIS_URL (docs/operations.md, "Production stack"). Ctrl-C stops it.
SERVE_PORT = $(if $(filter file,$(origin PORT)),8080,$(PORT))
serve: install
	PORT=$(SERVE_PORT) deploy/serve.sh

# The whole test suite in TEST_WORKERS processes (docs/testing.md); PYTEST_ARGS adds pytest
# options (e.g. PYTEST_ARGS="-k users -x"). Python's bytecode cache on: every process the tests
# start imports the project.
TEST_WORKERS ?= 2
test: install-dev
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The API against Django's floor under gunicorn, PostgreSQL and Redis (docs/performance.md).
# BENCH_ARGS adds options, e.g. BENCH_ARGS="--scale large", BENCH_ARGS="--smoke", or
# BENCH_ARGS="--scale-out" (through a private Redis Cluster and PgBouncer; its own output file).
bench: install-dev
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# What 1,000, 10,000 and 100,000 requests/s need, from what the last `make bench` measured
# (benchmarks/last-run.json; docs/performance.md, "Capacity"). CAPACITY_ARGS adds options,
# e.g. CAPACITY_ARGS="--utilisation 0.5 --mix 'GET /projects=90,POST+DELETE /projects=10'".
capacity: install
	$(BIN)/python -m benchmarks.capacity $(CAPACITY_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The production deploy step for static files (admin, API docs), served by WhiteNoise.
collectstatic: install
	$(BIN)/python manage.py collectstatic --noinput

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
