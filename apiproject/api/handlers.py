"""The WSGI handler: Django's, building requests that a bad Content-Type cannot break."""

from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.utils.http import parse_header_parameters


class UTF8WSGIRequest(WSGIRequest):
    """Bodies and query strings are UTF-8 (docs/api.md, "Transport"), whatever `charset` says.

    Django builds the request before any middleware runs, so a Content-Type it cannot parse
    (`charset*=bogus''x`) or a charset that is not text (`rot13`) would end in a bare HTML
    500; and a charset such as utf-16 would decode the query string with it.
    """

    def _set_content_type_params(self, meta: dict) -> None:
        # Django's version also sets `encoding` from the charset, which decodes the query.
        header = meta.get("CONTENT_TYPE", "")
        try:
            self.content_type, self.content_params = parse_header_parameters(header)
        except ValueError:
            self.content_type, self.content_params = header.split(";", 1)[0].strip().lower(), {}


class APIWSGIHandler(WSGIHandler):
    request_class = UTF8WSGIRequest
