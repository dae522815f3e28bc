from http import HTTPStatus

import pytest


@pytest.mark.django_db
def test_healthz_is_ok_without_a_key(anonymous_client):
    response = anonymous_client.get("/healthz")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_the_database_and_the_cache(anonymous_client):
    response = anonymous_client.get("/readyz")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_whatever_the_host(anonymous_client, path):
    response = anonymous_client.get(path, HTTP_HOST="10.1.2.3:8000")

    assert response.status_code == HTTPStatus.OK


@pytest.mark.django_db
def test_probes_refuse_other_methods_with_the_envelope(anonymous_client):
    response = anonymous_client.post("/readyz")

    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD"
