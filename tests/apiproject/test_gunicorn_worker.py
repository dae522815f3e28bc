"""What gunicorn's parser refuses gets the error body from our worker, not gunicorn's HTML
(docs/operations.md, "nginx"). Through nginx, tests/serving covers the real requests; here every
kind of fault, including those nginx never lets reach gunicorn."""

import json
import logging
import socket
from http import HTTPStatus

import pytest
from gunicorn.http import errors

from apiproject import gunicorn_worker
from apiproject.api import errors as api_errors
from apiproject.gunicorn_worker import JSONErrorThreadWorker


def refuse(exc: BaseException, req: object = None) -> tuple[int, dict[str, str], dict]:
    """What the worker writes for a request that failed with `exc`."""
    worker = JSONErrorThreadWorker.__new__(JSONErrorThreadWorker)  # no arbiter, no sockets
    worker.log = logging.getLogger("gunicorn.error")
    ours, theirs = socket.socketpair()
    with ours, theirs:
        worker.handle_error(req, ours, ("127.0.0.1", 1234), exc)
        ours.close()
        raw = b""
        while chunk := theirs.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("ascii").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    assert int(headers["Content-Length"]) == len(body)
    return int(status_line.split()[1]), headers, json.loads(body)


@pytest.mark.parametrize(
    "exc, status, code",
    [
        (errors.InvalidHeader("USER-AGENT"), HTTPStatus.BAD_REQUEST, "invalid_request"),
        (
            errors.InvalidRequestLine("GET /\xff HTTP/1.1"),
            HTTPStatus.BAD_REQUEST,
            "invalid_request",
        ),
        (errors.InvalidHeaderName("A B"), HTTPStatus.BAD_REQUEST, "invalid_request"),
        (errors.InvalidChunkSize(b"zz"), HTTPStatus.BAD_REQUEST, "invalid_request"),
        (
            errors.LimitRequestLine(9000, 8190),
            HTTPStatus.REQUEST_URI_TOO_LONG,
            "request_uri_too_long",
        ),
        (
            errors.LimitRequestHeaders("limit request headers fields"),
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request_header_fields_too_large",
        ),
        (
            errors.UnsupportedTransferCoding("bogus"),
            HTTPStatus.NOT_IMPLEMENTED,
            "not_implemented",
        ),
        (
            errors.InvalidHTTPVersion((2, 0)),
            HTTPStatus.HTTP_VERSION_NOT_SUPPORTED,
            "http_version_not_supported",
        ),
    ],
)
def test_a_client_fault_gets_the_error_body_and_one_info_line(caplog, exc, status, code):
    caplog.set_level(logging.INFO)

    got_status, headers, body = refuse(exc)

    assert got_status == status
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Connection"] == "close"
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    [line] = caplog.records
    assert line.levelno == logging.INFO
    assert line.exc_info is None
    assert f" {status.value} " in line.getMessage()
    assert headers["X-Request-ID"] in line.getMessage()


@pytest.mark.parametrize(
    "exc", [RuntimeError("boom"), errors.InvalidResponseHeader("X-A")], ids=["bug", "app header"]
)
def test_a_server_fault_is_a_500_quoting_the_logged_request_id(caplog, exc):
    got_status, headers, body = refuse(exc)

    assert got_status == HTTPStatus.INTERNAL_SERVER_ERROR
    assert body["error"]["code"] == "internal_error"
    request_id = headers["X-Request-ID"]
    assert body["error"]["details"] == f"Quote request id {request_id} when reporting this"
    [line] = caplog.records
    assert line.levelno == logging.ERROR
    assert line.exc_info is not None
    assert request_id in line.getMessage()


def test_the_log_line_keeps_what_the_client_sent_on_one_line(caplog):
    caplog.set_level(logging.INFO)

    refuse(errors.InvalidRequestLine("GET /\r\nfake line\x1b[31m HTTP/1.1"))

    [line] = caplog.records
    assert "\n" not in line.getMessage()
    assert "\x1b" not in line.getMessage()


def test_the_worker_words_an_error_as_the_api_does():
    shared = set(gunicorn_worker.ERROR_CODES) & set(api_errors.ERROR_CODES)

    assert shared == {HTTPStatus.BAD_REQUEST, HTTPStatus.INTERNAL_SERVER_ERROR}
    for status in shared:
        assert gunicorn_worker.ERROR_CODES[status] == api_errors.ERROR_CODES[status]
