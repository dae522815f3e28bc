from datetime import timedelta
from http import HTTPStatus

from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apikeys.models import APIKey
from apikeys.scopes import KEYS_READ, KEYS_WRITE
from apikeys.selectors import apikey_get, apikey_list_of
from apikeys.serializers import (
    APIKeyCreateSerializer,
    APIKeyRollSerializer,
    APIKeySerializer,
    IssuedAPIKeySerializer,
)
from apikeys.services import (
    APIKeyNotActive,
    APIKeyRolledAlready,
    IssuedAPIKey,
    apikey_delegate,
    apikey_revoke,
    apikey_roll,
)
from apiproject.api.errors import Conflict
from apiproject.api.idempotency import IdempotentReplay
from apiproject.api.schema import error_responses
from apiproject.api.views import APIViewSet

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
        responses={200: APIKeySerializer(many=True), **error_responses(400, 403)},
    )
)
class APIKeyViewSet(mixins.ListModelMixin, APIViewSet):
    """The key user's own keys (docs/api.md, "Keys through the API"), issued with a key: never
    wider than it."""

    required_scopes = {
        "list": KEYS_READ,
        "retrieve": KEYS_READ,
        "create": KEYS_WRITE,
        "destroy": KEYS_WRITE,
        "roll": KEYS_WRITE,
    }
    serializer_class = APIKeySerializer
    lookup_url_kwarg = "key_id"
    # Only this shape is an operation's path (a key's prefix is letters and digits).
    lookup_value_regex = "[0-9A-Za-z]+"

    def get_queryset(self) -> QuerySet[APIKey]:
        return apikey_list_of(owner=self.request.user)

    def get_own_key(self, key_id: str) -> APIKey:
        api_key = apikey_get(owner=self.request.user, key_id=key_id)
        if api_key is None:
            raise exceptions.NotFound(f"You have no key '{key_id}'")
        return api_key

    def issued_response(self, issued: IssuedAPIKey) -> Response:
        body = IssuedAPIKeySerializer(issued.api_key, context={"plaintext": issued.plaintext})
        location = reverse("apikey-detail", kwargs={"key_id": issued.api_key.prefix})
        return Response(
            body.data,
            status=HTTPStatus.CREATED,
            # Neither the client's cache nor any proxy may keep the plaintext.
            headers={"Location": location, "Cache-Control": "no-store"},
        )

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
        responses={200: APIKeySerializer, **error_responses(403, 404)},
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
        responses={201: ISSUED, **error_responses(400, 403, 413, 415)},
    )
    def create(self, request: Request) -> Response:
        serializer = APIKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = apikey_delegate(issuer=request.auth, **serializer.to_service_arguments())
        return self.issued_response(issued)

    @extend_schema(
        summary="Revoke a key",
        description="The key stops working at once (a key may revoke itself). Revoking a "
        "revoked key changes nothing.",
        responses={204: OpenApiResponse(description="Revoked."), **error_responses(403, 404)},
    )
    def destroy(self, request: Request, key_id: str) -> Response:
        apikey_revoke(api_key=self.get_own_key(key_id), revoked_by=request.user)
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
        responses={201: ISSUED, **error_responses(400, 403, 404, 413, 415)},
    )
    @action(detail=True, methods=["post"])
    def roll(self, request: Request, key_id: str) -> Response:
        serializer = APIKeyRollSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        grace = timedelta(seconds=serializer.validated_data["grace_seconds"])
        try:
            issued = apikey_roll(api_key=self.get_own_key(key_id), issuer=request.auth, grace=grace)
        except APIKeyRolledAlready as rolled:
            raise Conflict(
                f"Key {key_id} was rolled already: its successor is key {rolled.successor}. "
                "Roll that one instead."
            ) from None
        except APIKeyNotActive:
            raise Conflict(f"Key {key_id} is revoked or expired: it cannot be rolled.") from None
        return self.issued_response(issued)
