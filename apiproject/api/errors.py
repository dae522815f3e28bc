"""The error envelope (docs/api.md, "Errors"), built in this one place.

`api_exception_handler` answers everything DRF's views raise; `APIErrorMiddleware`
(apiproject/api/middleware.py) covers what never reaches a DRF view.
"""

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import set_rollback

ERROR_CODES: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "The request was invalid"),
    401: ("authentication_required", "Authentication is required"),
    403: ("forbidden", "The authenticated user doesn't have permission"),
    404: ("not_found", "The requested resource doesn't exist"),
    405: ("method_not_allowed", "The method is not allowed for this resource"),
    406: ("not_acceptable", "The requested representation is not available"),
    409: ("conflict", "The request conflicts with the current state of the resource"),
    411: ("length_required", "The request body needs a Content-Length"),
    413: ("payload_too_large", "The request body is too large"),
    415: ("unsupported_media_type", "The request body must be JSON"),
    422: ("idempotency_key_reused", "The idempotency key was used for another request"),
    429: ("rate_limit_exceeded", "Rate limit exceeded"),
    500: ("internal_error", "Something went wrong on the server"),
    503: ("service_unavailable", "The service is temporarily unavailable"),
}
# As DRF renders it, so every error body reads the same.
COMPACT_JSON = {"separators": (",", ":")}
INVALID_API_KEY = ("invalid_api_key", "Authentication failed")
INSUFFICIENT_SCOPE = ("insufficient_scope", "The API key does not allow this operation")


class Conflict(exceptions.APIException):
    status_code = HTTPStatus.CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class InsufficientScope(exceptions.PermissionDenied):
    """The credentials lack the scope the operation needs (docs/api.md, "Scopes")."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"This API key does not have the scope '{scope}'")
        self.scope = scope


class PayloadTooLarge(exceptions.APIException):
    status_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than the service accepts."
    default_code = "payload_too_large"


def error_body(
    status: int,
    *,
    details: str | None = None,
    fields: Mapping[str, list[str]] | None = None,
    code_and_message: tuple[str, str] | None = None,
) -> dict[str, Any]:
    if code_and_message is None:
        code_and_message = ERROR_CODES.get(status) or _fallback_code(status)
    code, message = code_and_message
    error: dict[str, Any] = {"code": code, "message": message, "details": details}
    if fields is not None:
        error["fields"] = dict(fields)
    return {"error": error}


def error_response(status: int, *, details: str | None = None) -> JsonResponse:
    """The envelope as a plain Django response, for code outside DRF's views."""
    return JsonResponse(
        error_body(status, details=details), status=status, json_dumps_params=COMPACT_JSON
    )


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every APIException (and Django's equivalents) as the envelope.

    Anything else returns None, so DRF re-raises it and APIErrorMiddleware logs it with its
    traceback and answers 500 (or 503 for an unreachable database).
    """
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, RequestDataTooBig):
        # DRF's JSON parser reads request.body, which enforces DATA_UPLOAD_MAX_MEMORY_SIZE.
        exc = PayloadTooLarge(
            f"The request body may be at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes"
        )
    elif isinstance(exc, BadRequest | SuspiciousOperation):
        # Too many query fields, say: Django's 400, raised inside the view.
        exc = exceptions.ParseError(str(exc))
    if not isinstance(exc, exceptions.APIException):
        return None

    status = exc.status_code
    headers: dict[str, str] = {}
    code_and_message = None
    fields = None
    if isinstance(exc, exceptions.ValidationError):
        details, fields = validation_details(exc.detail)
    else:
        details = str(exc.detail)

    # DRF sets auth_header from the authentication class's authenticate_header().
    if auth_header := getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = auth_header
    if isinstance(exc, exceptions.AuthenticationFailed):
        code_and_message = INVALID_API_KEY
        if auth_header:
            headers["WWW-Authenticate"] = f'{auth_header}, error="invalid_token"'
    if isinstance(exc, InsufficientScope):
        code_and_message = INSUFFICIENT_SCOPE
        # RFC 6750, section 3: the challenge names the scope that was missing.
        challenge = context["view"].get_authenticate_header(context["request"])
        headers["WWW-Authenticate"] = (
            f'{challenge}, error="insufficient_scope", scope="{exc.scope}"'
        )
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    set_rollback()
    body = error_body(status, details=details, fields=fields, code_and_message=code_and_message)
    return Response(body, status=status, headers=headers)


def validation_details(detail: Any) -> tuple[str, dict[str, list[str]]]:
    """`details` (the first problem, in the serializer's field order) and every problem by name."""
    if not isinstance(detail, Mapping):
        detail = {"non_field_errors": detail}
    fields = {name: _messages(value) for name, value in detail.items()}
    first_name, first_value = next(iter(detail.items()))
    first = _first_error(first_value)
    if getattr(first, "code", None) == "required":
        details = f"The '{first_name}' field is required"
    elif first_name == "non_field_errors":
        details = str(first)
    else:
        details = f"The '{first_name}' field is invalid: {first}"
    return details, fields


def _messages(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return [message for nested in value.values() for message in _messages(nested)]
    if isinstance(value, list | tuple):
        return [message for item in value for message in _messages(item)]
    return [str(value)]


def _first_error(value: Any) -> Any:
    while isinstance(value, list | tuple | Mapping):
        value = next(iter(value.values())) if isinstance(value, Mapping) else value[0]
    return value


def _fallback_code(status: int) -> tuple[str, str]:
    # Statuses the error table does not name (a 414 from a proxy, say) still get the shape
    # (docs/api.md, "Error table").
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return phrase.lower().replace(" ", "_").replace("-", "_"), phrase
