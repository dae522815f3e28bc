"""`Idempotency-Key` on every POST (docs/api.md, "Retries: Idempotency-Key";
apiproject.api.idempotency)."""

import json
import threading
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.core.management import call_command
from django.db import OperationalError, connection, connections
from django.urls import reverse

from apikeys.models import APIKey
from apiproject.api.idempotency import CLAIM_IDLE_TIMEOUT
from apiproject.api.models import IdempotencyRecord
from projects.models import Project
from tests.concurrency import in_background, simultaneously
from tests.factories import APIKeyFactory
from tests.kit import bearer_client
from users.models import User

KEYS_URL = reverse("apikey-list")
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


def test_a_request_that_fails_after_its_work_undoes_the_work_and_keeps_nothing(
    user, user_client, monkeypatch
):
    from projects import views

    real_create = views.project_create

    def create_then_fail(**kwargs):
        real_create(**kwargs)
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "project_create", create_then_fail)
    assert post(user_client, {"name": "Apollo"}).status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    monkeypatch.undo()

    # The work and its kept answer commit together, or neither does.
    assert not Project.objects.exists()
    assert not IdempotencyRecord.objects.exists()
    assert post(user_client, {"name": "Apollo"}).status_code == HTTPStatus.CREATED


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
    # 415 comes before a 400 (docs/api.md, "Order of checks").
    response = user_client.post(
        PROJECTS_URL, data="name=x", content_type="text/plain", HTTP_IDEMPOTENCY_KEY=""
    )

    assert response.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE


def test_a_key_on_another_method_is_ignored(user_client):
    response = user_client.get(PROJECTS_URL, headers={"Idempotency-Key": ""})

    assert response.status_code == HTTPStatus.OK


# --- Real races and real failures, on PostgreSQL -------------------------------------------------
# Each request commits on its own here, and a second one comes from another connection: a claim
# still held by a transaction that ended would show.


