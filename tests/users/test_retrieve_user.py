"""GET /api/v1/users/{user_id} (contract sections 1, 2, 3 and 5)."""

import re
from datetime import UTC, datetime
from http import HTTPStatus

import pytest
from django.db.models import Max
from django.urls import reverse

from tests.factories import UserFactory
from users.models import User

FORBIDDEN = {
    "code": "forbidden",
    "message": "The authenticated user doesn't have permission",
}
NOT_FOUND = {
    "code": "not_found",
    "message": "The requested resource doesn't exist",
}
CREATED_AT_FORMAT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
CANONICAL_DECIMAL = re.compile(r"[1-9][0-9]*")


def user_url(user_id: object) -> str:
    return reverse("user-detail", kwargs={"user_id": user_id})


def assert_error(response, status: HTTPStatus, expected: dict[str, str]) -> None:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert {"code": error["code"], "message": error["message"]} == expected


@pytest.fixture
def other_user(db: None) -> User:
    return UserFactory()


@pytest.fixture
def unknown_id(user: User, other_user: User, staff_user: User) -> str:
    """An id in canonical decimal that names no user."""
    return str(User.objects.aggregate(highest=Max("pk"))["highest"] + 1000)


def resolve(template: str, *, own: User, other: User, unknown: str) -> str:
    return template.format(own=own.pk, other=other.pk, unknown=unknown)


# --- The body ------------------------------------------------------------------------------------


def test_own_user_gets_exactly_id_username_email_created_at(user, user_client):
    response = user_client.get(user_url(user.pk))

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "id": str(user.pk),
        "username": user.username,
        "email": user.email,
        "created_at": user.date_joined.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def test_id_is_a_string_in_canonical_decimal(user, user_client):
    body = user_client.get(user_url(user.pk)).json()

    assert isinstance(body["id"], str)
    assert CANONICAL_DECIMAL.fullmatch(body["id"])
    assert body["id"] == str(user.pk)


def test_created_at_is_utc_in_whole_seconds_with_z(db, time_machine, client_for):
    time_machine.move_to(datetime(2023, 1, 15, 12, 0, 0, 654321, tzinfo=UTC), tick=False)
    joined = UserFactory()

    response = client_for(joined).get(user_url(joined.pk))

    assert response.status_code == HTTPStatus.OK
    assert CREATED_AT_FORMAT.fullmatch(response.json()["created_at"])
    assert response.json()["created_at"] == "2023-01-15T12:00:00Z"


# --- Who may read whom ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_id",
    [
        "{other}",
        "{unknown}",
        "0{own}",
        "0123",
        "abc",
        "1.5",
        "-1",
        "0",
        "99999999999999999999999",
    ],
)
def test_non_staff_user_gets_403_for_any_id_but_its_own(
    user, other_user, unknown_id, user_client, user_id
):
    path = user_url(resolve(user_id, own=user, other=other_user, unknown=unknown_id))

    response = user_client.get(path)

    assert_error(response, HTTPStatus.FORBIDDEN, FORBIDDEN)


def test_403_does_not_tell_whether_the_user_exists(other_user, unknown_id, user_client):
    existing = user_client.get(user_url(other_user.pk))
    missing = user_client.get(user_url(unknown_id))
    malformed = user_client.get(user_url("abc"))

    assert existing.status_code == HTTPStatus.FORBIDDEN
    assert existing.content == missing.content == malformed.content


def test_staff_can_read_another_user(other_user, staff_client):
    response = staff_client.get(user_url(other_user.pk))

    assert response.status_code == HTTPStatus.OK
    assert response.json()["id"] == str(other_user.pk)
    assert response.json()["username"] == other_user.username


def test_is_staff_without_view_user_permission_gets_403(other_user, client_for):
    staff_without_permission = UserFactory(staff=True, permissions=["add_user"])

    response = client_for(staff_without_permission).get(user_url(other_user.pk))

    assert_error(response, HTTPStatus.FORBIDDEN, FORBIDDEN)


def test_view_user_permission_without_is_staff_gets_403(other_user, client_for):
    not_staff = UserFactory(permissions=["view_user"])

    response = client_for(not_staff).get(user_url(other_user.pk))

    assert_error(response, HTTPStatus.FORBIDDEN, FORBIDDEN)


def test_superuser_with_is_staff_can_read_another_user(other_user, client_for):
    superuser = UserFactory(is_staff=True, is_superuser=True)

    response = client_for(superuser).get(user_url(other_user.pk))

    assert response.status_code == HTTPStatus.OK
    assert response.json()["id"] == str(other_user.pk)


def test_staff_without_view_user_can_still_read_itself(client_for):
    staff_without_permission = UserFactory(staff=True)

    response = client_for(staff_without_permission).get(user_url(staff_without_permission.pk))

    assert response.status_code == HTTPStatus.OK
    assert response.json()["id"] == str(staff_without_permission.pk)


