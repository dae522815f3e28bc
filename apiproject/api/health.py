"""Liveness and readiness probes (docs/api.md, "Probes"): public, no key, not rate limited."""

import logging
import uuid
from collections.abc import Callable
from http import HTTPStatus

from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from apiproject.api.cache import CACHE_ERRORS
from apiproject.api.errors import error_response
from apiproject.api.rediscluster import default_cluster, primary_tags

logger = logging.getLogger(__name__)


def check_database() -> None:
    """A round trip on this worker's connection, bounded like Django's check of a kept
    connection (the PostgreSQL backend's health_check_deadline, DATABASE_CONNECT_TIMEOUT)
    rather than like a statement, so a hung server is reported within the probe's time."""
    connection.ensure_connection()
    if not connection.is_usable():
        connection.close()
        raise DatabaseError("the database did not answer")
    # Backends whose is_usable() asks nothing (SQLite) answer a real query here.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


class CacheCheckFailed(Exception):
    pass


def check_cache() -> None:
    """A real write and read: the rate-limit counters need both. A key of its own per probe,
    so probes of several processes at once cannot disturb each other; on a Redis Cluster, one
    on every primary (by their hash tags), each of which holds some keys' counters."""
    token = uuid.uuid4().hex
    cluster = default_cluster()
    tags = [""] if cluster is None else [f"{{{tag}}}:" for tag in primary_tags(cluster)]
    for tag in tags:
        key = f"readyz:{tag}{token}"
        cache.set(key, key, timeout=10)
        if cache.get(key) != key:
            raise CacheCheckFailed("the value written was not read back")
        cache.delete(key)


# Each check raises on failure; the name is what /readyz reports.
READINESS_CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
}
READINESS_ERRORS: tuple[type[Exception], ...] = (DatabaseError, CacheCheckFailed, *CACHE_ERRORS)


def _method_not_allowed(request: HttpRequest) -> HttpResponse | None:
    if request.method in {"GET", "HEAD"}:
        return None
    response = error_response(HTTPStatus.METHOD_NOT_ALLOWED)
    response["Allow"] = "GET, HEAD"
    return response


def healthz(request: HttpRequest) -> HttpResponse:
    return _method_not_allowed(request) or JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> HttpResponse:
    if refused := _method_not_allowed(request):
        return refused
    for name, check in READINESS_CHECKS.items():
        try:
            check()
        except READINESS_ERRORS as exc:
            logger.warning("Readiness check %s failed: %s", name, exc)
            return error_response(
                HTTPStatus.SERVICE_UNAVAILABLE, details=f"The {name} is not ready"
            )
    return JsonResponse({"status": "ok", "checks": dict.fromkeys(READINESS_CHECKS, "ok")})
