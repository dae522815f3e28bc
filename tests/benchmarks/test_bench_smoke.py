"""`make bench` in its smoke mode (seconds, tiny data, figures not judged), so that the harness
keeps working: seeding, gunicorn, wrk, the CPU meters, the counting server, the report and the
measurements file that `make capacity` reads; and its scale-out setup (`--scale-out`: a private
Redis Cluster and PgBouncer), for the list endpoint and its floor."""

import dataclasses
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from benchmarks.measurements import SINGLE_NODE, EndpointCosts, Measurements
from tests.processes import PROJECT_DIR, project_environment
from tests.servers import require_redis_cluster_tools

ENDPOINTS = [
    "floor projects",
    "GET /projects",
    "GET /projects/{id}",
    "floor user",
    "GET /users/{own id}",
    "GET /users/me",
    "POST+DELETE /projects",
]


def bench_urls() -> tuple[str, str]:
    """A database and a Redis database of the smoke run's own, on the servers the tests use:
    never the test database, nor the Redis database the tests empty, nor `make bench`'s. The
    database is named after the test run's (`test_x` runs `x_bench_smoke`): checkouts of
    different branches, sharing one server, each migrate their own."""
    database = connection.settings_dict
    credentials = database["USER"] + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
    name = database["NAME"].removeprefix("test_") + "_bench_smoke"
    database_url = f"postgres://{credentials}@{database['HOST']}:{database['PORT'] or 5432}/{name}"
    redis = urlsplit(settings.REDIS_URL)
    redis_db = "7" if redis.path.strip("/") == "8" else "8"
    return database_url, urlunsplit(redis._replace(path=f"/{redis_db}"))


def run_smoke(*options: str) -> subprocess.CompletedProcess:
    """`python -m benchmarks.run --smoke <options>` in a fresh process, which must exit 0."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", *options],
        cwd=PROJECT_DIR,
        env=project_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.mark.postgresql
@pytest.mark.redis
@pytest.mark.django_db
def test_bench_smoke_mode_measures_every_endpoint(tmp_path: Path):
    database_url, redis_url = bench_urls()
    measurements = tmp_path / "run.json"

    result = run_smoke(
        "--database-url", database_url, "--redis-url", redis_url, "--output", str(measurements)
    )

    medians = result.stdout.split("Medians of the rounds", 1)[1]
    for endpoint in ENDPOINTS:
        assert f"\n{endpoint} " in medians, endpoint
    assert "SQL" in medians
    assert "Redis" in medians
    assert "worker peak memory" in result.stdout
    costs = result.stdout.split("Cost per request", 1)[1]
    for endpoint in ENDPOINTS:
        assert f"\n{endpoint} " in costs, endpoint

    # Every cost of every endpoint measured (PostgreSQL runs on this machine in the tests).
    measured = Measurements.read(measurements)
    assert measured.conditions["smoke"] is True
    assert measured.conditions["setup"] == SINGLE_NODE
    assert measured.conditions["scale_out"] is False
    assert {
        "commit", "date", "cpus", "cpu_model", "wrk", "rounds", "round_seconds", "server",
        "postgresql", "redis", "data", "load_before", "load_after",
    } <= set(measured.conditions)  # fmt: skip
    assert set(measured.endpoints) == set(ENDPOINTS)
    for endpoint, costs_of in measured.endpoints.items():
        for field in dataclasses.fields(EndpointCosts):
            value = getattr(costs_of, field.name)
            assert isinstance(value, int | float), (endpoint, field.name, value)
            assert value >= 0, (endpoint, field.name, value)
        assert costs_of.service_cpu_ms > 0, endpoint
    writes = measured.endpoints["POST+DELETE /projects"]
    assert writes.sql_statements > 0
    assert writes.db_held_ms > 0


@pytest.mark.postgresql
@pytest.mark.pgbouncer
@pytest.mark.rediscluster
@pytest.mark.django_db
def test_bench_scale_out_smoke_runs_the_list_endpoint_through_cluster_and_pgbouncer(
    tmp_path: Path,
):
    require_redis_cluster_tools()
    database_url, _redis_url = bench_urls()
    measurements = tmp_path / "run.json"

    result = run_smoke(
        "--scale-out",
        "--only",
        "GET /projects",
        "--database-url",
        database_url,
        "--output",
        str(measurements),
    )

    assert "setup: scale-out: a Redis Cluster of 3 primaries, PgBouncer" in result.stdout
    medians = result.stdout.split("Medians of the rounds, scale-out", 1)[1]
    list_row = medians.split("\nGET /projects ", 1)[1].splitlines()[0]
    # req/s, p50, p99, then the ratio to the floor run with the same setup.
    assert float(list_row.split()[3]) > 0, list_row
    assert "2 SQL, 1 Redis" in list_row
    assert "\nfloor projects " in medians
    assert "Cost per request, scale-out" in result.stdout

    measured = Measurements.read(measurements)
    assert measured.conditions["scale_out"] is True
    assert measured.conditions["setup"].startswith("scale-out: a Redis Cluster")
    assert set(measured.endpoints) == {"floor projects", "GET /projects"}
    listed = measured.endpoints["GET /projects"]
    assert listed.sql_statements == 2
    assert listed.redis_round_trips == 1
    assert listed.redis_cpu_ms > 0  # the primaries' main threads, summed
    assert listed.db_held_ms > 0
