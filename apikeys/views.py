import logging
from datetime import timedelta
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apikeys.authentication import APIKeyAuthentication
from apikeys.events import KeyChangeSource
from apikeys.leaks import (
    KEY_IDENTIFIER_HEADER,
    SIGNATURE_HEADER,
    KeysFileUnusable,
    public_keys,
    signature_verifies,
)
from apikeys.models import APIKey, KeyEvent
from apikeys.scopes import KEYS_READ, KEYS_WRITE
from apikeys.selectors import apikey_get, apikey_list_of, key_events_of
from apikeys.serializers import (
    FALSE_POSITIVE,
    TRUE_POSITIVE,
    APIKeyCreateSerializer,
    APIKeyRollSerializer,
    APIKeySerializer,
    IssuedAPIKeySerializer,
    KeyEventSerializer,
    KeyUsageSerializer,
    LeakVerdictSerializer,
    ReportedTokenSerializer,
    reported_tokens,
)
from apikeys.services import (
    APIKeyNotActive,
    APIKeyRolledAlready,
    IssuedAPIKey,
    apikey_delegate,
    apikey_revoke,
    apikey_roll,
    apikeys_revoke_leaked,
)
from apikeys.usage import USAGE_DAYS_KEPT, apikey_usage
from apiproject.api.errors import Conflict
from apiproject.api.idempotency import IdempotentReplay
from apiproject.api.pagination import query_integer
from apiproject.api.ratelimit import client_ip
from apiproject.api.views import APIViewSet

logger = logging.getLogger(__name__)

DAYS_PARAMETER = "days"
DEFAULT_USAGE_DAYS = 30
MAX_USAGE_DAYS = USAGE_DAYS_KEPT

ISSUED = OpenApiResponse(
    IssuedAPIKeySerializer,
    description="The new key, with `key` (its plaintext) shown this once; "
    "`Cache-Control: no-store`.",
)


