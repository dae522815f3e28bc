"""Admin login attempts sent at once (docs/admin.md, "Login limits"): of any number sent together
for one (username, client IP), at most 10 are checked against the password and the rest are answered
as locked; from one client IP, at most 30. Real concurrent requests, each from its own thread,
client and database connection, counting in the shared Redis."""

from datetime import UTC, datetime
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse

from tests.concurrency import simultaneously_from
from tests.factories import DEFAULT_PASSWORD, UserFactory
from users.models import User

pytestmark = [pytest.mark.postgresql, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

LOGIN_URL = reverse("admin:login")
INDEX_URL = reverse("admin:index")
TOO_MANY = "Too many login attempts"
WRONG_PASSWORD = "not-the-Password-1"
ATTACKER = "203.0.113.66"
ADMINS_DESK = "198.51.100.7"
PER_PAIR, PER_IP = 10, 30
AT_ONCE = 40


@pytest.fixture(autouse=True)
def _one_window(time_machine) -> None:
    # Every attempt of a test in one fixed 15-minute window (05:00 to 05:15).
    time_machine.move_to(datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC), tick=False)


@pytest.fixture
def admin(db: None) -> User:
    return UserFactory(username="admin", is_staff=True, is_superuser=True)


def attempt(username: str, password: str = WRONG_PASSWORD):
    def send(client: Client):
        return client.post(
            LOGIN_URL, {"username": username, "password": password, "next": INDEX_URL}
        )

    return send


def from_attacker() -> Client:
    return Client(REMOTE_ADDR=ATTACKER)


def refused(response) -> bool:
    return TOO_MANY in response.content.decode()


def test_of_forty_wrong_passwords_at_once_for_one_username_ten_are_checked(admin, password_checks):
    responses = simultaneously_from(from_attacker, [attempt("admin")] * AT_ONCE)

    assert {response.status_code for response in responses} == {HTTPStatus.OK}, responses
    # Exactly: a refused attempt gives its count back, so refusals never use up the budget.
    assert len(password_checks) == PER_PAIR
    assert sum(refused(response) for response in responses) == AT_ONCE - PER_PAIR


def test_of_forty_usernames_at_once_from_one_address_thirty_are_checked(admin, password_checks):
    sends = [attempt(f"nobody{n}") for n in range(AT_ONCE)]

    responses = simultaneously_from(from_attacker, sends)

    assert {response.status_code for response in responses} == {HTTPStatus.OK}, responses
    assert len(password_checks) == PER_IP
    assert sum(refused(response) for response in responses) == AT_ONCE - PER_IP


def test_after_refusals_at_once_the_admin_still_logs_in_from_elsewhere(admin, password_checks):
    simultaneously_from(from_attacker, [attempt("admin")] * AT_ONCE)

    from_desk = Client(REMOTE_ADDR=ADMINS_DESK)
    response = attempt("admin", DEFAULT_PASSWORD)(from_desk)

    assert response.status_code == HTTPStatus.FOUND
    assert "_auth_user_id" in from_desk.session
    # The attacker's address is locked even with the right password.
    assert refused(attempt("admin", DEFAULT_PASSWORD)(from_attacker()))
