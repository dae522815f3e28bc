"""gunicorn's gthread worker, answering what gunicorn refuses itself with the error body.

gunicorn parses each request before the application sees it; a request it cannot parse (a
control byte in a header value, a raw non-ASCII byte in the request line, ...) would get
gunicorn's own HTML page. This worker answers it with the API's error body instead
(`{"error": {"code", "message", "details"}}`, docs/api.md, "Errors"), with `X-Request-ID` (a fresh
one: the request's own was not read) and nosniff, like every other answer. Behind nginx,
nginx replaces that id with the one it passed on (the caller's, when sane).

Configuration layer, loaded by gunicorn's arbiter (`worker_class` in gunicorn.conf.py): it
imports gunicorn and the standard library only, never Django.
"""

import json
import ssl
import uuid
from http import HTTPStatus
from typing import Any

from gunicorn import util
from gunicorn.http import errors
from gunicorn.workers.gthread import ThreadWorker

# The API's code and message for each status this worker answers (nginx's own pages, in
# deploy/nginx.conf.template, say the same).
ERROR_CODES = {
    HTTPStatus.BAD_REQUEST: ("invalid_request", "The request was invalid"),
    HTTPStatus.REQUEST_URI_TOO_LONG: ("request_uri_too_long", "Request-URI Too Long"),
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: (
        "request_header_fields_too_large",
        "Request Header Fields Too Large",
    ),
    HTTPStatus.INTERNAL_SERVER_ERROR: ("internal_error", "Something went wrong on the server"),
    HTTPStatus.NOT_IMPLEMENTED: ("not_implemented", "Not Implemented"),
    HTTPStatus.HTTP_VERSION_NOT_SUPPORTED: (
        "http_version_not_supported",
        "HTTP Version Not Supported",
    ),
}

# gunicorn's parse errors that are the server's fault, not the client's: a header the
# application tried to send, a setting that does not fit the request.
SERVER_FAULTS = (
    errors.InvalidResponseHeader,
    errors.InvalidResponseHeaderName,
    errors.ConfigurationProblem,
)

# The client's faults with a status of their own, and what `details` says; any other parse
# error is a 400.
CLIENT_FAULTS: list[tuple[tuple[type[Exception], ...], HTTPStatus, str]] = [
    ((errors.LimitRequestLine,), HTTPStatus.REQUEST_URI_TOO_LONG, "The request line is too long"),
    (
        (errors.LimitRequestHeaders,),
        HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
        "The request headers are too large",
    ),
    (
        (errors.UnsupportedTransferCoding,),
        HTTPStatus.NOT_IMPLEMENTED,
        "The request uses a transfer coding the server does not implement",
    ),
    (
        (errors.InvalidHTTPVersion,),
        HTTPStatus.HTTP_VERSION_NOT_SUPPORTED,
        "The HTTP version of the request is not supported",
    ),
    (
        (errors.InvalidRequestLine, errors.InvalidRequestMethod),
        HTTPStatus.BAD_REQUEST,
        "The request line is malformed",
    ),
    (
        (errors.InvalidHeader, errors.InvalidHeaderName, errors.ObsoleteFolding),
        HTTPStatus.BAD_REQUEST,
        "A request header is malformed",
    ),
]


def printable(text: str) -> str:
    """`text` on one line of ASCII: what a refused request carries is not fit to log as is."""
    return text.encode("unicode_escape").decode("ascii")


def classify(exc: BaseException) -> tuple[HTTPStatus, str | None]:
    """The status and `details` of the answer to a request that failed with `exc`."""
    if isinstance(exc, SERVER_FAULTS):
        return HTTPStatus.INTERNAL_SERVER_ERROR, None
    for kinds, status, details in CLIENT_FAULTS:
        if isinstance(exc, kinds):
            return status, details
    if isinstance(exc, (errors.ParseException, ssl.SSLError)):
        return HTTPStatus.BAD_REQUEST, "The request is malformed"
    return HTTPStatus.INTERNAL_SERVER_ERROR, None


def error_answer(status: HTTPStatus, details: str | None, request_id: str) -> bytes:
    """The whole HTTP/1.1 answer: the error body, then the connection is closed."""
    code, message = ERROR_CODES[status]
    error = {"code": code, "message": message, "details": details}
    body = json.dumps({"error": error}, separators=(",", ":"))  # compact, as the API's
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Cache-Control: no-store\r\n"
        "\r\n"
    )
    return (head + body).encode("ascii")


class JSONErrorThreadWorker(ThreadWorker):
    """gthread, with the error body (and one log line) for what gunicorn itself refuses."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        request_id = uuid.uuid4().hex
        status, details = classify(exc)
        if status == HTTPStatus.INTERNAL_SERVER_ERROR:
            details = f"Quote request id {request_id} when reporting this"
        # A header refused after the request line was read carries the request, for the log.
        req = req or getattr(exc, "req", None)
        method = printable(getattr(req, "method", None) or "-")
        path = printable(getattr(req, "path", None) or "-")
        try:
            util.write_nonblock(client, error_answer(status, details, request_id))
        except Exception:
            self.log.debug("Failed to send the error answer.")
        # Like the application's access line: one line, a 4xx at INFO without a traceback.
        line = "%s %s %s key=- request_id=%s refused by gunicorn: %s"
        arguments = (method, path, status.value, request_id, printable(str(exc)))
        if status == HTTPStatus.INTERNAL_SERVER_ERROR:
            self.log.error(line, *arguments, exc_info=exc)
        else:
            self.log.info(line, *arguments)