def create_slowly(
    monkeypatch, *, then_unreachable: bool = False
) -> tuple[threading.Event, threading.Event, list[int]]:
    """Makes project creation announce itself (`working`), then wait for `go_on`; the
    database connections of the requests that reached the work are listed (backend pids).
    `then_unreachable`: after the wait, the request cannot connect to the database again."""
    from projects import views

    real_create = views.project_create
    working, go_on, backends = threading.Event(), threading.Event(), []

    def create(**kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backends.append(cursor.fetchone()[0])
        working.set()
        go_on.wait(timeout=10)
        if then_unreachable:
            # This thread's own connection handler, dropped with the thread.
            connections["default"].get_new_connection = unreachable
        return real_create(**kwargs)

    monkeypatch.setattr(views, "project_create", create)
    return working, go_on, backends


def unreachable(*args, **kwargs):
    raise OperationalError("connection refused")


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
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_ten_simultaneous_key_issues_with_one_key_issue_one_and_show_it_once(user):
    plaintext_key = APIKeyFactory(owner=user).plaintext

    def send(client):
        response = post(client, {"name": "ci"}, key="issue", url=KEYS_URL)
        return response.status_code, response.content.decode()

    outcomes = simultaneously(plaintext_key, [send] * 10)

    issued = [json.loads(body) for status, body in outcomes if status == HTTPStatus.CREATED]
    assert len(issued) == 1, outcomes
    assert APIKey.objects.filter(owner=user).count() == 2  # the caller's and the new one
    others = [
        (status, json.loads(body)) for status, body in outcomes if status != HTTPStatus.CREATED
    ]
    assert {status for status, _ in others} == {HTTPStatus.CONFLICT}, outcomes
    assert all(body["error"]["code"] == "conflict" for _, body in others)
    assert all(issued[0]["key"] not in json.dumps(body) for _, body in others)


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_while_the_first_request_is_in_progress_another_gets_409_and_does_nothing(
    user, monkeypatch
):
    plaintext_key = APIKeyFactory(owner=user).plaintext
    working, go_on, backends = create_slowly(monkeypatch)
    body = {"name": "Apollo"}

    with in_background(plaintext_key, lambda client: post(client, body, key="busy")) as first:
        assert working.wait(timeout=10)
        client = bearer_client(plaintext_key)
        same = post(client, body, key="busy")
        other = post(client, {"name": "Gemini"}, key="busy")
        go_on.set()
        assert first.result(timeout=30).status_code == HTTPStatus.CREATED

    assert same.status_code == other.status_code == HTTPStatus.CONFLICT
    assert same.json()["error"] == {
        "code": "conflict",
        "message": "The request conflicts with the current state of the resource",
        "details": "A request with this Idempotency-Key is still being processed: retry "
        "once it has finished.",
    }
    assert len(backends) == 1  # neither reached the work
    assert list(Project.objects.values_list("name", flat=True)) == ["Apollo"]
    assert post(client, body, key="busy")["Idempotent-Replayed"] == "true"


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("failure", [HTTPStatus.BAD_REQUEST, HTTPStatus.INTERNAL_SERVER_ERROR])
def test_a_failed_request_leaves_the_key_free_for_a_retry_from_anywhere(user, monkeypatch, failure):
    plaintext_key = APIKeyFactory(owner=user).plaintext
    body = {"name": "Apollo"}
    if failure == HTTPStatus.BAD_REQUEST:
        body = {"name": ""}
    else:
        monkeypatch.setattr("projects.views.project_create", lambda **kwargs: 1 / 0)
    assert post(bearer_client(plaintext_key), body, key="k").status_code == failure
    monkeypatch.undo()

    with in_background(
        plaintext_key, lambda client: post(client, {"name": "Apollo"}, key="k")
    ) as retry:
        response = retry.result(timeout=30)

    assert response.status_code == HTTPStatus.CREATED
    assert "Idempotent-Replayed" not in response


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_after_a_503_for_an_unreachable_database_the_retry_is_done_not_409(user, monkeypatch):
    plaintext_key = APIKeyFactory(owner=user).plaintext
    working, go_on, backends = create_slowly(monkeypatch, then_unreachable=True)
    body = {"name": "Apollo"}
    client = bearer_client(plaintext_key)

    with in_background(plaintext_key, lambda other: post(other, body, key="lost")) as first:
        assert working.wait(timeout=10)
        assert post(client, body, key="lost").status_code == HTTPStatus.CONFLICT
        # The database drops the request's connection mid-request and refuses a new one, as
        # when it is frozen or gone: nothing of the request can be cleaned up afterwards.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [backends[0]])
        go_on.set()
        assert first.result(timeout=30).status_code == HTTPStatus.SERVICE_UNAVAILABLE
    monkeypatch.undo()

    # The database answers this request: no lease to wait out, the retry is done now.
    retry = post(client, body, key="lost")
    assert retry.status_code == HTTPStatus.CREATED
    assert "Idempotent-Replayed" not in retry
    assert Project.objects.filter(owner=user).count() == 1


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "Apollo"}, HTTPStatus.CREATED),
        ({"name": "Apollo", "x": 1}, HTTPStatus.BAD_REQUEST),
    ],
)
def test_nothing_of_a_claim_outlives_its_transaction_on_the_connection(
    user, monkeypatch, body, status
):
    # Through PgBouncer's transaction pooling, the next transaction on this server connection
    # may be another client's: it must find no lock and no setting of ours.
    from projects import views

    real_create = views.project_create
    during = []

    def create(**kwargs):
        during.append(connection_state())
        return real_create(**kwargs)

    monkeypatch.setattr(views, "project_create", create)
    client = bearer_client(APIKeyFactory(owner=user).plaintext)

    assert post(client, body, key="k").status_code == status

    if status == HTTPStatus.CREATED:
        assert during == [(1, CLAIM_IDLE_TIMEOUT)]
    assert connection_state() == (0, "0")


def connection_state() -> tuple[int, str]:
    """The advisory locks this connection holds, and its idle-in-transaction timeout."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        (locks,) = cursor.fetchone()
        cursor.execute("SHOW idle_in_transaction_session_timeout")
        (timeout,) = cursor.fetchone()
    return locks, timeout
