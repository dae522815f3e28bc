"""The OpenAPI description every operation shares: DEFAULT_SCHEMA_CLASS and the error body."""

from http import HTTPStatus
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from apiproject.api.errors import ERROR_CODES, INSUFFICIENT_SCOPE
from apiproject.api.headers import CREDENTIAL_EXPIRES_HEADER


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.CharField(allow_null=True)


class ValidationErrorDetailSerializer(ErrorDetailSerializer):
    # Optional: `fields` is on validation errors only (docs/api.md, "Errors"), so a 400 for a
    # body that is not JSON has none, and a client generated from a required property refuses
    # that answer.
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Every problem by field or parameter name. Present on validation errors "
        "only (a field of the body, a query parameter or the Idempotency-Key header that is "
        "invalid); absent on any other 400, such as a body that is not valid JSON.",
    )


class ErrorSerializer(serializers.Serializer):
    """The error envelope (docs/api.md, "Errors"), for the OpenAPI document."""

    error = ErrorDetailSerializer()


class ValidationErrorSerializer(serializers.Serializer):
    """The error envelope of a 400: a validation error lists every problem in `fields`."""

    error = ValidationErrorDetailSerializer()


# On every answer of an operation to a request with a valid key (docs/api.md, "Rate limiting"):
# so on every status an operation documents except 401, whose request has no valid key.
RATE_LIMITED_STATUSES = [
    "200",
    "201",
    "204",
    "400",
    "403",
    "404",
    "405",
    "409",
    "411",
    "413",
    "415",
    "422",
    "429",
]
KEY_COUNT_HEADERS = [
    OpenApiParameter(
        name,
        int,
        OpenApiParameter.HEADER,
        response=RATE_LIMITED_STATUSES,
        description=description,
    )
    for name, description in [
        ("X-RateLimit-Limit", "Requests this key may make per minute."),
        ("X-RateLimit-Remaining", "Requests left in the current window, never below 0."),
        ("X-RateLimit-Reset", "The UTC epoch second at which the new count starts."),
    ]
] + [
    OpenApiParameter(
        CREDENTIAL_EXPIRES_HEADER,
        str,
        OpenApiParameter.HEADER,
        response=RATE_LIMITED_STATUSES,
        description="When the key expires (an IMF-fixdate, RFC 9110), on every answer to a "
        "key that has an expiry; absent for a key that never expires.",
    ),
]
RETRY_AFTER_HEADERS = [
    OpenApiParameter(
        "Retry-After",
        int,
        OpenApiParameter.HEADER,
        response=["429"],
        description="Seconds until the new count starts: a client that waits this long is served.",
    ),
]
RATE_LIMIT_HEADERS = KEY_COUNT_HEADERS + RETRY_AFTER_HEADERS


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for these error statuses, each with the envelope as its body (`fields`
    documented on a 400 only: no other error carries it)."""
    return {
        status: OpenApiResponse(
            ValidationErrorSerializer if status == HTTPStatus.BAD_REQUEST else ErrorSerializer,
            description=ERROR_CODES[status][1],
        )
        for status in statuses
    }


# Every 401, and a 403 for a missing scope, say why in the RFC 6750 challenge
# (docs/api.md, "Authentication" and "Scopes"); every 201 names the new resource; a page of a
# list links its neighbours (docs/api.md, "Pages").
AUTHENTICATION_HEADERS = [
    OpenApiParameter(
        "WWW-Authenticate",
        str,
        OpenApiParameter.HEADER,
        response=["401", "403"],
        description='`Bearer realm="api"` on every 401 (with `error="invalid_token"` for '
        '`invalid_api_key`); on a 403 `insufficient_scope`, with `error="insufficient_scope", '
        'scope="<the scope>"`.',
    )
]
LOCATION_HEADERS = [
    OpenApiParameter(
        "Location",
        str,
        OpenApiParameter.HEADER,
        response=["201"],
        description="The path of what was created.",
    )
]
LINK_HEADERS = [
    OpenApiParameter(
        "Link",
        str,
        OpenApiParameter.HEADER,
        response=["200"],
        description="RFC 8288 links to the `first`, `last`, `prev` (after page 1) and `next` "
        "(before the last page) pages, relative URLs with `page` and `limit`.",
    )
]

# Every POST made with a key takes an Idempotency-Key (docs/api.md, "Retries: Idempotency-Key").
IDEMPOTENCY_PARAMETERS = [
    OpenApiParameter(
        "Idempotency-Key",
        str,
        OpenApiParameter.HEADER,
        description="1 to 255 printable ASCII characters. A retry with the same key, method, "
        "path and body within 24 hours gets the first answer again (with "
        "`Idempotent-Replayed: true`) without doing the work twice; the same key with "
        "another request is 422, and while the first is still being processed, 409.",
    ),
    OpenApiParameter(
        "Idempotent-Replayed",
        str,
        OpenApiParameter.HEADER,
        response=["201"],
        enum=["true"],
        description="Present on an answer kept from an earlier request with the same "
        "Idempotency-Key.",
    ),
]
POST_ERROR_STATUSES = (409, 422)

# Every operation may answer these: no key or a bad one (or the IP budget's 429), an Accept it
# cannot serve, the key's own limit (docs/api.md, "Order of checks"), a bug (500) and an
# unavailable database (503), each with the error body, so clients can parse them too.
SHARED_ERROR_STATUSES = (401, 406, 429, 500, 503)
# A body sent chunked without Content-Length (docs/api.md, "Transport"; docs/decisions.md).
BODY_ERROR_STATUSES = (411,)


class APIAutoSchema(AutoSchema):
    """DEFAULT_SCHEMA_CLASS: what every operation shares (the rate-limit headers, the error
    responses of SHARED_ERROR_STATUSES, the 403 of a key without the operation's scope, the
    WWW-Authenticate, Location and Link headers) is added here, with the error statuses each
    view declares for its actions (`operation_errors`), so a view describes only its own
    answers."""

    def required_scope(self) -> str | None:
        """The scope the operation needs (the view's `required_scopes`, docs/api.md, "Scopes")."""
        return getattr(self.view, "required_scopes", {}).get(getattr(self.view, "action", None))

    def api_key_required(self) -> bool:
        """Whether the operation is called with an API key (the view's `api_key_required`)."""
        return getattr(self.view, "api_key_required", True)

    def get_override_parameters(self) -> list:
        # An operation called without a key counts against none: its 429 is the IP budget's.
        counted = RATE_LIMIT_HEADERS if self.api_key_required() else RETRY_AFTER_HEADERS
        parameters = [*super().get_override_parameters(), *counted, *AUTHENTICATION_HEADERS]
        if self.method == "POST" and self.api_key_required():
            parameters += IDEMPOTENCY_PARAMETERS + LOCATION_HEADERS
        if self.method == "GET" and self._is_list_view():
            parameters += LINK_HEADERS
        return parameters

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is not None and not self.api_key_required():
            # No bearer key: an empty requirement says so (OpenAPI 3.0, "Security Requirement").
            operation["security"] = []
        scope = self.required_scope()
        if operation is not None and scope is not None:
            # OpenAPI 3.0 gives scopes to OAuth2 schemes only; a bearer key's go here.
            operation["x-required-scope"] = scope
            description = operation.get("description", "")
            operation["description"] = f"{description}\n\nNeeds the scope `{scope}`.".strip()
        return operation

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        # drf-spectacular has no public hook for responses that every operation shares
        # (its issue #101); extend_schema's `responses` replaces get_response_serializers().
        responses = super()._get_response_bodies(direction)
        action = getattr(self.view, "action", None)
        shared = (
            *getattr(self.view, "operation_errors", {}).get(action, ()),
            *SHARED_ERROR_STATUSES,
        )
        if self.method in {"POST", "PATCH"}:
            shared += BODY_ERROR_STATUSES
        if self.method == "POST" and self.api_key_required():
            shared += POST_ERROR_STATUSES
        for status, response in error_responses(*shared).items():
            code = str(status)
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        if (scope := self.required_scope()) is not None:
            # A key without the operation's scope is refused, whatever else the operation
            # may refuse with a 403 (docs/api.md, "Scopes").
            lacking = f"the key lacks the scope `{scope}` (`{INSUFFICIENT_SCOPE[0]}`)"
            if "403" in responses:
                forbidden = responses["403"]
                forbidden["description"] = (
                    f"{forbidden['description']} (`{ERROR_CODES[403][0]}`), or {lacking}"
                )
            else:
                response = OpenApiResponse(
                    ErrorSerializer, description=f"{INSUFFICIENT_SCOPE[1]}: {lacking}"
                )
                responses["403"] = self._get_response_for_code(response, "403", direction=direction)
        return dict(sorted(responses.items()))


class StrictSerializerSchema(OpenApiSerializerExtension):
    """Request bodies refuse unknown fields (StrictSerializer): say so to client generators."""

    target_class = "apiproject.api.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema: AutoSchema, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        return schema
