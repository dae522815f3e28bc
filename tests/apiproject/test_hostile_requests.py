"""Requests found by fuzzing the running service that once answered 500 or HTML: each must now get
the error envelope (docs/api.md, "Errors"), or be served as the API's rules say (docs/api.md)."""

import io
import json
from http import HTTPStatus
from wsgiref.util import setup_testing_defaults

import pytest
from django.core import signals
from django.db import close_old_connections
from django.urls import reverse

from apiproject.wsgi import application
from tests.factories import APIKeyFactory, ProjectFactory
from users.models import User

pytestmark = pytest.mark.django_db

PROJECTS_URL = reverse("project-list")
USERS_URL = reverse("user-list")


def call_wsgi(path: str, query: str = "", **headers: str) -> tuple[int, dict[str, str], bytes]:
    """A request through the production WSGI application itself, as gunicorn sends it (the
    test client builds its requests with Django's own request class)."""
    environ = {"PATH_INFO": path, "QUERY_STRING": query, "wsgi.input": io.BytesIO(b"")}
    environ.update(headers)
    setup_testing_defaults(environ)
    environ["HTTP_HOST"] = "testserver"
    started: dict[str, object] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        started["status"] = int(status.split()[0])
        started["headers"] = dict(response_headers)

    # As Django's test client does: the test's own database connection (and transaction)
    # must survive the request's start and end.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        body = b"".join(application(environ, start_response))
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return started["status"], started["headers"], body


@pytest.fixture
def bearer(user) -> str:
    return f"Bearer {APIKeyFactory(owner=user).plaintext}"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset*=bogus''%41",
        "text/plain; charset=rot13",
        "application/json; charset=zlib",
    ],
)
def test_unparsable_content_type_is_not_a_500(bearer, content_type):
    status, headers, body = call_wsgi(
        PROJECTS_URL, "page=%31", CONTENT_TYPE=content_type, HTTP_AUTHORIZATION=bearer
    )

    assert status == HTTPStatus.OK
    assert headers["Content-Type"] == "application/json"
    assert "X-Request-ID" in headers
    assert json.loads(body)["page"] == 1


def test_charset_of_a_get_does_not_change_how_the_query_is_read(user, bearer):
    ProjectFactory.create_batch(3, owner=user)

    _, _, body = call_wsgi(
        PROJECTS_URL,
        "page=2&limit=1",
        CONTENT_TYPE="text/plain; charset=utf-16",
        HTTP_AUTHORIZATION=bearer,
    )

    assert (json.loads(body)["page"], json.loads(body)["limit"]) == (2, 1)


def test_deeply_nested_json_is_a_400(staff_client):
    depth = 5000
    body = '{"username": ' + "[" * depth + "]" * depth + "}"

    response = staff_client.post(USERS_URL, body, content_type="application/json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == "invalid_request"


def test_unknown_field_named_with_a_lone_surrogate_is_a_400(staff_client):
    body = (
        '{"username": "sam", "email": "sam@example.com", "password": "x-Long-passw0rd", '
        '"\\ud800": 1}'
    )

    response = staff_client.post(USERS_URL, body, content_type="application/json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["fields"] == {"\\ud800": ["Unknown field."]}
    assert not User.objects.filter(username="sam").exists()


def test_email_that_lowercasing_makes_too_long_is_a_400(staff_client):
    # "İ" lowercases to two characters: 249 characters as sent, 489 as they would be stored.
    domain = ".".join(["İ" * 60] * 4) + ".com"
    email = f"u@{domain}"
    assert len(email) <= 254 < len(User.objects.normalize_email(email))

    response = staff_client.post(
        USERS_URL, {"username": "sam", "email": email, "password": "x-Long-passw0rd"}
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["details"].startswith("The 'email' field is invalid")
    assert not User.objects.filter(username="sam").exists()


def test_page_with_thousands_of_leading_zeros_is_page_one(user_client):
    response = user_client.get(PROJECTS_URL, {"page": "0" * 5000 + "1"})

    assert response.status_code == HTTPStatus.OK
    assert response.json()["page"] == 1


@pytest.mark.parametrize("debug", [False, True])
def test_too_many_query_fields_is_a_400(user_client, settings, debug):
    settings.DEBUG = debug
    query = "page=1&" + "&".join(["a=1"] * (settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))

    response = user_client.get(f"{PROJECTS_URL}?{query}")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == "invalid_request"


def test_schema_ignores_a_version_parameter(anonymous_client):
    response = anonymous_client.get("/api/schema", {"version": "a\nb"})

    assert response.status_code == HTTPStatus.OK


def test_chunked_body_without_length_is_411_not_an_empty_body(staff_client):
    response = staff_client.post(
        USERS_URL, content_type="application/json", HTTP_TRANSFER_ENCODING="chunked"
    )

    assert response.status_code == HTTPStatus.LENGTH_REQUIRED
    error = response.json()["error"]
    assert (error["code"], error["message"]) == (
        "length_required",
        "The request body needs a Content-Length",
    )


@pytest.mark.parametrize("separator", ["\t", "\u00a0"], ids=["tab", "no-break-space"])
def test_bearer_followed_by_other_whitespace_is_not_a_key(anonymous_client, user, separator):
    plaintext = APIKeyFactory(owner=user).plaintext

    response = anonymous_client.get(
        PROJECTS_URL, HTTP_AUTHORIZATION=f"Bearer{separator}{plaintext}"
    )

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"]["code"] == "invalid_api_key"
