"""Key events (docs/api.md, "Key events"): written by the key services in the transaction that
makes the change, whichever door (the API, the admin, the commands), with who acted (kept by
name), the door and the address; outliving the staff account that acted; read through
GET /keys/{key_id}/events, newest first, paged."""

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.db import DatabaseError

from apikeys.models import APIKey, APIKeyQuerySet, KeyEvent
from tests.apikeys.admin_pages import (
    ADD_URL,
    CHANGELIST_URL,
    action_form,
    add_form,
    change_form,
    change_url,
    revoke_url,
)
from tests.factories import APIKeyFactory, UserFactory
from tests.kit import bearer_client, run_command

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def events_of(api_key: APIKey) -> list[tuple]:
    """(type, via, actor_name, ip, details), newest first."""
    return list(
        KeyEvent.objects.filter(api_key_id=api_key.pk).values_list(
            "type", "via", "actor_name", "ip", "details"
        )
    )


def by_prefix(prefix: str) -> APIKey:
    return APIKey.objects.get(prefix=prefix)


# --- through the API ------------------------------------------------------------------------------


def test_a_key_issued_through_the_api_records_who_and_from_where(user):
    response = bearer_client(APIKeyFactory(owner=user).plaintext).post(
        "/api/v1/keys", {"name": "ci"}, "json", REMOTE_ADDR="203.0.113.9"
    )

    assert events_of(by_prefix(response.json()["id"])) == [
        ("issued", "api", user.username, "203.0.113.9", {})
    ]


def test_a_roll_records_it_on_the_old_key_and_the_issue_on_the_new(user):
    old = APIKeyFactory(owner=user)
    response = bearer_client(old.plaintext).post(
        f"/api/v1/keys/{old.prefix}/roll", {"grace_seconds": 600}, "json"
    )
    successor = response.json()["id"]

    assert events_of(old)[0] == (
        "rolled",
        "api",
        user.username,
        "127.0.0.1",
        {"successor": successor, "grace_ends_at": "2026-12-07T12:10:00Z"},
    )
    assert events_of(by_prefix(successor)) == [("issued", "api", user.username, "127.0.0.1", {})]


def test_a_revocation_through_the_api_records_the_user(user):
    api_key = APIKeyFactory(owner=user)

    bearer_client(api_key.plaintext).delete(f"/api/v1/keys/{api_key.prefix}")

    assert events_of(api_key)[0] == ("revoked", "api", user.username, "127.0.0.1", {})


# --- through the admin ----------------------------------------------------------------------------


def test_a_key_issued_in_the_admin_records_the_staff_member(superuser_client, superuser, user):
    superuser_client.post(ADD_URL, add_form(user, name="from admin"))

    (api_key,) = APIKey.objects.filter(owner=user)
    assert events_of(api_key) == [("issued", "admin", superuser.username, "127.0.0.1", {})]


def test_a_change_in_the_admin_names_what_changed_once_per_save(superuser_client, user):
    api_key = APIKeyFactory(owner=user, name="old")

    superuser_client.post(
        change_url(api_key),
        change_form(
            api_key,
            name="new",
            rate_limit="250/m",
            expires_at_0="2027-01-01",
            expires_at_1="00:00:00",
        ),
    )

    (changed, issued) = events_of(api_key)
    assert changed == (
        "changed",
        "admin",
        "root",
        "127.0.0.1",
        {
            "changes": [
                {"field": "name", "from": "old", "to": "new"},
                {"field": "rate_limit", "from": "100/m", "to": "250/m"},
                {"field": "expires_at", "from": None, "to": "2027-01-01T00:00:00Z"},
            ]
        },
    )
    assert issued[0] == "issued"


def test_a_save_that_changes_nothing_records_nothing(superuser_client, user):
    api_key = APIKeyFactory(owner=user, name="same")

    superuser_client.post(change_url(api_key), change_form(api_key))

    assert [event[0] for event in events_of(api_key)] == ["issued"]


@pytest.mark.parametrize("how", ["button", "action"])
def test_a_revocation_in_the_admin_records_the_staff_member(superuser_client, user, how):
    api_key = APIKeyFactory(owner=user)

    if how == "button":
        superuser_client.post(revoke_url(api_key))
    else:
        superuser_client.post(CHANGELIST_URL, action_form(api_key))

    assert events_of(api_key)[0] == ("revoked", "admin", "root", "127.0.0.1", {})


