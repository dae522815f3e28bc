"""Contract section 4, Retries: `Idempotency-Key` on every POST (apiproject.api.idempotency)."""

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from apiproject.api.models import IdempotencyRecord
from projects.models import Project
from tests.concurrency import simultaneously
from tests.factories import APIKeyFactory
from users.models import User

PROJECTS_URL = reverse("project-list")
USERS_URL = reverse("user-list")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def post(client, body: object, key: str | None = "retry-1", url: str = PROJECTS_URL):
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post(url, body, format="json", headers=headers)


def test_a_retry_gets_the_first_answer_again_and_creates_nothing(user, user_client):
    first = post(user_client, {"name": "Apollo"})

    retry = post(user_client, {"name": "Apollo"})

    assert first.status_code == retry.status_code == HTTPStatus.CREATED
    assert retry.json() == first.json()
    assert retry["Location"] == first["Location"]
    assert retry["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Project.objects.filter(owner=user).count() == 1


def test_a_retry_with_the_body_reordered_and_respaced_is_the_same_request(user, user_client):
    first = user_client.post(
        PROJECTS_URL,
        data='{"name": "Apollo", "description": "x"}',
        content_type="application/json",
        headers={"Idempotency-Key": "k"},
    )
    retry = user_client.post(
        f"{PROJECTS_URL}/",
        data='{ "description":"x",\n "name":"Apollo" }',
        content_type="application/json",
        headers={"Idempotency-Key": "k"},
    )

    assert retry.status_code == HTTPStatus.CREATED
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert Project.objects.filter(owner=user).count() == 1


def test_a_replay_counts_against_the_rate_limit(user_client):
    first = post(user_client, {"name": "Apollo"})

    retry = post(user_client, {"name": "Apollo"})

    remaining = int(first["X-RateLimit-Remaining"])
    assert int(retry["X-RateLimit-Remaining"]) == remaining - 1


@pytest.mark.parametrize(
    ("body", "url"),
    [({"name": "Gemini"}, PROJECTS_URL), ({"name": "Apollo", "description": ""}, PROJECTS_URL)],
)
def test_the_same_key_with_another_body_is_422(user, user_client, body, url):
    post(user_client, {"name": "Apollo"})

    response = post(user_client, body, url=url)

    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.json()["error"] == {
        "code": "idempotency_key_reused",
        "message": "The idempotency key was used for another request",
        "details": "This Idempotency-Key was used for a request with another method, path or body.",
    }
    assert Project.objects.filter(owner=user).count() == 1


def test_the_same_key_on_another_path_is_422(staff_user, staff_client):
    post(staff_client, {"name": "Apollo"})

    response = post(
        staff_client,
        {"name": "Apollo"},
        url=USERS_URL,
    )

    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY


def test_a_key_is_per_user(user, user_client, client_for):
    other = User.objects.create(username="other", email="other@example.com")
    post(user_client, {"name": "Apollo"})

    response = post(client_for(other), {"name": "Apollo"})

    assert response.status_code == HTTPStatus.CREATED
    assert "Idempotent-Replayed" not in response
    assert Project.objects.count() == 2


def test_a_failed_request_keeps_nothing_and_can_be_retried_with_the_same_key(user, user_client):
    failed = post(user_client, {"name": ""})
    assert failed.status_code == HTTPStatus.BAD_REQUEST
    assert not IdempotencyRecord.objects.exists()

    # The same key, now with a body that works: a failure kept nothing to compare with.
    response = post(user_client, {"name": "Apollo"})

    assert response.status_code == HTTPStatus.CREATED
    assert "Idempotent-Replayed" not in response


def test_a_request_that_ends_in_a_500_keeps_nothing(user, user_client, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("projects.views.project_create", broken)
    assert post(user_client, {"name": "Apollo"}).status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    monkeypatch.undo()

    assert not IdempotencyRecord.objects.exists()
    assert post(user_client, {"name": "Apollo"}).status_code == HTTPStatus.CREATED


def test_while_the_first_request_is_in_progress_another_gets_409_and_does_nothing(
    user, user_client, clock
):
    # The claim another process holds while it works on the first request.
    body = {"name": "Apollo"}
    claimed_by_another_request(user, "busy", body)

    same = post(user_client, body, key="busy")
    other = post(user_client, {"name": "Gemini"}, key="busy")

    assert same.status_code == HTTPStatus.CONFLICT
    assert same.json()["error"]["code"] == "conflict"
    assert other.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert not Project.objects.exists()


def claimed_by_another_request(user, key: str, body: dict) -> None:
    """The claim another process holds on `key` while it works on a request with `body`."""
    IdempotencyRecord.objects.create(
        user=user,
        key=key,
        fingerprint=_fingerprint_of(body),
        claimed_at=timezone.now(),
        expires_at=timezone.now() + timedelta(days=1),
    )


def _fingerprint_of(body: dict) -> str:
    from django.test import RequestFactory
    from rest_framework.parsers import JSONParser
    from rest_framework.request import Request

    from apiproject.api.idempotency import request_fingerprint

    request = Request(
        RequestFactory().post(PROJECTS_URL, body, content_type="application/json"),
        parsers=[JSONParser()],
    )
    return request_fingerprint(request)


def test_a_claim_left_by_a_request_that_died_is_taken_over_after_its_lease(
    user, user_client, clock
):
    body = {"name": "Apollo"}
    claimed_by_another_request(user, "orphan", body)
    assert post(user_client, body, key="orphan").status_code == HTTPStatus.CONFLICT

    clock.shift(timedelta(minutes=3))
    response = post(user_client, body, key="orphan")

    assert response.status_code == HTTPStatus.CREATED
    assert post(user_client, body, key="orphan")["Idempotent-Replayed"] == "true"


def test_an_expired_answer_is_never_replayed(user, user_client, clock):
    post(user_client, {"name": "Apollo"})

    clock.shift(timedelta(hours=24))
    response = post(user_client, {"name": "Apollo"})

    # Done again: the name is taken now, and the work's own answer says so.
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Idempotent-Replayed" not in response


def test_an_answer_is_kept_for_24_hours(user, user_client, clock):
    post(user_client, {"name": "Apollo"})

    clock.shift(timedelta(hours=24) - timedelta(seconds=1))

    assert post(user_client, {"name": "Apollo"})["Idempotent-Replayed"] == "true"


def test_the_purge_command_deletes_expired_records_only(user, user_client, clock):
    post(user_client, {"name": "Apollo"}, key="old")
    clock.shift(timedelta(hours=12))
    post(user_client, {"name": "Gemini"}, key="new")
    clock.shift(timedelta(hours=12))

    call_command("purgeidempotencykeys", verbosity=0)

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_user_creation_is_idempotent_too(staff_client):
    body = {"username": "newuser", "email": "new@example.com", "password": "a-Long-passw0rd"}
    first = post(staff_client, body, url=USERS_URL)

    retry = post(staff_client, body, url=USERS_URL)

    assert first.status_code == HTTPStatus.CREATED
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert retry["Location"] == first["Location"]
    assert User.objects.filter(username="newuser").count() == 1


def test_without_the_header_every_post_is_done(user, user_client):
    post(user_client, {"name": "Apollo"}, key=None)
    post(user_client, {"name": "Gemini"}, key=None)

    assert Project.objects.filter(owner=user).count() == 2
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\tin"])
def test_a_malformed_key_is_400_naming_the_header(user, user_client, key):
    response = user_client.post(
        PROJECTS_URL,
        data='{"name": "Apollo"}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key.encode().decode("latin-1"),
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["details"].startswith(
        "The 'Idempotency-Key' field is invalid: "
    )
    assert not Project.objects.exists()


@pytest.mark.parametrize("key", ["a", "x" * 255, "order 42: retry ~1"])
def test_a_key_of_printable_ascii_up_to_255_characters_is_accepted(user_client, key):
    assert post(user_client, {"name": "Apollo"}, key=key).status_code == HTTPStatus.CREATED


def test_the_key_is_judged_after_the_body(user_client):
    # Contract section 5: 415 comes before a 400.
    response = user_client.post(
        PROJECTS_URL, data="name=x", content_type="text/plain", HTTP_IDEMPOTENCY_KEY=""
    )

    assert response.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE


def test_a_key_on_another_method_is_ignored(user_client):
    response = user_client.get(PROJECTS_URL, headers={"Idempotency-Key": ""})

    assert response.status_code == HTTPStatus.OK


# --- A real race, on PostgreSQL ------------------------------------------------------------------


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_ten_simultaneous_requests_with_one_key_make_one_project(user):
    plaintext_key = APIKeyFactory(owner=user).plaintext

    def send(client):
        response = post(client, {"name": "Apollo"}, key="race")
        return response.status_code, response.get("Idempotent-Replayed")

    outcomes = simultaneously(plaintext_key, [send] * 10)

    assert Project.objects.filter(owner=user).count() == 1
    assert outcomes.count((HTTPStatus.CREATED, None)) == 1, outcomes
    others = [outcome for outcome in outcomes if outcome != (HTTPStatus.CREATED, None)]
    assert all(
        outcome in {(HTTPStatus.CONFLICT, None), (HTTPStatus.CREATED, "true")} for outcome in others
    ), outcomes
