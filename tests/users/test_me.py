"""GET /api/v1/users/me, the key's own user (docs/api.md, "Users")."""

from http import HTTPStatus

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

ME_URL = reverse("user-me")


def test_me_is_the_keys_user_in_the_shape_of_get_user(user, user_client):
    response = user_client.get(ME_URL)

    assert response.status_code == HTTPStatus.OK
    assert response.json() == user_client.get(reverse("user-detail", args=[user.pk])).json()
    assert response.json()["id"] == str(user.pk)


def test_me_is_never_taken_for_an_id_not_even_by_staff(staff_user, staff_client):
    # Staff may read any id, and an id that names no user is their 404: `me` is neither.
    response = staff_client.get(ME_URL)

    assert response.status_code == HTTPStatus.OK
    assert response.json()["username"] == staff_user.username


def test_me_needs_no_query_beyond_the_keys_own(user_client):
    user_client.get(ME_URL)  # last_used_at is written once a minute: not in what is counted

    with CaptureQueriesContext(connection) as queries:
        user_client.get(ME_URL)

    # The key joined to its user, or nothing once the key's record is cached (with Redis).
    assert len(queries) <= 1


def test_me_without_a_key_is_401(anonymous_client):
    response = anonymous_client.get(ME_URL)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"]["code"] == "authentication_required"


def test_me_answers_get_only(user_client):
    response = user_client.post(ME_URL, {}, format="json")

    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert {method.strip() for method in response["Allow"].split(",")} == {"GET", "HEAD"}


def test_me_carries_the_rate_limit_headers(user_client):
    assert "X-RateLimit-Remaining" in user_client.get(ME_URL)
