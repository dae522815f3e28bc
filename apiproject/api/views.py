"""The base of every /api/v1 viewset, and the JSON 404 for paths that match no operation."""

from contextlib import ExitStack
from http import HTTPStatus
from typing import Any, TypeVar

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from apiproject.api.errors import error_response
from apiproject.api.headers import CREDENTIAL_EXPIRES_HEADER
from apiproject.api.idempotency import (
    IdempotentReplay,
    IdempotentRequest,
    idempotency_claim,
    idempotency_keep,
    idempotent_request,
)
from apiproject.api.permissions import HasRequiredScope
from apiproject.api.ratelimit import FailedAuthenticationThrottle

Found = TypeVar("Found")


class LengthRequired(exceptions.APIException):
    status_code = HTTPStatus.LENGTH_REQUIRED
    default_detail = "Send the body with a Content-Length header, not chunked."
    default_code = "length_required"


class APIViewSet(viewsets.GenericViewSet):
    """A GenericViewSet whose checks run in the API's order (docs/api.md, "Order of checks").

    DRF's `initial()` checks permissions before throttles, and the method only after both;
    the API's rules want 406, then 401 (or the IP budget's 429), then the key's 429, then 405,
    then 403, then 411/413/415/400 (the body, the Idempotency-Key header). Counting right
    after the key is verified also gives every operation's answer, 403 and 405 included, its
    X-RateLimit headers. A POST with an Idempotency-Key claims it last, when the request has
    passed every check, in a transaction that lasts until its answer is kept (or everything
    undone) in finalize_response (apiproject.api.idempotency).
    """

    # No OPTIONS or TRACE: JSON operations only, everything else is 405.
    http_method_names = ["get", "post", "put", "patch", "delete", "head"]
    # The scope each action needs (docs/api.md, "Scopes"), checked by HasRequiredScope.
    required_scopes: dict[str, str] = {}
    # The error statuses each action may answer besides those every operation shares, each with
    # the error body: documented by APIAutoSchema.
    operation_errors: dict[str, tuple[int, ...]] = {}
    # False for operations called without an API key, whose view checks the caller some other
    # way in an `initial` of its own (a partner's signed request): their answers count against
    # no key and carry no rate-limit headers, and they take no Idempotency-Key.
    api_key_required = True

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.negotiate(request, *args, **kwargs)
        self.perform_authentication(request)
        # From here on the answer counts against the key (docs/api.md, "Rate limiting").
        self.credentials_counted = True
        self.check_throttles(request)
        self.check_method(request)
        self.check_permissions(request)
        self.check_body_length(request)
        idempotent = idempotent_request(request)
        if idempotent is not None:
            # Begun here, after authentication and every check, so that nothing those write
            # (the key's last_used_at) is undone with a failed request or held locked by it.
            self.request_transaction.enter_context(transaction.atomic())
            self.idempotency = idempotent
            idempotency_claim(idempotent)

    def negotiate(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """What DRF's initial() does first: the representation (406) and the version."""
        self.format_kwarg = self.get_format_suffix(**kwargs)
        request.accepted_renderer, request.accepted_media_type = self.perform_content_negotiation(
            request
        )
        request.version, request.versioning_scheme = self.determine_version(
            request, *args, **kwargs
        )

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        self.idempotency: IdempotentRequest | None = None
        # Holds the transaction initial() begins for a POST with an Idempotency-Key. It ends
        # after finalize_response, so the work and its kept answer commit before the client
        # hears of them, and an unhandled exception (a 500, an unreachable database's 503)
        # rolls both back.
        with ExitStack() as self.request_transaction:
            return super().dispatch(request, *args, **kwargs)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, IdempotentReplay):
            return self.idempotent_replay(exc)
        return super().handle_exception(exc)

    def idempotency_kept_body(self, response: Response) -> Any:
        """What a 2xx answer to a POST with an Idempotency-Key keeps for its retries."""
        return response.data

    def idempotent_replay(self, replay: IdempotentReplay) -> Response:
        """The answer to a retry of a POST whose answer was kept."""
        return replay.response()

    def perform_authentication(self, request: Request) -> None:
        try:
            # Every operation needs a key, so "no key" is decided here rather than by a
            # permission class, which would only run after the method check.
            if request.user is None:
                raise exceptions.NotAuthenticated("Send the header 'Authorization: Bearer <key>'")
        except (exceptions.NotAuthenticated, exceptions.AuthenticationFailed):
            self.count_failed_authentication(request)
            raise

    def count_failed_authentication(self, request: Request) -> None:
        """Count a request whose credentials failed against its client address's budget
        (docs/api.md, "Per-IP budget"): past it, 429 instead of the 401."""
        throttle = FailedAuthenticationThrottle()
        if not throttle.allow_request(request, self):
            self.throttled(request, throttle.wait())

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        idempotent = getattr(self, "idempotency", None)
        if idempotent is not None:
            if idempotent.claimed and status.is_success(response.status_code):
                kept_body = self.idempotency_kept_body(response)
                idempotency_keep(idempotent, response, kept_body=kept_body)
            else:
                # A failure keeps nothing and leaves nothing half done: the key is free for a
                # retry (a replay, a 409 or a 422 wrote nothing to undo).
                transaction.set_rollback(True)
        usage = getattr(request, "rate_limit_usage", None)
        if usage is not None:
            for header, value in usage.headers().items():
                response[header] = value
        if getattr(self, "credentials_counted", False):
            # Read only once authenticated: DRF would authenticate a 406's request to answer.
            expires_at = getattr(request.auth, "expires_at", None)
            if expires_at is not None:
                response[CREDENTIAL_EXPIRES_HEADER] = http_date(expires_at.timestamp())
        return response

    def check_permissions(self, request: Request) -> None:
        # The scope first: 403 insufficient_scope comes before 403 forbidden
        # (docs/api.md, "Order of checks").
        HasRequiredScope().has_permission(request, self)
        super().check_permissions(request)

    def check_body_length(self, request: Request) -> None:
        # Django reads a body only as far as Content-Length says: a chunked body without one
        # would silently read as empty, and be answered as if nothing had been sent.
        chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not request.META.get("CONTENT_LENGTH"):
            raise LengthRequired()

    def valid_body(self, serializer_class: type[Serializer], **kwargs: Any) -> Serializer:
        """The request's body through `serializer_class`, valid (else the 400 of its
        errors)."""
        serializer = serializer_class(data=self.request.data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer

    @staticmethod
    def created(body: Any, *, location: str, **headers: str) -> Response:
        """201 with the new resource and where it lives."""
        return Response(body, status=HTTPStatus.CREATED, headers={"Location": location, **headers})

    @staticmethod
    def found(resource: Found | None, *, missing: str) -> Found:
        """`resource`, or 404 saying `missing`: the caller's own objects only, so another
        user's is answered like one that does not exist."""
        if resource is None:
            raise exceptions.NotFound(missing)
        return resource

    def check_method(self, request: Request) -> None:
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            self.http_method_not_allowed(request)


@csrf_exempt
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Every /api/ path that matches no operation: 404 before any other check."""
    return error_response(HTTPStatus.NOT_FOUND, details="No API operation at this path")
