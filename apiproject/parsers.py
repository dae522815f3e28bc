"""The only request body parser of the API: JSON, with the body size limit enforced."""

import io
from http import HTTPStatus
from typing import Any

from django.conf import settings
from rest_framework.exceptions import APIException
from rest_framework.parsers import JSONParser


class PayloadTooLarge(APIException):
    status_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than the service accepts."
    default_code = "payload_too_large"


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, refusing bodies over DATA_UPLOAD_MAX_MEMORY_SIZE with 413.

    DRF reads the request stream itself, so Django's own limit (which guards only
    `request.body`) never applies to API requests.
    """

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: dict | None = None
    ) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None:
            request = (parser_context or {}).get("request")
            declared_length = request.META.get("CONTENT_LENGTH") if request else None
            if declared_length and declared_length.isdigit() and int(declared_length) > limit:
                raise PayloadTooLarge(f"The request body may be at most {limit} bytes")
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise PayloadTooLarge(f"The request body may be at most {limit} bytes")
            stream = io.BytesIO(body)
        return super().parse(stream, media_type, parser_context)
