"""The admin site: login attempts limited per client IP and per username (ignoring case), and
pages that load with DEBUG off, their styles and scripts served from /static/admin/."""

import re
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from tests.factories import DEFAULT_PASSWORD, UserFactory
from users.models import User

pytestmark = pytest.mark.django_db

LOGIN_URL = reverse("admin:login")
INDEX_URL = reverse("admin:index")
JAVASCRIPT_CATALOG_URL = reverse("admin:jsi18n")
TOO_MANY = "Too many login attempts"
WRONG_PASSWORD = "not-the-Password-1"
ASSET_URL = re.compile(r"""<(?:script|link)\b[^>]*\b(?:src|href)=["']([^"']+)["']""")
STYLESHEET_URL = re.compile(r"""<link\b[^>]*\brel=["']stylesheet["'][^>]*\bhref=["']([^"']+)["']""")


@pytest.fixture(autouse=True)
def _small_login_budgets(settings) -> None:
    settings.ADMIN_LOGIN_RATE_LIMIT_PER_USERNAME = "3/m"
    settings.ADMIN_LOGIN_RATE_LIMIT_PER_IP = "5/m"


@pytest.fixture(autouse=True)
def _one_window(time_machine) -> None:
    # The budgets count in fixed one-minute windows: a frozen clock keeps every attempt of a
    # test in the same window, so none is forgiven by a window that happens to end.
    time_machine.move_to(datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC), tick=False)


@pytest.fixture
def alice(db: None) -> User:
    return UserFactory(username="alice", staff=True)


@pytest.fixture
def bob(db: None) -> User:
    return UserFactory(username="bob", staff=True)


@pytest.fixture
def log_in() -> Callable[..., object]:
    """POST the login form from `ip`, a fresh client each time (no session carried over)."""

    def attempt(username: str, password: str = DEFAULT_PASSWORD, *, ip: str = "10.0.0.1"):
        client = Client(REMOTE_ADDR=ip)
        response = client.post(
            LOGIN_URL, {"username": username, "password": password, "next": INDEX_URL}
        )
        response.client_session = client.session
        return response

    return attempt


def logged_in(response) -> bool:
    return "_auth_user_id" in response.client_session


# --- Below the limits ---------------------------------------------------------------------------


def test_login_works_below_the_limits(alice, log_in):
    response = log_in("alice")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == INDEX_URL
    assert logged_in(response)


def test_login_works_after_failures_below_the_username_limit(alice, log_in):
    for n in range(2):
        log_in("alice", WRONG_PASSWORD, ip=f"10.0.1.{n}")

    response = log_in("alice", ip="10.0.1.9")

    assert logged_in(response)


def test_a_wrong_password_is_refused_without_the_rate_limit_message(alice, log_in):
    response = log_in("alice", WRONG_PASSWORD)

    assert response.status_code == HTTPStatus.OK
    assert not logged_in(response)
    assert TOO_MANY not in response.content.decode()


# --- Per username -------------------------------------------------------------------------------


@pytest.fixture
def alice_blocked(alice, log_in) -> None:
    """Three failed attempts for alice, each from an IP of its own (no IP budget runs out)."""
    for n in range(3):
        response = log_in("alice", WRONG_PASSWORD, ip=f"10.0.2.{n}")
        assert TOO_MANY not in response.content.decode()


def test_fourth_attempt_for_a_username_shows_too_many_login_attempts(alice_blocked, log_in):
    response = log_in("alice", ip="10.0.2.9")

    assert response.status_code == HTTPStatus.OK
    assert TOO_MANY in response.content.decode()


def test_fourth_attempt_for_a_username_with_the_right_password_does_not_log_in(
    alice_blocked, log_in
):
    response = log_in("alice", ip="10.0.2.9")

    assert not logged_in(response)


def test_refusal_says_how_long_to_wait(alice_blocked, log_in):
    response = log_in("alice", ip="10.0.2.9")

    assert re.search(r"Wait \d+ seconds, then try again", response.content.decode())


def test_another_username_from_another_ip_still_logs_in(alice_blocked, bob, log_in):
    response = log_in("bob", ip="10.9.9.9")

    assert logged_in(response)


def test_usernames_share_a_budget_ignoring_case(alice, log_in):
    for n, spelling in enumerate(["Alice", "ALICE", "aLiCe"]):
        log_in(spelling, WRONG_PASSWORD, ip=f"10.0.3.{n}")

    response = log_in("alice", ip="10.0.3.9")

    assert TOO_MANY in response.content.decode()
    assert not logged_in(response)


# --- Per IP -------------------------------------------------------------------------------------


@pytest.fixture
def ip_blocked(log_in) -> str:
    """Five failed attempts from one IP, each for another username (no username budget runs
    out); returns the IP."""
    ip = "10.0.4.1"
    for n in range(5):
        response = log_in(f"nobody{n}", WRONG_PASSWORD, ip=ip)
        assert TOO_MANY not in response.content.decode()
    return ip


def test_sixth_attempt_from_one_ip_is_refused(ip_blocked, alice, log_in):
    response = log_in("alice", ip=ip_blocked)

    assert TOO_MANY in response.content.decode()
    assert not logged_in(response)


def test_another_ip_still_logs_in_when_one_ip_is_blocked(ip_blocked, alice, log_in):
    response = log_in("alice", ip="10.0.4.2")

    assert logged_in(response)


# --- Pages and static files with DEBUG off ------------------------------------------------------


@pytest.fixture
def debug_off(settings) -> None:
    settings.DEBUG = False


ADMIN_PAGES = [
    "admin:index",
    "admin:apikeys_apikey_changelist",
    "admin:apikeys_apikey_add",
    "admin:projects_project_changelist",
    "admin:users_user_changelist",
]


def test_login_page_loads_with_debug_off(debug_off, client):
    response = client.get(LOGIN_URL)

    assert response.status_code == HTTPStatus.OK
    assert 'name="username"' in response.content.decode()


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_admin_page_loads_with_debug_off(debug_off, superuser_client, page):
    assert superuser_client.get(reverse(page)).status_code == HTTPStatus.OK


def test_login_page_links_the_admin_stylesheets_under_static_admin(debug_off, client):
    content = client.get(LOGIN_URL).content.decode()

    stylesheets = STYLESHEET_URL.findall(content)
    assert "/static/admin/css/base.css" in stylesheets
    assert all(url.startswith("/static/admin/") for url in stylesheets), stylesheets


def asset_urls(response) -> tuple[list[str], list[str]]:
    """The page's scripts and stylesheets: (under /static/, anything else)."""
    urls = ASSET_URL.findall(response.content.decode())
    static = [url for url in urls if url.startswith("/static/")]
    return static, [url for url in urls if not url.startswith("/static/")]


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_admin_page_assets_are_static_files_or_the_javascript_catalog(
    debug_off, superuser_client, page
):
    static, others = asset_urls(superuser_client.get(reverse(page)))

    assert static
    # The admin's own JavaScript translation catalog is a view, not a static file.
    assert set(others) <= {JAVASCRIPT_CATALOG_URL}, others


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_admin_page_assets_exist_among_the_static_files(debug_off, superuser_client, page):
    static, _others = asset_urls(superuser_client.get(reverse(page)))

    for url in static:
        assert finders.find(url.removeprefix("/static/")), url


def test_admin_javascript_catalog_loads_with_debug_off(debug_off, superuser_client):
    response = superuser_client.get(JAVASCRIPT_CATALOG_URL)

    assert response.status_code == HTTPStatus.OK
    assert "javascript" in response["Content-Type"]
