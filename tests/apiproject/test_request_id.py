"""X-Request-ID (docs/api.md, "Request ids"): on every response, the caller's when sane, in the
logs."""

import io
import logging
import re
from http import HTTPStatus

import pytest
from django.urls import reverse

from apiproject.api.request_id import RequestIDLogFilter

pytestmark = pytest.mark.django_db

PROJECTS_URL = reverse("project-list")
SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@pytest.fixture
def console_output():
    """What the console handler of settings.LOGGING writes, for the duration of a test."""
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RequestIDLogFilter) for f in handler.filters)
    ]
    assert handlers, "no root handler carries RequestIDLogFilter"
    buffer = io.StringIO()
    previous = [handler.setStream(buffer) for handler in handlers]
    yield buffer
    for handler, stream in zip(handlers, previous, strict=True):
        handler.setStream(stream)


# --- Every response -------------------------------------------------------------------------------


def unhandled_exception(request):
    request.getfixturevalue("failing_project_list")
    return request.getfixturevalue("user_client").get(PROJECTS_URL)


def disallowed_host(request):
    request.getfixturevalue("settings").ALLOWED_HOSTS = ["api.example.com"]
    return request.getfixturevalue("anonymous_client").get(PROJECTS_URL, HTTP_HOST="evil.example")


def with_key(method: str, path: str, **headers: str):
    return lambda request: getattr(request.getfixturevalue("user_client"), method)(path, **headers)


def without_key(path: str):
    return lambda request: request.getfixturevalue("anonymous_client").get(path)


# Every kind of answer: (how it is asked for, from the test's `request`; its status).
ANSWERS = {
    "200": (with_key("get", PROJECTS_URL), HTTPStatus.OK),
    "401": (without_key(PROJECTS_URL), HTTPStatus.UNAUTHORIZED),
    "router 404": (without_key("/api/v1/nope"), HTTPStatus.NOT_FOUND),
    "405": (with_key("delete", PROJECTS_URL), HTTPStatus.METHOD_NOT_ALLOWED),
    "406": (with_key("get", PROJECTS_URL, HTTP_ACCEPT="text/html"), HTTPStatus.NOT_ACCEPTABLE),
    "500": (unhandled_exception, HTTPStatus.INTERNAL_SERVER_ERROR),
    "disallowed host 400": (disallowed_host, HTTPStatus.BAD_REQUEST),
    "/healthz": (without_key("/healthz"), HTTPStatus.OK),
    "/readyz": (without_key("/readyz"), HTTPStatus.OK),
    "admin login page": (without_key("/admin/login/"), HTTPStatus.OK),
}


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_every_response_carries_a_request_id(request, answer):
    ask, status = ANSWERS[answer]

    response = ask(request)

    assert response.status_code == status
    assert SANE_ID.fullmatch(response["X-Request-ID"])


# --- The caller's id ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_id",
    ["a", "Z" * 128, "req-2023.01.15_12:00:00", "0f8fad5b-d9cb-469f-a165-70867728950e"],
    ids=["1-char", "128-chars", "all-allowed-punctuation", "uuid"],
)
def test_sane_caller_id_is_echoed_exactly(user_client, request_id):
    response = user_client.get(PROJECTS_URL, HTTP_X_REQUEST_ID=request_id)

    assert response["X-Request-ID"] == request_id


def test_sane_caller_id_is_echoed_on_errors_too(anonymous_client):
    response = anonymous_client.get("/api/v1/nope", HTTP_X_REQUEST_ID="trace-404")

    assert response["X-Request-ID"] == "trace-404"


def test_sane_caller_id_is_echoed_by_probes(anonymous_client):
    response = anonymous_client.get("/healthz", HTTP_X_REQUEST_ID="probe-1")

    assert response["X-Request-ID"] == "probe-1"


@pytest.mark.parametrize(
    "request_id",
    ["a" * 129, "has space", "a/b", "caf\u00e9", "", "semi;colon", "new\tline"],
    ids=["129-chars", "space", "slash", "non-ascii", "empty", "semicolon", "tab"],
)
def test_insane_caller_id_is_replaced_by_a_new_random_one(user_client, request_id):
    response = user_client.get(PROJECTS_URL, HTTP_X_REQUEST_ID=request_id)

    assert response["X-Request-ID"] != request_id
    assert SANE_ID.fullmatch(response["X-Request-ID"])


def test_replacement_ids_differ_between_requests(user_client):
    first = user_client.get(PROJECTS_URL, HTTP_X_REQUEST_ID="a" * 129)
    second = user_client.get(PROJECTS_URL, HTTP_X_REQUEST_ID="a" * 129)

    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_two_requests_without_the_header_get_different_ids(user_client):
    first = user_client.get(PROJECTS_URL)
    second = user_client.get(PROJECTS_URL)

    assert first["X-Request-ID"] != second["X-Request-ID"]


# --- In the logs ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("failing_project_list")
def test_unhandled_exception_log_record_carries_the_request_id(user_client, caplog):
    caplog.handler.addFilter(RequestIDLogFilter())

    with caplog.at_level(logging.ERROR):
        response = user_client.get(PROJECTS_URL)

    records = [record for record in caplog.records if record.exc_info]
    assert records, "the unhandled exception was not logged with its traceback"
    assert {record.request_id for record in records} == {response["X-Request-ID"]}


@pytest.mark.usefixtures("failing_project_list")
def test_django_request_error_line_about_a_500_carries_the_request_id(user_client, caplog):
    caplog.handler.addFilter(RequestIDLogFilter())

    with caplog.at_level(logging.INFO, logger="django.request"):
        response = user_client.get(PROJECTS_URL, HTTP_X_REQUEST_ID="trace-500")

    records = [record for record in caplog.records if record.name == "django.request"]
    assert records, "Django logged no 'Internal Server Error' line"
    assert response["X-Request-ID"] == "trace-500"
    assert [record.request_id for record in records] == ["trace-500"] * len(records)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/v1/nope", HTTPStatus.NOT_FOUND), (PROJECTS_URL, HTTPStatus.UNAUTHORIZED)],
)
def test_django_request_warning_line_about_a_4xx_carries_the_request_id(
    anonymous_client, caplog, path, status
):
    caplog.handler.addFilter(RequestIDLogFilter())

    with caplog.at_level(logging.INFO, logger="django.request"):
        response = anonymous_client.get(path, HTTP_X_REQUEST_ID="trace-4xx")

    assert response.status_code == status
    records = [record for record in caplog.records if record.name == "django.request"]
    assert records, "Django logged no line about the 4xx"
    assert [record.request_id for record in records] == ["trace-4xx"] * len(records)


@pytest.mark.usefixtures("failing_project_list")
def test_console_log_line_has_the_generated_request_id(user_client, console_output):
    response = user_client.get(PROJECTS_URL)

    assert f"[{response['X-Request-ID']}] Unhandled exception" in console_output.getvalue()


@pytest.mark.usefixtures("failing_project_list")
def test_every_console_line_about_a_failed_request_carries_its_id(user_client, console_output):
    response = user_client.get(PROJECTS_URL, HTTP_X_REQUEST_ID="trace-console")

    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    # Formatted as "<asctime> <level> <logger> [<request id>] <message>"; tracebacks follow.
    lines = [line for line in console_output.getvalue().splitlines() if " ERROR " in line]
    assert len(lines) >= 2, "expected the middleware's line and Django's 'Internal Server Error'"
    assert [line for line in lines if "[trace-console]" not in line] == []
