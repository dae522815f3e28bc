"""Request ids, health checks and the error envelope for what never reaches a DRF view."""

import logging
from collections.abc import Callable
from http import HTTPStatus

from django.core.exceptions import DisallowedHost
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from apiproject.api.answers import answered
from apiproject.api.errors import error_response
from apiproject.api.health import healthz, readyz
from apiproject.api.metrics import DATABASE_UNAVAILABLE
from apiproject.api.request_id import REQUEST_ID_HEADER, current_request_id, request_id_from

logger = logging.getLogger(__name__)

API_PATH_PREFIX = "/api/"

GetResponse = Callable[[HttpRequest], HttpResponse]


def is_api_request(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PATH_PREFIX)


def internal_error_details(request: HttpRequest) -> str:
    return f"Quote request id {request.request_id} when reporting this"


class RequestIDMiddleware:
    """Gives every request an id (the caller's, when sane) for its response and log lines.

    Outermost, it also puts nosniff on every response, those answered outside Django's
    SecurityMiddleware (a disallowed host under /api/, /metrics) included.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        token = current_request_id.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response[REQUEST_ID_HEADER] = request.request_id
        response["X-Content-Type-Options"] = "nosniff"
        return response


class HealthCheckMiddleware:
    """Answers /healthz and /readyz before anything checks the Host header.

    Load balancers probe by IP address, which DJANGO_ALLOWED_HOSTS rightly does not list.
    """

    views = {"/healthz": healthz, "/readyz": readyz}

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = self.views.get(request.path_info)
        if view is None:
            return self.get_response(request)
        return view(request)


class APIErrorMiddleware:
    """The error envelope under /api/ for what DRF's exception handler never sees.

    A disallowed host, an exception DRF's handler leaves alone (an unreachable database, a
    bug), and any error page Django renders itself: HTML, and with DEBUG on never through
    handler404/handler500.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_request(request):
            return self.get_response(request)
        try:
            request.get_host()
        except DisallowedHost as exc:
            # A 4xx: the access line records it (at INFO); the reason only when debugging.
            logger.debug("Disallowed host: %s", exc)
            return error_response(HTTPStatus.BAD_REQUEST, details="The Host header is not allowed")
        response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            details = None
            if response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR:
                details = internal_error_details(request)
            response = error_response(response.status_code, details=details)
        answered(request, response.status_code)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_request(request):
            return None
        if isinstance(exception, OperationalError | InterfaceError):
            DATABASE_UNAVAILABLE.inc()
            logger.error("Database unavailable", exc_info=exception)
            return error_response(
                HTTPStatus.SERVICE_UNAVAILABLE, details="The database cannot be reached"
            )
        logger.error("Unhandled exception", exc_info=exception)
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR, details=internal_error_details(request)
        )
