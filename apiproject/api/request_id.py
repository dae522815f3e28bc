"""The request id (docs/api.md, "Request ids"): one per request, in the response and every log
line."""

import logging
import re
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
_CALLER_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

current_request_id: ContextVar[str] = ContextVar("current_request_id", default="-")


def request_id_from(header_value: str | None) -> str:
    """The caller's id when it is sane, else a new random one."""
    if header_value is not None and _CALLER_REQUEST_ID.fullmatch(header_value):
        return header_value
    return uuid.uuid4().hex


class RequestIDLogFilter(logging.Filter):
    """Puts the current request's id on every log record as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs 4xx/5xx responses (logger django.request) after the middleware has
        # returned, with the request attached to the record.
        request = getattr(record, "request", None)
        record.request_id = getattr(request, "request_id", None) or current_request_id.get()
        return True
