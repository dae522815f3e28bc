"""A Redis database for each pytest-xdist worker (`make test` runs two; docs/testing.md).

The tests empty REDIS_URL's database before each test, so two workers cannot share one: the
first worker keeps REDIS_URL's database, the next ones take the databases below it (/15, /14...;
above it when there are none below). Loaded with `-p` (pyproject.toml), so it runs before
pytest-django reads the settings, which read REDIS_URL once. xdist names the worker in the
environment before that.
"""

import os
from urllib.parse import urlsplit, urlunsplit

REDIS_DATABASES = 16  # Redis's default `databases`


def worker_redis_url(url: str, worker_number: int) -> str:
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0)
    if database >= worker_number:
        database -= worker_number
    else:
        database += worker_number
    if database >= REDIS_DATABASES:
        raise RuntimeError(f"REDIS_URL={url}: no Redis database left for worker {worker_number}")
    return urlunsplit(parts._replace(path=f"/{database}"))


def _give_this_worker_its_redis_database() -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1"...
    url = os.environ.get("REDIS_URL", "")
    on_a_cluster = os.environ.get("REDIS_CLUSTER", "").lower() in {"1", "true", "yes", "on"}
    # A cluster has database 0 only; the run on one (test_redis_cluster_suites.py) is a pytest
    # of its own, started by a worker whose name it inherits, without xdist.
    if not worker.startswith("gw") or not url or on_a_cluster:
        return
    os.environ["REDIS_URL"] = worker_redis_url(url, int(worker.removeprefix("gw")))


_give_this_worker_its_redis_database()