@extend_schema_view(
    list=extend_schema(
        summary="List your keys",
        description="The keys of the calling key's user, newest first, page by page, with the "
        "`Link` header of `GET /projects`. Never a secret.",
        responses={200: APIKeySerializer(many=True)},
    )
)
class APIKeyViewSet(mixins.ListModelMixin, APIViewSet):
    """The key user's own keys (docs/api.md, "Keys through the API"), issued with a key: never
    wider than it."""

    required_scopes = {
        "list": KEYS_READ,
        "retrieve": KEYS_READ,
        "usage": KEYS_READ,
        "events": KEYS_READ,
        "create": KEYS_WRITE,
        "destroy": KEYS_WRITE,
        "roll": KEYS_WRITE,
    }
    operation_errors = {
        "list": (400, 403),
        "retrieve": (403, 404),
        "create": (400, 403, 413, 415),
        "destroy": (403, 404),
        "roll": (400, 403, 404, 413, 415),
        "usage": (400, 403, 404),
        "events": (400, 403, 404),
    }
    serializer_class = APIKeySerializer
    lookup_url_kwarg = "key_id"
    # Only this shape is an operation's path (a key's prefix is letters and digits).
    lookup_value_regex = "[0-9A-Za-z]+"

    def get_queryset(self) -> QuerySet[APIKey]:
        return apikey_list_of(owner=self.request.user)

    def get_own_key(self, key_id: str) -> APIKey:
        api_key = apikey_get(owner=self.request.user, key_id=key_id)
        return self.found(api_key, missing=f"You have no key '{key_id}'")

    def change_source(self) -> KeyChangeSource:
        """Changes through the API: by the key's user, from the client's address."""
        return KeyChangeSource(
            via=KeyEvent.Via.API, actor=self.request.user, ip=client_ip(self.request)
        )

    def issued_response(self, issued: IssuedAPIKey) -> Response:
        body = IssuedAPIKeySerializer(issued.api_key, context={"plaintext": issued.plaintext})
        location = reverse("apikey-detail", kwargs={"key_id": issued.api_key.prefix})
        # Neither the client's cache nor any proxy may keep the plaintext.
        return self.created(body.data, location=location, **{"Cache-Control": "no-store"})

    # Retries never show a plaintext again: only the new key's id is kept, and a replay is a
    # 409 naming it (docs/api.md, "Retries: Idempotency-Key").
    def idempotency_kept_body(self, response: Response) -> dict[str, str]:
        return {"id": response.data["id"]}

    def idempotent_replay(self, replay: IdempotentReplay) -> Response:
        issued_id = replay.record.body["id"]
        return self.handle_exception(
            Conflict(
                f"Key {issued_id} was already issued for this Idempotency-Key; its plaintext "
                "is not shown again. Revoke it if it was lost."
            )
        )

    @extend_schema(
        summary="Get one of your keys",
        description="One of your keys by its `id` (its public prefix), never its secret. "
        "Another user's key is answered exactly like one that does not exist (404).",
    )
    def retrieve(self, request: Request, key_id: str) -> Response:
        return Response(APIKeySerializer(self.get_own_key(key_id)).data)

    @extend_schema(
        summary="Issue a key",
        description="A new key of your own, with no more than the calling key has: `scopes` "
        "within its scopes (absent: the same), an expiry no later than its own (absent: the "
        "same). The default rate limit. At most `API_KEYS_PER_USER` working keys (100: active ones "
        "and rolled ones in their grace period; 400 past it). Asking for more is 403.",
        request=APIKeyCreateSerializer,
        responses={201: ISSUED},
    )
    def create(self, request: Request) -> Response:
        body = self.valid_body(APIKeyCreateSerializer)
        issued = apikey_delegate(
            issuer=request.auth, **body.to_service_arguments(), source=self.change_source()
        )
        return self.issued_response(issued)

    @extend_schema(
        summary="Revoke a key",
        description="The key stops working at once (a key may revoke itself). Revoking a "
        "revoked key changes nothing.",
        responses={204: OpenApiResponse(description="Revoked.")},
    )
    def destroy(self, request: Request, key_id: str) -> Response:
        apikey_revoke(api_key=self.get_own_key(key_id), source=self.change_source())
        return Response(status=HTTPStatus.NO_CONTENT)

    @extend_schema(
        summary="Roll a key",
        description="A new key with the old one's name, scopes, rate limit and expiry; the old "
        "key keeps working for `grace_seconds` (default 86400), then expires. A key is rolled "
        "once: a rolled key cannot be rolled again (409, `details` naming its successor), nor a "
        "revoked or expired one (409). With a grace period the old key still works, so the roll "
        "obeys `API_KEYS_PER_USER` (400 past it); with `grace_seconds` 0 it never counts. The "
        "calling key must be able to issue the new one itself (403).",
        request=APIKeyRollSerializer,
        responses={201: ISSUED},
    )
    @action(detail=True, methods=["post"])
    def roll(self, request: Request, key_id: str) -> Response:
        body = self.valid_body(APIKeyRollSerializer).validated_data
        grace = timedelta(seconds=body["grace_seconds"])
        try:
            issued = apikey_roll(
                api_key=self.get_own_key(key_id),
                issuer=request.auth,
                grace=grace,
                source=self.change_source(),
            )
        except APIKeyRolledAlready as rolled:
            raise Conflict(
                f"Key {key_id} was rolled already: its successor is key {rolled.successor}. "
                "Roll that one instead."
            ) from None
        except APIKeyNotActive:
            raise Conflict(f"Key {key_id} is revoked or expired: it cannot be rolled.") from None
        return self.issued_response(issued)

    @extend_schema(
        summary="A key's usage, day by day",
        description="The last `days` UTC days (1 to 90, default 30), oldest first, today last, "
        "every day present: the requests counted against the key (429s included, this one "
        "too), the errors and the 429s among them.",
        parameters=[
            OpenApiParameter(
                DAYS_PARAMETER,
                int,
                description=f"How many days, 1 to {MAX_USAGE_DAYS}.",
                default=DEFAULT_USAGE_DAYS,
            )
        ],
        responses={200: KeyUsageSerializer},
    )
    @action(detail=True, methods=["get"])
    def usage(self, request: Request, key_id: str) -> Response:
        try:
            days = query_integer(request, DAYS_PARAMETER, default=DEFAULT_USAGE_DAYS)
        except ValueError as exc:
            raise exceptions.ValidationError({DAYS_PARAMETER: [str(exc)]}) from None
        if not 1 <= days <= MAX_USAGE_DAYS:
            message = f"Must be an integer from 1 to {MAX_USAGE_DAYS}."
            raise exceptions.ValidationError({DAYS_PARAMETER: [message]})
        api_key = self.get_own_key(key_id)
        body = {"key_id": api_key.prefix, "days": apikey_usage(api_key=api_key, days=days)}
        return Response(KeyUsageSerializer(body).data)

    @extend_schema(
        summary="A key's events",
        description="What happened to the key, newest first, page by page (the `Link` header "
        "of `GET /projects`): issued, changed, rolled, revoked; who acted (null for the "
        "operator's commands and leak reports), through which door, from which address.",
        responses={200: KeyEventSerializer(many=True)},
    )
    @action(detail=True, methods=["get"])
    def events(self, request: Request, key_id: str) -> Response:
        # The page and limit first: a malformed one is 400 before the key's 404.
        self.paginator.page_and_limit(request)
        api_key = self.get_own_key(key_id)
        page = self.paginate_queryset(key_events_of(api_key=api_key))
        return self.get_paginated_response(KeyEventSerializer(page, many=True).data)


