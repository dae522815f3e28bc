"""`make bench` in its smoke mode (seconds, tiny data, figures not judged), so that the harness
keeps working: seeding, gunicorn, wrk, the counting server and the report."""

import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from tests.processes import PROJECT_DIR, project_environment

pytestmark = [pytest.mark.postgresql, pytest.mark.redis]

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


@pytest.mark.django_db
def test_bench_smoke_mode_measures_every_endpoint():
    database_url, redis_url = bench_urls()

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--smoke",
            "--database-url",
            database_url,
            "--redis-url",
            redis_url,
        ],
        cwd=PROJECT_DIR,
        env=project_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    medians = result.stdout.split("Medians of the rounds", 1)[1]
    for endpoint in ENDPOINTS:
        assert f"\n{endpoint} " in medians, endpoint
    assert "SQL" in medians
    assert "Redis" in medians
    assert "worker peak memory" in result.stdout
