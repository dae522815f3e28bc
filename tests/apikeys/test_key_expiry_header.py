"""API-Key-Expires (docs/api.md, "The key's expiry"): on every answer counted against a key
that has an expiry, the key's expires_at as an IMF-fixdate; never for a key without one, never
on a 401 or a 406."""

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine

from tests.factories import APIKeyFactory
from tests.kit import bearer_client

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
EXPIRES_AT = datetime(2026, 12, 15, 8, 0, tzinfo=UTC)
IMF_FIXDATE = "Tue, 15 Dec 2026 08:00:00 GMT"
HEADER = "API-Key-Expires"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def expiring(user):
    return APIKeyFactory(owner=user, expires_at=EXPIRES_AT, rate_limit="3/m")


ANSWERS_COUNTED_AGAINST_THE_KEY = {
    "ok": (lambda client: client.get("/api/v1/projects"), HTTPStatus.OK),
    "created": (lambda client: client.post("/api/v1/projects", {"name": "a"}, "json"), 201),
    "the operation's own 404": (
        lambda client: client.get("/api/v1/projects/project-0"),
        HTTPStatus.NOT_FOUND,
    ),
    "405": (lambda client: client.put("/api/v1/projects", {}, "json"), 405),
    "400": (lambda client: client.get("/api/v1/projects?page=0"), HTTPStatus.BAD_REQUEST),
}


@pytest.mark.parametrize("answer", ANSWERS_COUNTED_AGAINST_THE_KEY)
def test_every_counted_answer_of_a_key_with_an_expiry_says_when_it_expires(expiring, answer):
    send, status = ANSWERS_COUNTED_AGAINST_THE_KEY[answer]

    response = send(bearer_client(expiring.plaintext))

    assert response.status_code == status
    assert response[HEADER] == IMF_FIXDATE


def test_the_429_says_it_too(expiring):
    client = bearer_client(expiring.plaintext)
    for _ in range(3):
        client.get("/api/v1/projects")

    refused = client.get("/api/v1/projects")

    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert refused[HEADER] == IMF_FIXDATE


def test_a_key_without_an_expiry_gets_no_header(user):
    response = bearer_client(APIKeyFactory(owner=user).plaintext).get("/api/v1/projects")

    assert response.status_code == HTTPStatus.OK
    assert HEADER not in response


def test_a_rolled_key_says_when_its_grace_ends(user):
    old = APIKeyFactory(owner=user)
    client = bearer_client(old.plaintext)
    client.post(f"/api/v1/keys/{old.prefix}/roll", {"grace_seconds": 3600}, "json")

    response = client.get("/api/v1/projects")

    assert response[HEADER] == "Mon, 07 Dec 2026 13:00:00 GMT"


def test_no_header_on_a_401_or_a_406(expiring):
    client = bearer_client(expiring.plaintext)
    expired = APIKeyFactory(owner=expiring.owner, expires_at=NOW + timedelta(seconds=1))

    with time_machine.travel(NOW + timedelta(seconds=2), tick=False):
        refused = bearer_client(expired.plaintext).get("/api/v1/projects")
    not_acceptable = client.get("/api/v1/projects", HTTP_ACCEPT="text/html")

    assert refused.status_code == HTTPStatus.UNAUTHORIZED
    assert not_acceptable.status_code == HTTPStatus.NOT_ACCEPTABLE
    assert HEADER not in refused
    assert HEADER not in not_acceptable
