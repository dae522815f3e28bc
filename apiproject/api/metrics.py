"""Prometheus metrics (docs/operations.md, "Logs and metrics"), summed over every gunicorn worker.

With PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py and `make serve` set it up), each
process writes its values there and a scrape adds them up; without it (development, tests)
the process's own registry is served.
"""

import hmac
import os
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

METRICS_PATH = "/metrics"

REQUESTS = Counter(
    "api_requests_total", "Requests answered, by operation and status.", ["operation", "status"]
)
LATENCY = Histogram(
    "api_request_duration_seconds", "Time to answer a request, by operation.", ["operation"]
)
RATE_LIMITED = Counter("api_rate_limited_total", "Requests refused with 429.")
AUTHENTICATION_FAILURES = Counter("api_authentication_failures_total", "Requests answered 401.")
CACHE_FAIL_OPENS = Counter(
    "api_cache_fail_open_total", "Requests served without rate limit: the cache failed."
)
DATABASE_UNAVAILABLE = Counter(
    "api_database_unavailable_total", "Requests answered 503: the database was unavailable."
)

# Answered before any URL is resolved (HealthCheckMiddleware).
_UNRESOLVED_OPERATIONS = {"/healthz": "healthz", "/readyz": "readyz"}


def operation_of(request: HttpRequest) -> str:
    """The URL pattern's name (`project-detail`), never the raw path with its ids."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or match.route
    return _UNRESOLVED_OPERATIONS.get(request.path_info, "unresolved")


def scrape() -> bytes:
    if directory := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def authorized(request: HttpRequest) -> bool:
    """Only `Authorization: Bearer <METRICS_TOKEN>`, and never without a token configured."""
    token = settings.METRICS_TOKEN
    if not token:
        return False
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


class MetricsMiddleware:
    """Counts every request, and serves /metrics to the scraper. Anyone else asking for
    /metrics goes on like any other request, so gets exactly an unknown path's 404."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == METRICS_PATH and request.method in {"GET", "HEAD"}:
            if authorized(request):
                return HttpResponse(scrape(), content_type=CONTENT_TYPE_LATEST)
        started = time.perf_counter()
        response = self.get_response(request)
        operation = operation_of(request)
        LATENCY.labels(operation).observe(time.perf_counter() - started)
        REQUESTS.labels(operation, str(response.status_code)).inc()
        if response.status_code == 429:
            RATE_LIMITED.inc()
        elif response.status_code == 401:
            AUTHENTICATION_FAILURES.inc()
        return response
