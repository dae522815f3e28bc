"""The admin behind a proxy that terminates TLS: its login form must still be accepted."""

import re
from http import HTTPStatus

import pytest
from django.test import Client

from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.processes import python_output

HOST = "api.example.com"
PRINT_PROXY_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.CSRF_TRUSTED_ORIGINS); print(getattr(s, 'SECURE_PROXY_SSL_HEADER', None))"
)


@pytest.fixture
def behind_tls_proxy(settings):
    settings.ALLOWED_HOSTS = [HOST]
    return UserFactory(is_staff=True)


def log_in_over_the_proxy(client: Client, username: str):
    proxied = {"HTTP_HOST": HOST, "HTTP_X_FORWARDED_PROTO": "https"}
    page = client.get("/admin/login/", **proxied)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    return client.post(
        "/admin/login/",
        {"username": username, "password": DEFAULT_PASSWORD, "csrfmiddlewaretoken": token[1]},
        HTTP_ORIGIN=f"https://{HOST}",
        HTTP_REFERER=f"https://{HOST}/admin/login/",
        **proxied,
    )


@pytest.mark.django_db
def test_login_over_tls_proxy_is_refused_without_the_proxy_settings(behind_tls_proxy):
    response = log_in_over_the_proxy(Client(enforce_csrf_checks=True), behind_tls_proxy.username)

    assert response.status_code == HTTPStatus.FORBIDDEN


@pytest.mark.django_db
def test_login_over_tls_proxy_works_with_the_trusted_origin(behind_tls_proxy, settings):
    settings.CSRF_TRUSTED_ORIGINS = [f"https://{HOST}"]

    response = log_in_over_the_proxy(Client(enforce_csrf_checks=True), behind_tls_proxy.username)

    assert response.status_code == HTTPStatus.FOUND


@pytest.mark.django_db
def test_login_over_tls_proxy_works_when_its_forwarded_proto_is_trusted(behind_tls_proxy, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    response = log_in_over_the_proxy(Client(enforce_csrf_checks=True), behind_tls_proxy.username)

    assert response.status_code == HTTPStatus.FOUND


def test_proxy_settings_come_from_the_environment():
    printed = python_output(
        PRINT_PROXY_SETTINGS,
        DJANGO_SECRET_KEY="x",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://a.example.com,https://b.example.com",
        DJANGO_TRUST_X_FORWARDED_PROTO="1",
    )

    assert printed == [
        "['https://a.example.com', 'https://b.example.com']",
        "('HTTP_X_FORWARDED_PROTO', 'https')",
    ]


def test_forwarded_proto_is_not_trusted_by_default():
    printed = python_output(PRINT_PROXY_SETTINGS, DJANGO_SECRET_KEY="x")

    assert printed == ["[]", "None"]
