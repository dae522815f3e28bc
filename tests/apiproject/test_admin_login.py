"""The admin site: logging in below the limits, and pages that load with DEBUG off, their
styles and scripts served from /static/admin/. The limits on failed logins themselves:
test_admin_login_failures.py."""

import re
from datetime import UTC, datetime
from http import HTTPStatus

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from tests.factories import UserFactory
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
def _one_window(time_machine) -> None:
    # The budgets count in fixed windows: a frozen clock keeps every attempt of a test in the
    # same window, so none is forgiven by a window that happens to end.
    time_machine.move_to(datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC), tick=False)


@pytest.fixture
def alice(db: None) -> User:
    return UserFactory(username="alice", staff=True)


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
