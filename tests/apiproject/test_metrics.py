"""/metrics (docs/operations.md, "Logs and metrics"): Prometheus text for the token's bearer, an
unknown path's 404 for anyone else."""

from http import HTTPStatus

import pytest
from django.urls import reverse

TOKEN = "scrape-token-for-tests"


@pytest.fixture
def metrics_token(settings) -> str:
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def test_the_scraper_gets_requests_by_operation_and_status(db, client, metrics_token):
    client.get(reverse("project-list"))
    client.get(reverse("project-list"), HTTP_AUTHORIZATION="Bearer wrong")

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}")

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'api_requests_total{operation="project-list",status="401"}' in text
    assert "api_request_duration_seconds_bucket" in text
    assert "api_authentication_failures_total" in text
    assert "api_rate_limited_total" in text
    assert "api_cache_fail_open_total" in text
    assert "api_database_unavailable_total" in text


def test_a_path_with_an_id_is_labelled_by_its_route(user, user_client, metrics_token, client):
    user_client.get(reverse("user-detail", kwargs={"user_id": user.pk}))

    text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}").content.decode()

    assert 'operation="user-detail"' in text
    assert f"/{user.pk}" not in text


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Bearer {TOKEN}x", TOKEN])
def test_anyone_else_gets_an_unknown_paths_answer(db, client, metrics_token, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    metrics = client.get("/metrics", **headers)
    unknown = client.get("/no-such-path", **headers)

    assert metrics.status_code == unknown.status_code == HTTPStatus.NOT_FOUND
    assert metrics.content == unknown.content.replace(b"/no-such-path", b"/metrics")
    assert metrics["Content-Type"] == unknown["Content-Type"]


def test_without_a_token_configured_nobody_gets_metrics(db, client, settings):
    settings.METRICS_TOKEN = ""

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ")

    assert response.status_code == HTTPStatus.NOT_FOUND
