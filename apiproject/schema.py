"""drf-spectacular hooks."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse
from drf_spectacular.views import SpectacularAPIView
from rest_framework import serializers
from rest_framework.request import Request

from apiproject.errors import ERROR_CODES


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
