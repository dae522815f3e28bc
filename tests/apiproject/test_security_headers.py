"""nosniff everywhere, HSTS and the HTTPS redirect as settings
(docs/operations.md, "Headers and checks")."""

from http import HTTPStatus

import pytest
from django.urls import reverse


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/api/v1/projects", "/api/nowhere"])
def test_every_response_says_nosniff(db, client, path):
    response = client.get(path)

    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/api/v1/projects", "/admin/", "/no-such-path"])
def test_a_disallowed_host_is_answered_with_nosniff(db, client, settings, path):
    settings.ALLOWED_HOSTS = ["api.example.com"]

    response = client.get(path, HTTP_HOST="evil.example")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response["X-Content-Type-Options"] == "nosniff"


def test_metrics_say_nosniff(db, client, settings):
    settings.METRICS_TOKEN = "scrape-token-for-tests"

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-for-tests")

    assert response.status_code == HTTPStatus.OK
    assert response["X-Content-Type-Options"] == "nosniff"


def test_hsts_is_sent_over_https_when_configured(db, client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000

    response = client.get("/healthz", secure=True)

    assert response["Strict-Transport-Security"] == "max-age=31536000"


def test_the_https_redirect_spares_the_probes(db, client, settings):
    settings.SECURE_SSL_REDIRECT = True

    probes = [client.get(path).status_code for path in ("/healthz", "/readyz")]
    api = client.get(reverse("project-list"))

    assert probes == [HTTPStatus.OK, HTTPStatus.OK]
    assert api.status_code == HTTPStatus.MOVED_PERMANENTLY
    assert api["Location"].startswith("https://")
