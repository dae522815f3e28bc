"""Logging filters named in settings.LOGGING."""

import logging
from http import HTTPStatus


class ServerErrorsOnly(logging.Filter):
    """Lets through records about 5xx answers (and records about no answer at all), drops
    those about 4xx. The development server logs every request itself (`django.server`), so
    Django's own "Not Found: /path" line for a 4xx would be a second line about it."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        return status is None or status >= HTTPStatus.INTERNAL_SERVER_ERROR
