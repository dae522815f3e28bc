"""The service's own settings, plus what only the benchmark mounts: the floor views
(benchmarks/urls.py) and, with BENCH_COUNT=1, a middleware that reports each request's SQL
queries and Redis round trips in response headers (a separate server: the measured rounds run
without it)."""

import os

from apiproject.settings import *  # noqa: F403
from apiproject.settings import MIDDLEWARE

ROOT_URLCONF = "benchmarks.urls"

if os.environ.get("BENCH_COUNT") == "1":
    MIDDLEWARE = ["benchmarks.counting.CountingMiddleware", *MIDDLEWARE]
