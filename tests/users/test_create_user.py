"""POST /api/v1/users (docs/api.md, "Users", with "Transport", "Authentication" and "Errors")."""

import json
import re
from datetime import UTC, datetime
from http import HTTPStatus

import pytest
from django.urls import reverse

from tests.factories import UserFactory
from tests.kit import assert_error
from users.models import User

USERS_URL = reverse("user-list")
PASSWORD = "zebra-Quilt-981"
VALID = {"username": "newuser", "email": "newuser@example.com", "password": PASSWORD}
CREATED_AT_FORMAT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture
def user_count(staff_user: User, user: User):
    """User.objects.count() now, taken after the fixtures' own users exist."""
    return User.objects.count()


def assert_invalid(response, *, details: str | None = None, fields: set[str]) -> dict:
    """A 400 invalid_request whose `fields` names exactly these fields."""
    error = assert_error(response, HTTPStatus.BAD_REQUEST, "invalid_request")
    assert set(error) == {"code", "message", "details", "fields"}
    assert set(error["fields"]) == fields
    for messages in error["fields"].values():
        assert messages
        assert all(isinstance(message, str) for message in messages)
    if details is not None:
        assert error["details"] == details
    return error


def post_raw(client, text: str):
    return client.post(USERS_URL, data=text, content_type="application/json")


# --- Success -------------------------------------------------------------------------------------


