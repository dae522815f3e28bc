"""Uniqueness ignoring case, held by the database (docs/api.md, "Users": the code checks it too, but
the constraint is what holds under concurrency): the constraints, the service's handling of a lost
race, and a real race."""

from functools import partial
from http import HTTPStatus

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from tests.concurrency import simultaneously
from tests.factories import APIKeyFactory
from tests.kit import assert_error
from users.models import User
from users.services import user_create

USERS_URL = reverse("user-list")
PASSWORD = "zebra-Quilt-981"
SOMEONE = {"username": "someone", "email": "someone@example.com"}  # free
# carol's username and email, spelled in cases that all name them.
CAROLS_TAKEN = [
    *[("username", spelling) for spelling in ["carol", "Carol", "CAROL"]],
    *[
        ("email", spelling)
        for spelling in ["carol@example.com", "Carol@Example.com", "CAROL@EXAMPLE.COM"]
    ],
]


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.create(username="alice", email="alice@example.com")


@pytest.fixture
def without_precheck(monkeypatch: pytest.MonkeyPatch) -> None:
    """The serializer's friendly pre-check always says "free": the database has to decide."""
    monkeypatch.setattr("users.serializers.user_username_taken", lambda **kwargs: False)
    monkeypatch.setattr("users.serializers.user_email_taken", lambda **kwargs: False)


# --- The database constraints --------------------------------------------------------------------


@pytest.mark.parametrize("username", ["alice", "ALICE", "Alice", "aLiCe"])
def test_database_refuses_a_username_differing_only_in_case(alice, username):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username=username, email="other@example.com")

    assert User.objects.count() == 1


@pytest.mark.parametrize(
    "email", ["alice@example.com", "ALICE@EXAMPLE.COM", "Alice@example.com", "alice@Example.Com"]
)
def test_database_refuses_an_email_differing_only_in_case(alice, email):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="other", email=email)

    assert User.objects.count() == 1


def test_many_users_may_have_an_empty_email(db):
    for username in ("admin1", "admin2", "admin3"):
        User.objects.create(username=username, email="")

    assert User.objects.filter(email="").count() == 3


def test_different_usernames_and_emails_are_accepted(alice):
    User.objects.create(username="alicia", email="alicia@example.com")

    assert User.objects.count() == 2


# --- The service turns a lost race into a ValidationError ----------------------------------------


@pytest.mark.parametrize(("field", "taken"), CAROLS_TAKEN)
def test_user_create_turns_a_taken_username_or_email_into_a_validation_error(db, field, taken):
    # The row a concurrent request inserted first; user_create itself does not pre-check.
    User.objects.create(username="carol", email="carol@example.com")

    with pytest.raises(ValidationError) as caught:
        user_create(**{**SOMEONE, field: taken}, password=PASSWORD)

    assert set(caught.value.message_dict) == {field}
    assert User.objects.count() == 1  # and the surrounding transaction is still usable


def test_user_create_stores_a_free_username_and_email(db):
    created = user_create(username="dave", email="Dave@EXAMPLE.com", password=PASSWORD)

    created.refresh_from_db()
    assert created.username == "dave"
    assert created.email == "Dave@example.com"
    assert created.check_password(PASSWORD)


@pytest.mark.parametrize(
    ("field", "taken"), [("username", "Carol"), ("email", "CAROL@example.com")]
)
def test_lost_race_for_a_username_or_email_is_a_400_through_the_api(
    staff_client, without_precheck, field, taken
):
    User.objects.create(username="carol", email="carol@example.com")
    count = User.objects.count()
    body = {"username": "someone", "email": "someone@example.com", "password": PASSWORD}

    response = staff_client.post(USERS_URL, {**body, field: taken})

    error = assert_error(response, HTTPStatus.BAD_REQUEST, "invalid_request")
    assert set(error["fields"]) == {field}
    assert f"'{field}'" in error["details"]
    assert User.objects.count() == count


# --- A real race ---------------------------------------------------------------------------------

ROUNDS = 5


def race(plaintext_key: str, bodies: list[dict[str, str]]) -> list[object]:
    """POST every body at the same moment, each from its own thread, client and connection:
    the status of each answer."""
    return simultaneously(plaintext_key, [partial(post_status, body=body) for body in bodies])


def post_status(client, *, body: dict[str, str]) -> int:
    return client.post(USERS_URL, body).status_code


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("field", ["username", "email"])
def test_simultaneous_requests_for_one_username_or_email_create_one_user(
    staff_user, without_precheck, field
):
    plaintext_key = APIKeyFactory(owner=staff_user).plaintext

    for round_number in range(ROUNDS):
        racer = f"racer{round_number}"
        wanted = racer if field == "username" else f"{racer}@example.com"
        # Exactly the same value, then the same value in another case, by turns.
        rival = wanted if round_number % 2 == 0 else wanted.upper()
        bodies = [
            {"username": f"{racer}a", "email": f"{racer}-a@example.com", field: wanted},
            {"username": f"{racer}b", "email": f"{racer}-b@example.com", field: rival},
        ]

        outcomes = race(plaintext_key, [{**body, "password": PASSWORD} for body in bodies])

        assert sorted(outcomes, key=str) == [HTTPStatus.CREATED, HTTPStatus.BAD_REQUEST], (
            round_number
        )
        assert User.objects.filter(**{f"{field}__iexact": wanted}).count() == 1
