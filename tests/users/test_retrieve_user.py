"""GET /api/v1/users/{user_id} (docs/api.md, "Users", with "Transport", "Authentication" and
"Errors")."""

import re
from datetime import UTC, datetime
from http import HTTPStatus

import pytest
from django.db.models import Max
from django.urls import reverse

from tests.factories import UserFactory
from tests.kit import assert_error
from users.models import User

CREATED_AT_FORMAT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
CANONICAL_DECIMAL = re.compile(r"[1-9][0-9]*")


def user_url(user_id: object) -> str:
    return reverse("user-detail", kwargs={"user_id": user_id})


@pytest.fixture
def other_user(db: None) -> User:
    return UserFactory()


@pytest.fixture
def unknown_id(user: User, other_user: User, staff_user: User) -> str:
    """An id in canonical decimal that names no user."""
    return str(User.objects.aggregate(highest=Max("pk"))["highest"] + 1000)


@pytest.fixture
def path_for(user: User, other_user: User, unknown_id: str):
    """The path of a user id written as a template: {own}, {other} and {unknown} stand for the
    key user's id, another user's and an id that names no user."""

    def path(template: str) -> str:
        return user_url(template.format(own=user.pk, other=other_user.pk, unknown=unknown_id))

    return path


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
def test_non_staff_user_gets_403_for_any_id_but_its_own(path_for, user_client, user_id):
    response = user_client.get(path_for(user_id))

    assert_error(response, HTTPStatus.FORBIDDEN, "forbidden")


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

    assert_error(response, HTTPStatus.FORBIDDEN, "forbidden")


def test_view_user_permission_without_is_staff_gets_403(other_user, client_for):
    not_staff = UserFactory(permissions=["view_user"])

    response = client_for(not_staff).get(user_url(other_user.pk))

    assert_error(response, HTTPStatus.FORBIDDEN, "forbidden")


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
def test_staff_gets_404_for_an_id_that_names_no_user(path_for, staff_client, user_id):
    response = staff_client.get(path_for(user_id))

    assert_error(response, HTTPStatus.NOT_FOUND, "not_found")


# --- Transport (section 1) -----------------------------------------------------------------------


def test_json_suffix_is_not_a_format_suffix_for_non_staff(user, user_client):
    response = user_client.get(f"/api/v1/users/{user.pk}.json")

    assert_error(response, HTTPStatus.FORBIDDEN, "forbidden")


def test_json_suffix_is_not_a_format_suffix_for_staff(other_user, staff_client):
    response = staff_client.get(f"/api/v1/users/{other_user.pk}.json")

    assert_error(response, HTTPStatus.NOT_FOUND, "not_found")


# --- Authentication (section 2) ------------------------------------------------------------------


@pytest.mark.parametrize("user_id", ["abc", "{unknown}"])
def test_401_comes_before_404(path_for, anonymous_client, user_id):
    response = anonymous_client.get(path_for(user_id))

    assert_error(response, HTTPStatus.UNAUTHORIZED, "authentication_required")


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
