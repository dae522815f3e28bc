"""The error envelope (docs/api.md, "Errors"): every status >= 400 under /api/, whatever raised
it."""

import json
import textwrap
from http import HTTPStatus

import pytest
from django.urls import reverse

from tests.factories import APIKeyFactory, ProjectFactory
from tests.kit import LEAK_REPORTS_URL, MESSAGES, assert_error, new_user_body, padded_json
from tests.processes import python_output
from users.models import User

pytestmark = pytest.mark.django_db

PROJECTS_URL = reverse("project-list")
USERS_URL = reverse("user-list")


def user_url(user: User) -> str:
    return reverse("user-detail", kwargs={"user_id": user.pk})


UNKNOWN_PATHS = ["/api/v1/nope", "/api/v1/users/1/extra", "/api/", "/api/v2/users"]


def assert_envelope(response, status, code, *, fields=False):
    """The envelope (tests.kit.assert_error), with `fields` exactly when asked for."""
    error = assert_error(response, status, code)
    assert ("fields" in error) is fields
    return error


@pytest.fixture
def failing_user_get(monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("boom: secret internals")

    monkeypatch.setattr("users.views.user_get", explode)
    monkeypatch.setattr("users.views.user_representation", explode)  # one's own needs no get


# --- Router 404 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", UNKNOWN_PATHS)
@pytest.mark.parametrize("method", ["get", "post", "delete"])
@pytest.mark.parametrize("client", ["anonymous_client", "user_client"], ids=["no key", "a key"])
def test_unknown_path_is_404_envelope(request, client, method, path):
    response = getattr(request.getfixturevalue(client), method)(path)

    assert_envelope(response, HTTPStatus.NOT_FOUND, "not_found")
    assert "WWW-Authenticate" not in response


def test_unknown_path_with_an_invalid_key_is_404_envelope(anonymous_client):
    response = anonymous_client.get("/api/v1/nope", HTTP_AUTHORIZATION="Bearer nope")

    assert_envelope(response, HTTPStatus.NOT_FOUND, "not_found")
    assert "WWW-Authenticate" not in response


def test_unknown_path_is_not_redirected_to_a_trailing_slash(user_client):
    response = user_client.get("/api/v1/nope")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "Location" not in response


# --- 405 ------------------------------------------------------------------------------------------


# Each resource of the API: (its path for the key's own user, the methods it serves).
RESOURCES = {
    "/projects": (lambda user: PROJECTS_URL, {"GET", "HEAD", "POST"}),
    "/projects/{id}": (
        lambda user: f"{PROJECTS_URL}/project-{ProjectFactory(owner=user).pk}",
        {"GET", "HEAD", "PATCH", "DELETE"},
    ),
    "/users": (lambda user: USERS_URL, {"POST"}),
    "/users/me": (lambda user: reverse("user-me"), {"GET", "HEAD"}),
    "/users/{id}": (user_url, {"GET", "HEAD"}),
    "/keys": (lambda user: "/api/v1/keys", {"GET", "HEAD", "POST"}),
    "/keys/{id}": (
        lambda user: f"/api/v1/keys/{APIKeyFactory(owner=user).prefix}",
        {"GET", "HEAD", "DELETE"},
    ),
    "/keys/{id}/roll": (
        lambda user: f"/api/v1/keys/{APIKeyFactory(owner=user).prefix}/roll",
        {"POST"},
    ),
    "/keys/{id}/usage": (
        lambda user: f"/api/v1/keys/{APIKeyFactory(owner=user).prefix}/usage",
        {"GET", "HEAD"},
    ),
    "/keys/{id}/events": (
        lambda user: f"/api/v1/keys/{APIKeyFactory(owner=user).prefix}/events",
        {"GET", "HEAD"},
    ),
    # Served with leak reports on (the test enables them): 405 before the signature is read.
    "/leaked-keys": (lambda user: LEAK_REPORTS_URL, {"POST"}),
}
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


@pytest.mark.parametrize(
    ("resource", "method"),
    [
        (resource, method)
        for resource, (_, served) in RESOURCES.items()
        for method in sorted(METHODS - served)
    ],
)
def test_method_a_resource_does_not_serve_is_405_envelope_with_allow(
    staff_user, staff_client, leak_reports, resource, method
):
    path, served = RESOURCES[resource]

    # With a body too: 405 comes before anything the body could be refused for.
    response = getattr(staff_client, method.lower())(path(staff_user), {})

    assert_envelope(response, HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed")
    assert {allowed.strip() for allowed in response["Allow"].split(",")} == served


# --- Request bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ['{"username": ', "{", '{"username": }', "{'username': 'x'}"])
def test_malformed_json_is_400_invalid_request(staff_client, text):
    response = staff_client.post(USERS_URL, text.encode(), content_type="application/json")

    assert_envelope(response, HTTPStatus.BAD_REQUEST, "invalid_request")
    assert User.objects.count() == 1  # staff_user alone


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_with_nan_is_refused_as_malformed(staff_client, constant):
    # Parsed, the constant would reach the serializer and come back as a field error
    # (with "fields"); refused by the parser, the body is malformed JSON like any other.
    body = json.dumps(new_user_body())[:-1] + f', "score": {constant}}}'

    response = staff_client.post(USERS_URL, body.encode(), content_type="application/json")

    assert_envelope(response, HTTPStatus.BAD_REQUEST, "invalid_request")
    assert not User.objects.filter(username="newuser").exists()


def test_body_that_is_not_utf8_is_400(staff_client):
    response = staff_client.post(USERS_URL, b"\xff\xfe", content_type="application/json")

    assert_envelope(response, HTTPStatus.BAD_REQUEST, "invalid_request")


@pytest.mark.parametrize(
    "body",
    [
        {"data": b"username=newuser", "content_type": "text/plain"},
        {
            "data": b"username=newuser&email=newuser%40example.com&password=a-Long-new-passw0rd",
            "content_type": "application/x-www-form-urlencoded",
        },
        {"data": new_user_body(), "format": "multipart"},
    ],
    ids=["text", "form-urlencoded", "multipart"],
)
def test_body_that_is_not_json_is_415(staff_client, body):
    response = staff_client.post(USERS_URL, **body)

    assert_envelope(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    assert not User.objects.filter(username="newuser").exists()


def test_body_over_the_maximum_is_413(staff_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = staff_client.post(USERS_URL, padded_json(2000), content_type="application/json")

    assert_envelope(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large")
    assert not User.objects.filter(username="newuser").exists()


def test_body_just_under_the_maximum_is_a_normal_request(staff_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = staff_client.post(USERS_URL, padded_json(999), content_type="application/json")

    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["username"] == "newuser"


def test_body_of_exactly_the_maximum_is_a_normal_request(staff_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = staff_client.post(USERS_URL, padded_json(1000), content_type="application/json")

    assert response.status_code == HTTPStatus.CREATED


# --- 406 ------------------------------------------------------------------------------------------


def test_accept_html_on_a_real_operation_is_406(user_client):
    response = user_client.get(PROJECTS_URL, HTTP_ACCEPT="text/html")

    assert_envelope(response, HTTPStatus.NOT_ACCEPTABLE, "not_acceptable")


# --- 500 ------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("failing_project_list")
def test_unhandled_exception_is_500_envelope_with_the_request_id(user_client):
    response = user_client.get(PROJECTS_URL)

    error = assert_envelope(response, HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error")
    assert response["X-Request-ID"] in error["details"]


@pytest.mark.usefixtures("failing_user_get")
def test_unhandled_exception_in_user_get_is_500_envelope(user, user_client):
    response = user_client.get(reverse("user-detail", kwargs={"user_id": user.pk}))

    error = assert_envelope(response, HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error")
    assert response["X-Request-ID"] in error["details"]


@pytest.mark.usefixtures("failing_project_list")
def test_unhandled_exception_quotes_the_callers_request_id(user_client):
    response = user_client.get(PROJECTS_URL, HTTP_X_REQUEST_ID="caller-id-42")

    error = assert_envelope(response, HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error")
    assert response["X-Request-ID"] == "caller-id-42"
    assert "caller-id-42" in error["details"]


@pytest.mark.usefixtures("failing_project_list")
def test_unhandled_exception_with_debug_is_still_the_envelope(user_client, settings):
    settings.DEBUG = True

    response = user_client.get(PROJECTS_URL)

    error = assert_envelope(response, HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error")
    assert response["X-Request-ID"] in error["details"]
    assert b"Traceback" not in response.content
    assert b"secret internals" not in response.content
    assert b"<html" not in response.content.lower()


@pytest.mark.usefixtures("failing_user_get")
def test_unhandled_exception_in_user_get_with_debug_is_still_the_envelope(
    user, user_client, settings
):
    settings.DEBUG = True

    response = user_client.get(reverse("user-detail", kwargs={"user_id": user.pk}))

    assert_envelope(response, HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error")
    assert b"Traceback" not in response.content
    assert b"RuntimeError" not in response.content


@pytest.mark.usefixtures("failing_project_list")
def test_unhandled_exception_body_has_no_traceback(user_client):
    response = user_client.get(PROJECTS_URL)

    assert b"Traceback" not in response.content
    assert b"RuntimeError" not in response.content
    assert b"secret internals" not in response.content


# --- Host -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [PROJECTS_URL, "/api/v1/nope"])
def test_disallowed_host_under_api_is_400_envelope(user_client, settings, path):
    settings.ALLOWED_HOSTS = ["api.example.com"]

    response = user_client.get(path, HTTP_HOST="evil.example")

    assert_envelope(response, HTTPStatus.BAD_REQUEST, "invalid_request")


def test_disallowed_host_with_debug_is_400_envelope(user_client, settings):
    settings.ALLOWED_HOSTS = ["api.example.com"]
    settings.DEBUG = True

    response = user_client.get(PROJECTS_URL, HTTP_HOST="evil.example")

    assert_envelope(response, HTTPStatus.BAD_REQUEST, "invalid_request")


def test_allowed_host_is_served(user_client, settings):
    settings.ALLOWED_HOSTS = ["api.example.com"]

    response = user_client.get(PROJECTS_URL, HTTP_HOST="api.example.com")

    assert response.status_code == HTTPStatus.OK


# --- The shape of every error ---------------------------------------------------------------------


def test_403_is_the_envelope(user_client):
    response = user_client.post(USERS_URL, new_user_body(), format="json")

    assert_envelope(response, HTTPStatus.FORBIDDEN, "forbidden")


def test_404_from_an_operation_is_the_envelope(staff_client):
    response = staff_client.get(reverse("user-detail", kwargs={"user_id": 999999999}))

    assert_envelope(response, HTTPStatus.NOT_FOUND, "not_found")


def test_validation_error_is_the_envelope_with_fields(staff_client):
    response = staff_client.post(USERS_URL, {"email": "newuser@example.com"}, format="json")

    error = assert_envelope(response, HTTPStatus.BAD_REQUEST, "invalid_request", fields=True)
    assert error["details"] == "The 'username' field is required"
    assert set(error["fields"]) == {"username", "password"}


def test_query_parameter_error_is_the_envelope_with_fields(user_client):
    response = user_client.get(PROJECTS_URL, {"page": "0"})

    error = assert_envelope(response, HTTPStatus.BAD_REQUEST, "invalid_request", fields=True)
    assert set(error["fields"]) == {"page"}


# --- DEBUG on -------------------------------------------------------------------------------------


@pytest.fixture
def debug(settings):
    settings.DEBUG = True


@pytest.mark.usefixtures("debug")
@pytest.mark.parametrize("path", UNKNOWN_PATHS)
def test_with_debug_unknown_path_is_still_the_envelope(user_client, path):
    response = user_client.get(path)

    assert_envelope(response, HTTPStatus.NOT_FOUND, "not_found")


@pytest.mark.usefixtures("debug")
def test_with_debug_404_from_an_operation_is_still_the_envelope(staff_client):
    response = staff_client.get(reverse("user-detail", kwargs={"user_id": 999999999}))

    assert_envelope(response, HTTPStatus.NOT_FOUND, "not_found")


@pytest.mark.usefixtures("debug")
def test_with_debug_405_is_still_the_envelope(user_client):
    response = user_client.delete(PROJECTS_URL)

    assert_envelope(response, HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed")


@pytest.mark.usefixtures("debug")
def test_with_debug_malformed_json_is_still_the_envelope(staff_client):
    response = staff_client.post(USERS_URL, b"{not json", content_type="application/json")

    assert_envelope(response, HTTPStatus.BAD_REQUEST, "invalid_request")


@pytest.mark.usefixtures("debug")
def test_with_debug_validation_error_is_still_the_envelope(staff_client):
    response = staff_client.post(USERS_URL, {}, format="json")

    assert_envelope(response, HTTPStatus.BAD_REQUEST, "invalid_request", fields=True)


@pytest.mark.usefixtures("debug")
def test_with_debug_415_is_still_the_envelope(staff_client):
    response = staff_client.post(USERS_URL, b"hello", content_type="text/plain")

    assert_envelope(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")


@pytest.mark.usefixtures("debug")
def test_with_debug_413_is_still_the_envelope(staff_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = staff_client.post(USERS_URL, padded_json(2000), content_type="application/json")

    assert_envelope(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large")


# --- An unreachable database ----------------------------------------------------------------------

UNREACHABLE_DATABASE_SCRIPT = textwrap.dedent(
    """
    import json

    import django

    django.setup()

    from django.test import Client

    from apikeys import keys

    key = keys.generate(keys.generate_prefix())
    assert keys.checked_prefix(key) is not None
    response = Client().get(PATH, HTTP_AUTHORIZATION=f"Bearer {key}")
    print(json.dumps({
        "status": response.status_code,
        "content_type": response.get("Content-Type"),
        "request_id": response.get("X-Request-ID"),
        "body": response.content.decode(),
    }))
    """
)


def run_against_unreachable_database(path):
    printed = python_output(
        f"PATH = {path!r}\n{UNREACHABLE_DATABASE_SCRIPT}",
        # Nothing listens on port 1: the connection is refused at once, no network needed.
        DATABASE_URL="postgres://postgres@127.0.0.1:1/nodb",
        DJANGO_SECRET_KEY="x",
        DJANGO_ALLOWED_HOSTS="testserver",
    )
    return json.loads(printed[-1])


def assert_unavailable(result):
    assert result["status"] == HTTPStatus.SERVICE_UNAVAILABLE
    assert result["content_type"].startswith("application/json")
    assert result["request_id"]
    body = json.loads(result["body"])
    assert list(body) == ["error"]
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "service_unavailable"
    assert body["error"]["message"] == MESSAGES["service_unavailable"]
    assert "Traceback" not in result["body"]


def test_unreachable_database_is_503_envelope():
    assert_unavailable(run_against_unreachable_database("/api/v1/projects"))


def test_unreachable_database_makes_readyz_503_envelope():
    assert_unavailable(run_against_unreachable_database("/readyz"))