def test_staff_creates_a_user_and_gets_201_with_the_four_fields(staff_client):
    response = staff_client.post(USERS_URL, VALID)

    assert response.status_code == HTTPStatus.CREATED
    created = User.objects.get(username="newuser")
    assert response.json() == {
        "id": str(created.pk),
        "username": "newuser",
        "email": "newuser@example.com",
        "created_at": created.date_joined.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def test_created_at_is_utc_in_whole_seconds_with_z(staff_client, time_machine):
    time_machine.move_to(datetime(2023, 2, 15, 14, 30, 0, 987654, tzinfo=UTC), tick=False)

    response = staff_client.post(USERS_URL, VALID)

    assert response.status_code == HTTPStatus.CREATED
    assert CREATED_AT_FORMAT.fullmatch(response.json()["created_at"])
    assert response.json()["created_at"] == "2023-02-15T14:30:00Z"


def test_location_header_is_the_new_users_path(staff_client):
    response = staff_client.post(USERS_URL, VALID)

    assert response.status_code == HTTPStatus.CREATED
    assert response["Location"] == f"/api/v1/users/{response.json()['id']}"


def test_new_user_is_stored_with_a_usable_password_hash(staff_client):
    staff_client.post(USERS_URL, VALID)

    created = User.objects.get(username="newuser")
    assert created.has_usable_password()
    assert created.password != PASSWORD
    assert PASSWORD not in created.password
    assert created.check_password(PASSWORD)


def test_new_user_is_neither_staff_nor_superuser(staff_client):
    staff_client.post(USERS_URL, VALID)

    created = User.objects.get(username="newuser")
    assert created.is_active
    assert not created.is_staff
    assert not created.is_superuser


def test_password_is_never_in_the_response(staff_client):
    response = staff_client.post(USERS_URL, VALID)

    assert response.status_code == HTTPStatus.CREATED
    assert "password" not in response.json()
    assert PASSWORD.encode() not in response.content


def test_email_domain_is_lowercased_on_storage(staff_client):
    response = staff_client.post(USERS_URL, {**VALID, "email": "Bob@EXAMPLE.com"})

    assert response.status_code == HTTPStatus.CREATED
    assert User.objects.get(username="newuser").email == "Bob@example.com"
    assert response.json()["email"] == "Bob@example.com"


def test_password_is_not_trimmed(staff_client):
    padded = "  zebra Quilt 981  "

    response = staff_client.post(USERS_URL, {**VALID, "password": padded})

    assert response.status_code == HTTPStatus.CREATED
    created = User.objects.get(username="newuser")
    assert created.check_password(padded)
    assert not created.check_password(padded.strip())


def test_username_of_150_characters_is_accepted(staff_client):
    response = staff_client.post(USERS_URL, {**VALID, "username": "a" * 150})

    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["username"] == "a" * 150


def test_username_with_every_allowed_symbol_is_accepted(staff_client):
    response = staff_client.post(USERS_URL, {**VALID, "username": "J.doe+1@x-y_z"})

    assert response.status_code == HTTPStatus.CREATED
    assert User.objects.filter(username="J.doe+1@x-y_z").exists()


def test_superuser_with_is_staff_can_create(db, client_for):
    superuser = UserFactory(is_staff=True, is_superuser=True)

    response = client_for(superuser).post(USERS_URL, VALID)

    assert response.status_code == HTTPStatus.CREATED


# --- Who may create ------------------------------------------------------------------------------


def test_non_staff_user_gets_403_and_nothing_is_created(user_client, user_count):
    response = user_client.post(USERS_URL, VALID)

    assert_error(response, HTTPStatus.FORBIDDEN, "forbidden")
    assert User.objects.count() == user_count


def test_is_staff_without_add_user_permission_gets_403(client_for, user_count):
    staff_without_permission = UserFactory(staff=True, permissions=["view_user"])

    response = client_for(staff_without_permission).post(USERS_URL, VALID)

    assert_error(response, HTTPStatus.FORBIDDEN, "forbidden")
    assert User.objects.count() == user_count + 1  # only staff_without_permission


def test_add_user_permission_without_is_staff_gets_403(client_for, user_count):
    not_staff = UserFactory(permissions=["add_user"])

    response = client_for(not_staff).post(USERS_URL, VALID)

    assert_error(response, HTTPStatus.FORBIDDEN, "forbidden")
    assert not User.objects.filter(username="newuser").exists()


# --- Missing fields ------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["username", "email", "password"])
def test_missing_field_gets_400_naming_it(staff_client, user_count, field):
    body = {name: value for name, value in VALID.items() if name != field}

    response = staff_client.post(USERS_URL, body)

    assert_invalid(response, details=f"The '{field}' field is required", fields={field})
    assert User.objects.count() == user_count


@pytest.mark.parametrize("field", ["username", "email", "password"])
def test_null_counts_as_missing(staff_client, user_count, field):
    response = staff_client.post(USERS_URL, {**VALID, field: None})

    assert_invalid(response, details=f"The '{field}' field is required", fields={field})
    assert User.objects.count() == user_count


def test_empty_body_names_username_first_and_lists_every_field(staff_client, user_count):
    response = staff_client.post(USERS_URL, {})

    assert_invalid(
        response,
        details="The 'username' field is required",
        fields={"username", "email", "password"},
    )
    assert User.objects.count() == user_count


def test_several_problems_details_follow_username_email_password_order(staff_client):
    # Keys in the reverse order: the fields' order decides, not the body's
    # (docs/api.md, "Errors").
    body = {"password": "123", "email": "not-an-email", "username": "jöhn"}

    response = staff_client.post(USERS_URL, body)

    error = assert_invalid(response, fields={"username", "email", "password"})
    assert "'username'" in error["details"]
    assert "'email'" not in error["details"]


def test_missing_username_is_named_before_other_problems(staff_client):
    response = staff_client.post(USERS_URL, {"email": "not-an-email", "password": "123"})

    assert_invalid(
        response,
        details="The 'username' field is required",
        fields={"username", "email", "password"},
    )


def test_email_problem_is_named_before_password_problem(staff_client):
    body = {"password": "123", "email": "not-an-email", "username": "newuser"}

    response = staff_client.post(USERS_URL, body)

    error = assert_invalid(response, fields={"email", "password"})
    assert "'email'" in error["details"]
    assert "'password'" not in error["details"]


# --- Types and unknown fields --------------------------------------------------------------------


@pytest.mark.parametrize("field", ["username", "email", "password"])
@pytest.mark.parametrize("value", [12, 1.5, True, [], {}, ["newuser"]], ids=repr)
def test_non_string_value_gets_400_naming_the_field(staff_client, user_count, field, value):
    response = staff_client.post(USERS_URL, {**VALID, field: value})

    error = assert_invalid(response, fields={field})
    assert f"'{field}'" in error["details"]
    assert User.objects.count() == user_count


@pytest.mark.parametrize("field", ["username", "email", "password"])
def test_empty_string_gets_400_naming_the_field(staff_client, user_count, field):
    response = staff_client.post(USERS_URL, {**VALID, field: ""})

    error = assert_invalid(response, fields={field})
    assert f"'{field}'" in error["details"]
    assert User.objects.count() == user_count


@pytest.mark.parametrize(
    ("name", "value"),
    [("is_staff", True), ("is_superuser", True), ("typo", "x"), ("id", "1")],
)
def test_unknown_field_gets_400_naming_it_and_nothing_is_created(
    staff_client, user_count, name, value
):
    response = staff_client.post(USERS_URL, {**VALID, name: value})

    error = assert_invalid(response, fields={name})
    assert name in error["details"]
    assert User.objects.count() == user_count


def test_is_staff_in_the_body_never_makes_staff(staff_client):
    staff_client.post(USERS_URL, {**VALID, "is_staff": True})

    assert not User.objects.filter(username="newuser", is_staff=True).exists()


@pytest.mark.parametrize("name", ["is_staff", "typo"])
def test_unknown_field_sent_as_null_is_refused_too(staff_client, user_count, name):
    response = staff_client.post(USERS_URL, {**VALID, name: None})

    assert_invalid(
        response, details=f"The '{name}' field is invalid: Unknown field.", fields={name}
    )
    assert User.objects.count() == user_count


def test_unknown_field_is_listed_beside_other_problems(staff_client):
    response = staff_client.post(USERS_URL, {"email": VALID["email"], "typo": "x"})

    assert_invalid(
        response,
        details="The 'username' field is required",
        fields={"username", "password", "typo"},
    )


# --- Username ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "username",
    ["jöhn", "john doe", "a" * 151, "ｊｏｈｎ", "john!", "jo/hn"],
    ids=["non-ascii", "space", "151-chars", "fullwidth", "bang", "slash"],
)
def test_invalid_username_gets_400(staff_client, user_count, username):
    response = staff_client.post(USERS_URL, {**VALID, "username": username})

    error = assert_invalid(response, fields={"username"})
    assert "'username'" in error["details"]
    assert User.objects.count() == user_count