# --- Ids that name no user -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_id",
    [
        "{unknown}",
        "0",
        "0{other}",
        "0123",
        "abc",
        "1.5",
        "-1",
        "+{other}",
        "{other}.0",
        "١٢",  # non-ASCII digits
        "9223372036854775808",  # one past the largest 64-bit id
        "123456789012345678901234567890",
    ],
)
def test_staff_gets_404_for_an_id_that_names_no_user(
    user, other_user, unknown_id, staff_client, user_id
):
    path = user_url(resolve(user_id, own=user, other=other_user, unknown=unknown_id))

    response = staff_client.get(path)

    assert_error(response, HTTPStatus.NOT_FOUND, NOT_FOUND)


# --- Transport (section 1) -----------------------------------------------------------------------


def test_trailing_slash_is_served_identically_without_redirect(user, user_client):
    without_slash = user_client.get(user_url(user.pk))
    with_slash = user_client.get(user_url(user.pk) + "/")

    assert with_slash.status_code == HTTPStatus.OK
    assert with_slash.json() == without_slash.json()


def test_json_suffix_is_not_a_format_suffix_for_non_staff(user, user_client):
    response = user_client.get(f"/api/v1/users/{user.pk}.json")

    assert_error(response, HTTPStatus.FORBIDDEN, FORBIDDEN)


def test_json_suffix_is_not_a_format_suffix_for_staff(other_user, staff_client):
    response = staff_client.get(f"/api/v1/users/{other_user.pk}.json")

    assert_error(response, HTTPStatus.NOT_FOUND, NOT_FOUND)


@pytest.mark.parametrize("fmt", ["json", "api", "xml"])
def test_format_query_parameter_is_ignored(user, user_client, fmt):
    response = user_client.get(user_url(user.pk), {"format": fmt})

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"
    assert response.json()["id"] == str(user.pk)


@pytest.mark.parametrize("fmt", ["json", "api"])
def test_format_query_parameter_without_key_gets_401_not_404(user, anonymous_client, fmt):
    response = anonymous_client.get(user_url(user.pk), {"format": fmt})

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"]["code"] == "authentication_required"


# --- Authentication (section 2) ------------------------------------------------------------------


def test_request_without_key_gets_401(user, anonymous_client):
    response = anonymous_client.get(user_url(user.pk))

    assert_error(
        response,
        HTTPStatus.UNAUTHORIZED,
        {"code": "authentication_required", "message": "Authentication is required"},
    )
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_request_with_invalid_key_gets_401(user, anonymous_client):
    anonymous_client.credentials(HTTP_AUTHORIZATION="Bearer ak_notakey_atall")

    response = anonymous_client.get(user_url(user.pk))

    assert_error(
        response,
        HTTPStatus.UNAUTHORIZED,
        {"code": "invalid_api_key", "message": "Authentication failed"},
    )
    assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'


@pytest.mark.parametrize("user_id", ["abc", "{unknown}"])
def test_401_comes_before_404(unknown_id, anonymous_client, user_id):
    path = user_url(user_id.format(unknown=unknown_id))

    response = anonymous_client.get(path)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"]["code"] == "authentication_required"


# --- Errors and their order (section 5) ----------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch", "delete", "post"])
def test_other_methods_on_a_user_get_405(user, user_client, method):
    response = getattr(user_client, method)(user_url(user.pk), {})

    assert_error(
        response,
        HTTPStatus.METHOD_NOT_ALLOWED,
        {"code": "method_not_allowed", "message": "The method is not allowed for this resource"},
    )


def test_405_comes_before_403(other_user, user_client):
    response = user_client.delete(user_url(other_user.pk))

    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_401_comes_before_405(user, anonymous_client):
    response = anonymous_client.delete(user_url(user.pk))

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"]["code"] == "authentication_required"


def test_path_below_a_user_is_an_unknown_path_404_before_authentication(user, anonymous_client):
    response = anonymous_client.get(f"/api/v1/users/{user.pk}/extra")

    assert_error(response, HTTPStatus.NOT_FOUND, NOT_FOUND)


# --- Cost ----------------------------------------------------------------------------------------


def test_own_user_lookup_makes_at_most_three_queries(
    user, user_client, django_assert_max_num_queries
):
    # The key's query (joined to its user), the once-a-minute last_used_at UPDATE, the lookup.
    with django_assert_max_num_queries(3):
        response = user_client.get(user_url(user.pk))

    assert response.status_code == HTTPStatus.OK


def test_repeated_own_user_lookup_within_a_minute_makes_at_most_two_queries(
    user, user_client, django_assert_max_num_queries
):
    user_client.get(user_url(user.pk))

    # last_used_at was refreshed by the first request: no UPDATE this time.
    with django_assert_max_num_queries(2):
        response = user_client.get(user_url(user.pk))

    assert response.status_code == HTTPStatus.OK
