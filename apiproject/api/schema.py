"""drf-spectacular hooks."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from drf_spectacular.views import SpectacularAPIView
from rest_framework import serializers
from rest_framework.request import Request

from apiproject.api.errors import ERROR_CODES


def strip_trailing_slashes(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """The router serves `/users` and `/users/` alike; document the contract's form."""
    result["paths"] = {path.rstrip("/") or "/": item for path, item in result["paths"].items()}
    return result


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.CharField(allow_null=True)
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Every problem by field or parameter name; on validation errors only.",
    )


class ErrorSerializer(serializers.Serializer):
    """The error envelope (contract section 5), for the OpenAPI document."""

    error = ErrorDetailSerializer()


# On every answer of an operation to a request with a valid key (contract section 6): so on
# every status an operation documents except 401, whose request has no valid key.
RATE_LIMITED_STATUSES = ["200", "201", "400", "403", "404", "405", "413", "415", "429"]
RATE_LIMIT_HEADERS = [
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
        "Retry-After",
        int,
        OpenApiParameter.HEADER,
        response=["429"],
        description="Seconds until the new count starts: a client that waits this long is served.",
    )
]


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for these error statuses, each with the envelope as its body."""
    return {
        status: OpenApiResponse(ErrorSerializer, description=ERROR_CODES[status][1])
        for status in statuses
    }


class SchemaView(SpectacularAPIView):
    """The OpenAPI document. drf-spectacular would read ?version= into its Content-Disposition
    header (a newline in it is a 500); this API has one version."""

    def _get_version_parameter(self, request: Request) -> None:
        return None