class LeakReportsUnavailable(exceptions.APIException):
    status_code = HTTPStatus.SERVICE_UNAVAILABLE
    default_detail = (
        "Leak reports cannot be verified now: the service's copy of GitHub's public keys is "
        "missing or malformed. Send the report again later."
    )
    default_code = "service_unavailable"


SIGNATURE_HEADERS = [
    OpenApiParameter(
        KEY_IDENTIFIER_HEADER,
        str,
        OpenApiParameter.HEADER,
        required=True,
        description="Which of GitHub's public keys signed the body (any key GitHub lists, "
        "current or not).",
    ),
    OpenApiParameter(
        SIGNATURE_HEADER,
        str,
        OpenApiParameter.HEADER,
        required=True,
        description="Base64 of the DER ECDSA P-256 SHA-256 signature of the raw body.",
    ),
]


class LeakReportViewSet(APIViewSet):
    """Leak reports from GitHub's secret scanning (docs/api.md, "Leak reports"): signed by
    GitHub, sent without a key. Registered only when API_LEAK_REPORT_KEYS_FILE is set."""

    api_key_required = False
    # Neither a key nor a scope: the signature is checked in initial(). Counted against no
    # key's limit (GitHub's scanners send from many addresses); a failed signature counts
    # against its address's budget for failed authentication.
    authentication_classes: list[type] = []
    permission_classes: list[type] = []
    throttle_classes: list[type] = []
    pagination_class = None  # the answer is one verdict per reported token, all of them
    operation_errors = {"create": (400, 413, 415)}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # The order of docs/api.md, "Leak reports": 406, 405, then the body's length and size
        # (411, 413) before the signature is read, then the signature (401, or the per-IP
        # budget's 429), then what the body holds (415, 400: create()).
        self.negotiate(request, *args, **kwargs)
        self.check_method(request)
        self.check_body_length(request)
        # Past DATA_UPLOAD_MAX_MEMORY_SIZE Django refuses to read it: 413.
        body = request.body
        self.check_signature(request, body)

    def check_signature(self, request: Request, body: bytes) -> None:
        identifier = request.headers.get(KEY_IDENTIFIER_HEADER)
        signature = request.headers.get(SIGNATURE_HEADER)
        if identifier is None or signature is None:
            self.count_failed_authentication(request)
            raise exceptions.NotAuthenticated(
                f"Send the headers '{KEY_IDENTIFIER_HEADER}' and '{SIGNATURE_HEADER}': the "
                "body's signature by one of GitHub's secret scanning keys"
            )
        path = settings.API_LEAK_REPORT_KEYS_FILE
        try:
            keys = public_keys(path)
        except KeysFileUnusable as exc:
            logger.error(
                "Leak report not verified: the keys file %r (API_LEAK_REPORT_KEYS_FILE) %s",
                path,
                exc,
            )
            raise LeakReportsUnavailable() from None
        if not signature_verifies(body=body, identifier=identifier, signature=signature, keys=keys):
            self.count_failed_authentication(request)
            raise exceptions.AuthenticationFailed(
                "The body is not signed by one of GitHub's secret scanning keys: an unknown "
                "key identifier, or a signature that does not verify"
            )

    def get_authenticate_header(self, request: Request) -> str:
        # The API's own challenge on every 401 (docs/api.md, "Authentication"); without one DRF
        # would answer 403.
        return APIKeyAuthentication().authenticate_header(request)

    @extend_schema(
        summary="Report leaked keys",
        description="GitHub's secret scanning partner protocol: a JSON array of at most 1,000 "
        "found tokens, signed by GitHub, sent without a key. Each token that is one of our "
        "working keys is revoked at once (a `revoked` event via `leak_report`, with the url) "
        "and labelled `true_positive`; anything else is `false_positive` and changes nothing. "
        "One verdict per reported token, in order. Fields of a token other than these are "
        "ignored. A bad signature counts against the address's budget for failed "
        "authentication (429 past it).",
        parameters=SIGNATURE_HEADERS,
        request=ReportedTokenSerializer(many=True),
        responses={
            200: OpenApiResponse(
                LeakVerdictSerializer(many=True),
                description="One verdict per reported token, in the report's order.",
            )
        },
    )
    def create(self, request: Request) -> Response:
        reported = reported_tokens(request.data)
        found = apikeys_revoke_leaked(reported=reported)
        verdicts = [
            {
                "token_raw": item.token,
                "token_type": item.type,
                "label": TRUE_POSITIVE if hit else FALSE_POSITIVE,
            }
            for item, hit in zip(reported, found, strict=True)
        ]
        return Response(verdicts)
