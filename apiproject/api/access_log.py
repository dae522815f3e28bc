"""One access line per request (docs/operations.md, "Logs and metrics"): method, path, status,
duration, request id (from the log filter) and the key's public prefix, never the key."""

import logging
import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from apiproject.api.text import escape_unprintable

logger = logging.getLogger(__name__)


def key_prefix(request: HttpRequest) -> str | None:
    """The public prefix of the key that authenticated the request, if any.

    DRF puts the authenticated key on the Django request as `auth`; read duck-typed because
    the kernel does not import the app that defines keys.
    """
    return getattr(getattr(request, "auth", None), "prefix", None)


class AccessLogMiddleware:
    """Logs every request once, at INFO whatever its status: a 4xx is the client's business,
    and a 5xx also has its own ERROR line with the traceback."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        fields: dict[str, Any] = {
            "method": escape_unprintable(request.method or ""),
            "path": escape_unprintable(request.path),
            "status": response.status_code,
            "duration_ms": duration_ms,
            "key_prefix": key_prefix(request),
        }
        logger.info(
            "%(method)s %(path)s %(status)s %(duration_ms)sms key=%(key)s",
            {**fields, "key": fields["key_prefix"] or "-"},  # "-": no valid key
            extra=fields,
        )
        return response
