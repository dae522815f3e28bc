"""Failed admin logins are limited without letting anyone lock another person out
(docs/admin.md, "Login limits"): only failures count, per (username ignoring case, client IP) 10 per
15 minutes and per client IP 30 per 15 minutes; a correct password from an address with no failures
is always let in, and a success clears that pair's count."""

import re
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import DEFAULT_PASSWORD, UserFactory
from users.models import User

pytestmark = pytest.mark.django_db

LOGIN_URL = reverse("admin:login")
INDEX_URL = reverse("admin:index")
TOO_MANY = "Too many login attempts"
WRONG_PASSWORD = "not-the-Password-1"
ATTACKER = "203.0.113.66"
ADMINS_DESK = "198.51.100.7"
# 05:06:07 lies in the fixed 15-minute window 05:00:00 to 05:15:00.
NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
WINDOW_END = datetime(2025, 3, 4, 5, 15, 0, tzinfo=UTC)
PER_PAIR, PER_IP = 10, 30


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


@pytest.fixture
def admin(db: None) -> User:
    return UserFactory(username="admin", is_staff=True, is_superuser=True)


def logged_in(response) -> bool:
    return "_auth_user_id" in response.client_session


def refused(response) -> bool:
    return TOO_MANY in response.content.decode()


def fail(log_in, username: str, times: int, *, ip: str) -> None:
    for _ in range(times):
        response = log_in(username, WRONG_PASSWORD, ip=ip)
        assert not logged_in(response)


# --- The attack of the issue: nobody locks the admin out ----------------------------------------


def test_eleven_wrong_passwords_from_elsewhere_do_not_lock_out_the_real_admin(admin, log_in):
    fail(log_in, "admin", 6, ip=ATTACKER)
    fail(log_in, "ADMIN", 5, ip=ATTACKER)

    response = log_in("admin", ip=ADMINS_DESK)

    assert response.status_code == HTTPStatus.FOUND
    assert logged_in(response)


def test_failures_from_many_addresses_do_not_lock_out_the_real_admin(admin, log_in):
    for n in range(40):
        fail(log_in, "admin", 1, ip=f"10.66.0.{n}")

    assert logged_in(log_in("admin", ip=ADMINS_DESK))


def test_successful_logins_do_not_use_up_any_budget(admin, log_in):
    for _ in range(PER_IP + 5):
        assert logged_in(log_in("admin", ip=ADMINS_DESK))


# --- Per (username, client IP) ------------------------------------------------------------------


def test_the_eleventh_attempt_for_a_username_from_one_address_is_refused(admin, log_in):
    fail(log_in, "admin", PER_PAIR, ip=ATTACKER)

    response = log_in("admin", ip=ATTACKER)

    assert response.status_code == HTTPStatus.OK
    assert refused(response)
    assert not logged_in(response)


def test_ten_failures_are_allowed_and_the_right_password_then_gets_in(admin, log_in):
    fail(log_in, "admin", PER_PAIR - 1, ip=ATTACKER)

    assert logged_in(log_in("admin", ip=ATTACKER))


def test_the_refusal_says_how_long_to_wait_until_the_window_ends(admin, log_in):
    fail(log_in, "admin", PER_PAIR, ip=ATTACKER)

    content = log_in("admin", ip=ATTACKER).content.decode()

    wait = int((WINDOW_END - NOW).total_seconds())
    assert re.search(rf"Wait {wait} seconds, then try again", content)


def test_a_username_counts_ignoring_case(admin, log_in):
    for spelling in ["Admin", "ADMIN", "aDmIn", "admin", "ADMIN"] * 2:
        fail(log_in, spelling, 1, ip=ATTACKER)

    assert refused(log_in("admin", ip=ATTACKER))


def test_the_address_is_let_in_once_the_window_ends(admin, log_in, clock):
    fail(log_in, "admin", PER_PAIR, ip=ATTACKER)
    clock.move_to(WINDOW_END + timedelta(seconds=1), tick=False)

    assert logged_in(log_in("admin", ip=ATTACKER))


