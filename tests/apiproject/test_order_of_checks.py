"""With several faults, the first of these decides (docs/api.md, "Order of checks"): unknown path
404, 406, 401, (the key's 429: test_throttling.py), 405, 403, then 413/415/400 (each of those alone:
test_errors.py)."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from tests.factories import UserFactory
from tests.kit import BAD_CHECKSUM_KEY, assert_error, padded_json
from users.models import User

pytestmark = pytest.mark.django_db

PROJECTS_URL = reverse("project-list")
USERS_URL = reverse("user-list")
UNKNOWN_PATH = "/api/v1/nope"
BAD_KEY = f"Bearer {BAD_CHECKSUM_KEY}"


# --- unknown path 404 before 406, 401 and 405 -----------------------------------------------------


@pytest.mark.parametrize(
    ("client", "method", "headers"),
    [
        ("anonymous_client", "get", {}),
        ("anonymous_client", "get", {"HTTP_AUTHORIZATION": BAD_KEY}),
        ("anonymous_client", "get", {"HTTP_ACCEPT": "text/html"}),
        ("user_client", "put", {}),
    ],
    ids=["no key: not 401", "a bad key: not 401", "accept html: not 406", "wrong method: not 405"],
)
def test_unknown_path_is_404_first(request, client, method, headers):
    response = getattr(request.getfixturevalue(client), method)(UNKNOWN_PATH, **headers)

    assert_error(response, HTTPStatus.NOT_FOUND, "not_found")
    assert "WWW-Authenticate" not in response


# --- 406 before 401 and 405 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "method", "headers"),
    [
        ("anonymous_client", "get", {}),
        ("anonymous_client", "get", {"HTTP_AUTHORIZATION": BAD_KEY}),
        ("user_client", "delete", {}),
    ],
    ids=["no key: not 401", "a bad key: not 401", "wrong method: not 405"],
)
def test_accept_html_is_406_before_401_and_405(request, client, method, headers):
    client = request.getfixturevalue(client)

    response = getattr(client, method)(PROJECTS_URL, HTTP_ACCEPT="text/html", **headers)

    assert_error(response, HTTPStatus.NOT_ACCEPTABLE, "not_acceptable")
    assert "WWW-Authenticate" not in response


# --- 401 before 405 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "code", "challenge"),
    [
        ({}, "authentication_required", 'Bearer realm="api"'),
        (
            {"HTTP_AUTHORIZATION": BAD_KEY},
            "invalid_api_key",
            'Bearer realm="api", error="invalid_token"',
        ),
    ],
    ids=["no key", "a bad key"],
)
def test_key_problem_with_a_wrong_method_is_401_not_405(anonymous_client, headers, code, challenge):
    response = anonymous_client.put(PROJECTS_URL, **headers)

    assert_error(response, HTTPStatus.UNAUTHORIZED, code)
    assert response["WWW-Authenticate"] == challenge


def test_no_key_with_a_wrong_method_on_a_user_is_401_not_405(anonymous_client, user):
    response = anonymous_client.delete(reverse("user-detail", kwargs={"user_id": user.pk}))

    assert_error(response, HTTPStatus.UNAUTHORIZED, "authentication_required")


# --- 401 before 403 and 400 -----------------------------------------------------------------------


def test_no_key_on_create_user_with_a_bad_body_is_401(anonymous_client):
    response = anonymous_client.post(USERS_URL, b"{not json", content_type="application/json")

    assert_error(response, HTTPStatus.UNAUTHORIZED, "authentication_required")


# --- 405 before 403 -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_non_staff_wrong_method_on_another_user_is_405_not_403(user_client, method):
    other = UserFactory()

    response = getattr(user_client, method)(reverse("user-detail", kwargs={"user_id": other.pk}))

    assert_error(response, HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed")


def test_non_staff_get_on_create_only_users_is_405_not_403(user_client):
    response = user_client.get(USERS_URL)

    assert_error(response, HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed")


# --- 403 before 413/415/400 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"data": b"{not json", "content_type": "application/json"},
        {"data": {"username": ""}, "format": "json"},
        {"data": {"typo": 1}, "format": "json"},
        {"data": b"hello", "content_type": "text/plain"},
        {"data": padded_json(2000), "content_type": "application/json"},
    ],
    ids=[
        "malformed JSON: not 400",
        "an invalid field: not 400",
        "an unknown field: not 400",
        "text: not 415",
        "over the maximum: not 413",
    ],
)
def test_non_staff_create_is_403_whatever_is_wrong_with_the_body(user_client, settings, body):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = user_client.post(USERS_URL, **body)

    assert_error(response, HTTPStatus.FORBIDDEN, "forbidden")
    assert not User.objects.filter(username="newuser").exists()


# --- 413 before 400 -------------------------------------------------------------------------------


def test_staff_create_with_an_oversized_invalid_json_body_is_413(staff_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = staff_client.post(USERS_URL, b"{" * 2000, content_type="application/json")

    assert_error(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large")
