"""Contract section 5: with several faults, the first of these decides:
unknown path 404, 406, 401, (the key's 429: not built yet), 405, 403, then 413/415/400."""

import json
from http import HTTPStatus

import pytest
from django.urls import reverse

from tests.factories import UserFactory
from users.models import User

pytestmark = pytest.mark.django_db

PROJECTS_URL = reverse("project-list")
USERS_URL = reverse("user-list")
UNKNOWN_PATH = "/api/v1/nope"
BAD_KEY = "Bearer ak_AAAAAAAA_" + "A" * 49


def new_user_json(size=None):
    text = json.dumps(
        {"username": "newuser", "email": "newuser@example.com", "password": "a-Long-new-passw0rd"}
    )
    if size is not None:
        text += " " * (size - len(text))
    return text.encode()


def assert_error(response, status, code):
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


# --- unknown path 404 before 406 and 401 ----------------------------------------------------------


def test_unknown_path_without_a_key_is_404_not_401(anonymous_client):
    response = anonymous_client.get(UNKNOWN_PATH)

    assert_error(response, HTTPStatus.NOT_FOUND, "not_found")
    assert "WWW-Authenticate" not in response


def test_unknown_path_with_a_bad_key_is_404_not_401(anonymous_client):
    response = anonymous_client.get(UNKNOWN_PATH, HTTP_AUTHORIZATION=BAD_KEY)

    assert_error(response, HTTPStatus.NOT_FOUND, "not_found")
    assert "WWW-Authenticate" not in response


def test_unknown_path_with_accept_html_is_404_not_406(anonymous_client):
    response = anonymous_client.get(UNKNOWN_PATH, HTTP_ACCEPT="text/html")

    assert_error(response, HTTPStatus.NOT_FOUND, "not_found")


def test_unknown_path_with_a_wrong_method_is_404_not_405(user_client):
    response = user_client.put(UNKNOWN_PATH)

    assert_error(response, HTTPStatus.NOT_FOUND, "not_found")


# --- 406 before 401 -------------------------------------------------------------------------------


def test_accept_html_without_a_key_is_406_not_401(anonymous_client):
    response = anonymous_client.get(PROJECTS_URL, HTTP_ACCEPT="text/html")

    assert_error(response, HTTPStatus.NOT_ACCEPTABLE, "not_acceptable")
    assert "WWW-Authenticate" not in response


def test_accept_html_with_a_bad_key_is_406_not_401(anonymous_client):
    response = anonymous_client.get(
        PROJECTS_URL, HTTP_ACCEPT="text/html", HTTP_AUTHORIZATION=BAD_KEY
    )

    assert_error(response, HTTPStatus.NOT_ACCEPTABLE, "not_acceptable")


def test_accept_html_with_a_wrong_method_is_406_not_405(user_client):
    response = user_client.delete(PROJECTS_URL, HTTP_ACCEPT="text/html")

    assert_error(response, HTTPStatus.NOT_ACCEPTABLE, "not_acceptable")


# --- 401 before 405 -------------------------------------------------------------------------------


def test_no_key_with_a_wrong_method_is_401_not_405(anonymous_client):
    response = anonymous_client.put(PROJECTS_URL)

    assert_error(response, HTTPStatus.UNAUTHORIZED, "authentication_required")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_bad_key_with_a_wrong_method_is_401_not_405(anonymous_client):
    response = anonymous_client.put(PROJECTS_URL, HTTP_AUTHORIZATION=BAD_KEY)

    assert_error(response, HTTPStatus.UNAUTHORIZED, "invalid_api_key")
    assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'


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


def test_non_staff_create_with_invalid_json_is_403_not_400(user_client):
    response = user_client.post(USERS_URL, b"{not json", content_type="application/json")

    assert_error(response, HTTPStatus.FORBIDDEN, "forbidden")


def test_non_staff_create_with_invalid_fields_is_403_not_400(user_client):
    response = user_client.post(USERS_URL, {"username": ""}, format="json")

    assert_error(response, HTTPStatus.FORBIDDEN, "forbidden")


def test_non_staff_create_with_text_plain_is_403_not_415(user_client):
    response = user_client.post(USERS_URL, b"hello", content_type="text/plain")

    assert_error(response, HTTPStatus.FORBIDDEN, "forbidden")


def test_non_staff_create_with_an_oversized_body_is_403_not_413(user_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = user_client.post(USERS_URL, new_user_json(2000), content_type="application/json")

    assert_error(response, HTTPStatus.FORBIDDEN, "forbidden")
    assert not User.objects.filter(username="newuser").exists()


# --- 413/415/400 for staff ------------------------------------------------------------------------


def test_staff_create_with_an_oversized_json_body_is_413(staff_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = staff_client.post(USERS_URL, new_user_json(2000), content_type="application/json")

    assert_error(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large")


def test_staff_create_with_an_oversized_invalid_json_body_is_413(staff_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = staff_client.post(USERS_URL, b"{" * 2000, content_type="application/json")

    assert_error(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large")


def test_staff_create_with_a_small_text_plain_body_is_415(staff_client):
    response = staff_client.post(USERS_URL, b"hello", content_type="text/plain")

    assert_error(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")


def test_staff_create_with_invalid_json_is_400(staff_client):
    response = staff_client.post(USERS_URL, b"{not json", content_type="application/json")

    assert_error(response, HTTPStatus.BAD_REQUEST, "invalid_request")