def test_a_success_clears_the_pairs_failures(admin, log_in):
    fail(log_in, "admin", PER_PAIR - 1, ip=ADMINS_DESK)
    assert logged_in(log_in("admin", ip=ADMINS_DESK))

    fail(log_in, "admin", PER_PAIR - 1, ip=ADMINS_DESK)

    assert logged_in(log_in("admin", ip=ADMINS_DESK))


def test_another_username_from_the_same_address_is_not_held_by_the_pair(admin, log_in):
    bob = UserFactory(username="bob", is_staff=True)
    fail(log_in, "admin", PER_PAIR, ip=ADMINS_DESK)

    assert logged_in(log_in(bob.username, ip=ADMINS_DESK))


# --- Per client IP ------------------------------------------------------------------------------


@pytest.fixture
def guessing_address(log_in) -> str:
    """30 failures from one address, a few for each of many usernames (no pair runs out)."""
    for n in range(PER_IP):
        fail(log_in, f"nobody{n % 6}", 1, ip=ATTACKER)
    return ATTACKER


def test_the_thirty_first_attempt_from_one_address_is_refused(admin, guessing_address, log_in):
    response = log_in("admin", ip=guessing_address)

    assert refused(response)
    assert not logged_in(response)


def test_another_address_still_logs_in_when_one_is_refused(admin, guessing_address, log_in):
    assert logged_in(log_in("admin", ip=ADMINS_DESK))


def test_the_limits_read_the_same_client_ip_as_the_api(admin, log_in, settings):
    # Behind one trusted proxy the client is the last X-Forwarded-For hop, not the proxy.
    settings.API_TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    for n in range(PER_PAIR):
        Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=ATTACKER).post(
            LOGIN_URL, {"username": "admin", "password": f"{WRONG_PASSWORD}{n}"}
        )

    from_attacker = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=ATTACKER)
    from_desk = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=ADMINS_DESK)
    credentials = {"username": "admin", "password": DEFAULT_PASSWORD, "next": INDEX_URL}
    assert refused(from_attacker.post(LOGIN_URL, credentials))
    assert from_desk.post(LOGIN_URL, credentials).status_code == HTTPStatus.FOUND


# --- Without the shared cache: counted in this process's memory, never unlimited ----------------


def ratelimit_warnings(caplog) -> list:
    return [record for record in caplog.records if record.name == "apiproject.api.ratelimit"]


def test_without_redis_the_eleventh_attempt_is_still_refused_unchecked(
    admin, log_in, failing_redis, password_checks, caplog
):
    attempts = [log_in("admin", WRONG_PASSWORD, ip=ATTACKER) for _ in range(PER_PAIR + 1)]

    assert [refused(response) for response in attempts] == [False] * PER_PAIR + [True]
    assert len(password_checks) == PER_PAIR
    # One WARNING line per attempt, without a traceback.
    warnings = ratelimit_warnings(caplog)
    assert len(warnings) == len(attempts)
    assert all(record.exc_info is None for record in warnings)


def test_without_redis_the_admin_still_logs_in_from_elsewhere(admin, log_in, failing_redis, caplog):
    fail(log_in, "admin", PER_PAIR + 1, ip=ATTACKER)
    caplog.clear()

    response = log_in("admin", ip=ADMINS_DESK)

    assert logged_in(response)
    assert len(ratelimit_warnings(caplog)) == 1


def test_without_redis_a_success_clears_the_pairs_failures(admin, log_in, refusing_redis):
    fail(log_in, "admin", PER_PAIR - 1, ip=ADMINS_DESK)
    assert logged_in(log_in("admin", ip=ADMINS_DESK))

    fail(log_in, "admin", PER_PAIR - 1, ip=ADMINS_DESK)

    assert logged_in(log_in("admin", ip=ADMINS_DESK))