@pytest.mark.parametrize("taken", ["bob", "BOB", "Bob"])
def test_username_taken_ignoring_case_gets_400(staff_client, taken):
    UserFactory(username=taken, email="first@example.com")
    count = User.objects.count()

    response = staff_client.post(USERS_URL, {**VALID, "username": "Bob"})

    error = assert_invalid(response, fields={"username"})
    assert "'username'" in error["details"]
    assert User.objects.count() == count


# --- Email ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["not-an-email", "bob@", "@example.com", "bob@example..com"])
def test_invalid_email_gets_400(staff_client, user_count, email):
    response = staff_client.post(USERS_URL, {**VALID, "email": email})

    error = assert_invalid(response, fields={"email"})
    assert "'email'" in error["details"]
    assert User.objects.count() == user_count


@pytest.mark.parametrize(
    "email", ["bob@example.com", "BOB@EXAMPLE.COM", "Bob@Example.com", "bob@EXAMPLE.com"]
)
def test_email_taken_ignoring_case_gets_400(staff_client, email):
    UserFactory(username="bob", email="bob@example.com")
    count = User.objects.count()

    response = staff_client.post(USERS_URL, {**VALID, "email": email})

    error = assert_invalid(response, fields={"email"})
    assert "'email'" in error["details"]
    assert User.objects.count() == count


# --- Password ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "email", "password"),
    [
        ("newuser", "newuser@example.com", "Xy7#kq"),
        ("newuser", "newuser@example.com", "iloveyou"),
        ("newuser", "newuser@example.com", "4829175036"),
        ("wonderland42", "newuser@example.com", "Wonderland42!"),
        ("newuser", "marigold.fielding@example.com", "marigold.fielding"),
    ],
    ids=["too-short", "too-common", "all-numeric", "like-username", "like-email"],
)
def test_weak_password_gets_400(staff_client, user_count, username, email, password):
    body = {"username": username, "email": email, "password": password}

    response = staff_client.post(USERS_URL, body)

    error = assert_invalid(response, fields={"password"})
    assert "'password'" in error["details"]
    assert password.encode() not in response.content
    assert User.objects.count() == user_count


@pytest.mark.parametrize(
    "body",
    [
        {"username": "newuser", "email": "newuser@example.com", "password": "Xy7#kq"},
        {
            "username": "pass-Word-8675",
            "email": "newuser@example.com",
            "password": "pass-Word-8675",
        },
        {"email": "newuser@example.com", "password": "secret-Word-8675"},
        {"username": "new user", "email": "newuser@example.com", "password": "secret-Word-8675"},
        {"username": "newuser", "email": 12, "password": "secret-Word-8675"},
        {**VALID, "password": "secret-Word-8675", "typo": "x"},
        {**VALID, "password": "secret-Word-8675", "username": "bob"},
        {**VALID, "password": ["secret-Word-8675"]},
        {**VALID, "password": {"secret-Word-8675": "secret-Word-8675"}},
    ],
    ids=[
        "too-short",
        "like-username",
        "missing-username",
        "bad-username",
        "bad-email",
        "unknown-field",
        "taken-username",
        "password-in-a-list",
        "password-in-an-object",
    ],
)
def test_password_never_appears_in_an_error_body(staff_client, body):
    UserFactory(username="bob", email="bob@example.com")
    password = body["password"]
    secret = password if isinstance(password, str) else "secret-Word-8675"

    response = staff_client.post(USERS_URL, body)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert secret.encode() not in response.content


# --- Malformed bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["username", "email", "password"])
@pytest.mark.parametrize("value", ["\ud800", "ab\udfffcd"], ids=["lone-high", "lone-low"])
def test_lone_surrogate_gets_400_not_500(staff_client, user_count, field, value):
    text = json.dumps({**VALID, field: value})  # ensure_ascii writes the escape, e.g. \\ud800
    assert "\\ud" in text

    response = post_raw(staff_client, text)

    error = assert_invalid(response, fields={field})
    assert f"'{field}'" in error["details"]
    assert User.objects.count() == user_count


@pytest.mark.parametrize(
    "text",
    ['[{"username": "newuser"}]', '"newuser"', "42", "null", "[]", "true"],
    ids=["array", "string", "number", "null", "empty-array", "boolean"],
)
def test_json_body_that_is_not_an_object_gets_400(staff_client, user_count, text):
    response = post_raw(staff_client, text)

    assert_error(response, HTTPStatus.BAD_REQUEST, "invalid_request")
    assert User.objects.count() == user_count


def test_empty_json_body_gets_400(staff_client, user_count):
    # Malformed JSON is tested for every body in test_errors.py; an empty one reads as {}.
    response = post_raw(staff_client, "")

    assert_error(response, HTTPStatus.BAD_REQUEST, "invalid_request")
    assert User.objects.count() == user_count