def test_an_event_outlives_the_staff_account_that_acted(client, user):
    staff = UserFactory(staff=True, is_superuser=True, username="leaving")
    client.force_login(staff)
    api_key = APIKeyFactory(owner=user)
    client.post(revoke_url(api_key))

    staff.delete()

    event = KeyEvent.objects.get(api_key=api_key, type="revoked")
    assert (event.actor_id, event.actor_name) == (None, "leaving")
    api_key.refresh_from_db()
    assert api_key.revoked_by is None  # the link went with the account; the event keeps the name


# --- through the commands -------------------------------------------------------------------------


def test_the_commands_record_the_operator_without_a_name_or_address(user):
    printed, _ = run_command("createapikey", user.username)
    prefix = printed.splitlines()[-1].split("_")[1]

    run_command("revokeapikey", prefix)

    assert events_of(by_prefix(prefix)) == [
        ("revoked", "command", None, None, {}),
        ("issued", "command", None, None, {}),
    ]


# --- in the change's transaction ------------------------------------------------------------------


def test_a_change_that_fails_leaves_no_event(user, monkeypatch):
    api_key = APIKeyFactory(owner=user)
    real_update = APIKeyQuerySet.update

    def update(self, **changes):
        if "expires_at" in changes:
            raise DatabaseError("the database went away")
        return real_update(self, **changes)

    monkeypatch.setattr(APIKeyQuerySet, "update", update)

    response = bearer_client(api_key.plaintext).post(
        f"/api/v1/keys/{api_key.prefix}/roll", {}, "json"
    )

    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert [event[0] for event in events_of(api_key)] == ["issued"]
    assert KeyEvent.objects.count() == 1  # nor an `issued` of a successor


# --- GET /keys/{key_id}/events --------------------------------------------------------------------


def test_events_are_answered_newest_first_with_every_field(user, clock):
    api_key = APIKeyFactory(owner=user)
    client = bearer_client(api_key.plaintext)
    clock.shift(timedelta(minutes=1))
    client.delete(f"/api/v1/keys/{api_key.prefix}")
    reader = bearer_client(APIKeyFactory(owner=user).plaintext)

    response = reader.get(f"/api/v1/keys/{api_key.prefix}/events")

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert (body["total"], body["page"], body["limit"]) == (2, 1, 20)
    assert body["data"] == [
        {
            "type": "revoked",
            "at": "2026-12-07T12:01:00Z",
            "actor": user.username,
            "via": "api",
            "ip": "127.0.0.1",
            "details": {},
        },
        {
            "type": "issued",
            "at": "2026-12-07T12:00:00Z",
            "actor": None,
            "via": "command",
            "ip": None,
            "details": {},
        },
    ]


def test_events_are_paged_with_a_link_header(user):
    api_key = APIKeyFactory(owner=user)
    client = bearer_client(api_key.plaintext)
    for name in ("a", "b", "c"):
        client.post("/api/v1/keys", {"name": name}, "json")  # events of other keys
    client.post(f"/api/v1/keys/{api_key.prefix}/roll", {"grace_seconds": 0}, "json")
    reader = bearer_client(APIKeyFactory(owner=user).plaintext)

    response = reader.get(f"/api/v1/keys/{api_key.prefix}/events?limit=1&page=2")

    assert response.json()["total"] == 2
    assert [event["type"] for event in response.json()["data"]] == ["issued"]
    assert 'rel="prev"' in response["Link"] and 'rel="next"' not in response["Link"]


def test_another_users_key_is_answered_like_an_unknown_one(user):
    others = APIKeyFactory(owner=UserFactory())
    client = bearer_client(APIKeyFactory(owner=user).plaintext)

    theirs = client.get(f"/api/v1/keys/{others.prefix}/events")
    unknown = client.get("/api/v1/keys/A1b2C3d4/events")

    assert theirs.status_code == unknown.status_code == HTTPStatus.NOT_FOUND
    assert theirs.json()["error"]["code"] == unknown.json()["error"]["code"] == "not_found"


def test_a_bad_page_is_400_before_the_keys_404(user):
    client = bearer_client(APIKeyFactory(owner=user).plaintext)

    response = client.get("/api/v1/keys/A1b2C3d4/events?page=0")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "page" in response.json()["error"]["fields"]
