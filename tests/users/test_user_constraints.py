"""Uniqueness ignoring case, held by the database (contract section 3, STYLE "The database
keeps the invariants"): the constraints, the service's handling of a lost race, and a real race."""

import threading
from http import HTTPStatus

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from tests.factories import APIKeyFactory
from tests.kit import bearer_client
from users.models import User
from users.services import user_create

USERS_URL = reverse("user-list")
PASSWORD = "zebra-Quilt-981"


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


@pytest.mark.parametrize("username", ["carol", "Carol", "CAROL"])
def test_user_create_turns_a_taken_username_into_a_validation_error(db, username):
    # The row a concurrent request inserted first; user_create itself does not pre-check.
    User.objects.create(username="carol", email="carol@example.com")

    with pytest.raises(ValidationError) as caught:
        user_create(username=username, email="someone@example.com", password=PASSWORD)

    assert set(caught.value.message_dict) == {"username"}
    assert User.objects.count() == 1  # and the surrounding transaction is still usable


@pytest.mark.parametrize("email", ["carol@example.com", "Carol@Example.com", "CAROL@EXAMPLE.COM"])
def test_user_create_turns_a_taken_email_into_a_validation_error(db, email):
    User.objects.create(username="carol", email="carol@example.com")

    with pytest.raises(ValidationError) as caught:
        user_create(username="someone", email=email, password=PASSWORD)

    assert set(caught.value.message_dict) == {"email"}
    assert User.objects.count() == 1


def test_user_create_stores_a_free_username_and_email(db):
    created = user_create(username="dave", email="Dave@EXAMPLE.com", password=PASSWORD)

    created.refresh_from_db()
    assert created.username == "dave"
    assert created.email == "Dave@example.com"
    assert created.check_password(PASSWORD)


def test_lost_race_for_a_username_is_a_400_through_the_api(staff_client, without_precheck):
    User.objects.create(username="carol", email="carol@example.com")
    count = User.objects.count()

    response = staff_client.post(
        USERS_URL, {"username": "Carol", "email": "someone@example.com", "password": PASSWORD}
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert set(error["fields"]) == {"username"}
    assert "'username'" in error["details"]
    assert User.objects.count() == count


def test_lost_race_for_an_email_is_a_400_through_the_api(staff_client, without_precheck):
    User.objects.create(username="carol", email="carol@example.com")
    count = User.objects.count()

    response = staff_client.post(
        USERS_URL, {"username": "someone", "email": "CAROL@example.com", "password": PASSWORD}
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert set(error["fields"]) == {"email"}
    assert "'email'" in error["details"]
    assert User.objects.count() == count


# --- A real race ---------------------------------------------------------------------------------

ROUNDS = 5


def race(plaintext_key: str, bodies: list[dict[str, str]]) -> list[int | str]:
    """POST every body at the same moment, each from its own thread, client and connection."""
    barrier = threading.Barrier(len(bodies))
    outcomes: list[int | str] = [0] * len(bodies)

    def post(index: int, body: dict[str, str]) -> None:
        client = bearer_client(plaintext_key)
        try:
            barrier.wait(timeout=10)
            outcomes[index] = client.post(USERS_URL, body).status_code
        except Exception as exc:  # reported as the outcome, so the test shows it
            outcomes[index] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=item) for item in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_simultaneous_requests_for_one_username_create_one_user(staff_user, without_precheck):
    plaintext_key = APIKeyFactory(owner=staff_user).plaintext

    for round_number in range(ROUNDS):
        username = f"racer{round_number}"
        # Exactly the same name, then the same name in another case, by turns.
        rival = username if round_number % 2 == 0 else username.upper()
        bodies = [
            {"username": username, "email": f"{username}-a@example.com", "password": PASSWORD},
            {"username": rival, "email": f"{username}-b@example.com", "password": PASSWORD},
        ]

        outcomes = race(plaintext_key, bodies)

        assert sorted(outcomes, key=str) == [HTTPStatus.CREATED, HTTPStatus.BAD_REQUEST], (
            round_number
        )
        assert User.objects.filter(username__iexact=username).count() == 1


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_simultaneous_requests_for_one_email_create_one_user(staff_user, without_precheck):
    plaintext_key = APIKeyFactory(owner=staff_user).plaintext

    for round_number in range(ROUNDS):
        email = f"racer{round_number}@example.com"
        rival = email if round_number % 2 == 0 else email.upper()
        bodies = [
            {"username": f"racer{round_number}a", "email": email, "password": PASSWORD},
            {"username": f"racer{round_number}b", "email": rival, "password": PASSWORD},
        ]

        outcomes = race(plaintext_key, bodies)

        assert sorted(outcomes, key=str) == [HTTPStatus.CREATED, HTTPStatus.BAD_REQUEST], (
            round_number
        )
        assert User.objects.filter(email__iexact=email).count() == 1
