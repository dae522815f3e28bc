"""Verifying keys (docs/api.md, "Verifying a key") with key records cached in Redis
(apikeys.keycache): no query to authenticate a known key, unknown prefixes cached too, and every
change that must stop or narrow a key (revoked, rolled past its grace, expired, edited, its user
deactivated or deleted) takes effect on the very next request, through the API, the admin and the
commands, with Redis up and with Redis down."""

import hashlib
import hmac
from collections.abc import Callable
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apikeys import keys
from apikeys.keycache.store import record_key
from apikeys.models import KeyCacheChange
from apikeys.services import IssuedAPIKey, apikey_issue
from projects.scopes import PROJECTS_READ
from tests.factories import UserFactory, forged_key
from tests.kit import REFUSING_REDIS_URL, redis_cache
from tests.users.admin_pages import change_form, change_url, keys_inline
from users.models import User
from users.scopes import USERS_READ

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

PROJECTS_URL = reverse("project-list")
ME_URL = reverse("user-me")


def api_client(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


@pytest.fixture
def take_redis_down(settings) -> Callable[[], None]:
    """Makes the cache a Redis that refuses every connection from then on (changing CACHES
    makes Django forget its cache connections)."""

    def down() -> None:
        settings.CACHES = redis_cache(REFUSING_REDIS_URL)

    return down


@pytest.fixture
def owner(db: None) -> User:
    return UserFactory()


@pytest.fixture
def issued(owner: User) -> IssuedAPIKey:
    return apikey_issue(owner=owner)


@pytest.fixture
def superuser_client(client: Client) -> Client:
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def cached(prefix: str) -> bool:
    from django_redis import get_redis_connection

    return get_redis_connection("default").exists(record_key(prefix)) == 1


# --- the cache at work ------------------------------------------------------------------------


def test_a_cached_key_is_authenticated_without_a_query(issued):
    client = api_client(issued.plaintext)
    client.get(ME_URL)  # fills the record, refreshes last_used_at

    with CaptureQueriesContext(connection) as queries:
        response = client.get(ME_URL)

    assert response.status_code == HTTPStatus.OK
    assert response.json()["username"] == issued.api_key.owner.username
    assert queries.captured_queries == []
    assert cached(issued.api_key.prefix)


def test_a_cached_key_still_counts_and_carries_every_header(issued):
    client = api_client(issued.plaintext)
    first, second = client.get(PROJECTS_URL), client.get(PROJECTS_URL)

    assert first["X-RateLimit-Remaining"] == "99"
    assert second["X-RateLimit-Remaining"] == "98"
    assert second["X-RateLimit-Limit"] == "100"
    assert second["X-RateLimit-Reset"] == first["X-RateLimit-Reset"]
    assert second["RateLimit-Policy"] == '"key";q=100;w=60'
    assert second["RateLimit"].startswith('"key";r=98;t=')


def test_a_cached_key_is_refused_past_its_limit(owner):
    issued = apikey_issue(owner=owner, rate_limit="3/m")
    client = api_client(issued.plaintext)

    statuses = [client.get(PROJECTS_URL).status_code for _ in range(5)]

    assert statuses == [HTTPStatus.OK] * 3 + [HTTPStatus.TOO_MANY_REQUESTS] * 2


def test_a_wrong_secret_for_a_cached_prefix_is_refused_and_not_counted(issued):
    client = api_client(issued.plaintext)
    client.get(PROJECTS_URL)

    forged = api_client(forged_key(issued.api_key.prefix)).get(PROJECTS_URL)

    assert forged.status_code == HTTPStatus.UNAUTHORIZED
    assert client.get(PROJECTS_URL)["X-RateLimit-Remaining"] == "98"


def test_an_unknown_prefix_is_cached_like_a_known_one(db):
    plaintext = forged_key()
    api_client(plaintext).get(PROJECTS_URL)

    with CaptureQueriesContext(connection) as queries:
        response = api_client(plaintext).get(PROJECTS_URL)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert queries.captured_queries == []
    assert cached(keys.checked_prefix(plaintext))


def test_an_unknown_prefix_is_cached_as_long_as_a_known_one(issued):
    """A probe that waits between two tries cannot tell a known prefix from an unknown one by
    which of them is still cached."""
    from django_redis import get_redis_connection

    unknown = forged_key()
    api_client(unknown).get(PROJECTS_URL)
    api_client(forged_key(issued.api_key.prefix)).get(PROJECTS_URL)  # known, wrong secret

    redis = get_redis_connection("default")
    lives = [
        redis.pttl(record_key(prefix))
        for prefix in (keys.checked_prefix(unknown), issued.api_key.prefix)
    ]
    assert all(55_000 < life <= 60_000 for life in lives), lives


def test_an_unknown_cached_prefix_still_compares_a_digest(db, monkeypatch):
    plaintext = forged_key()
    api_client(plaintext).get(PROJECTS_URL)
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(b) or real(a, b))

    api_client(plaintext).get(PROJECTS_URL)

    assert hashlib.sha256(plaintext.encode()).hexdigest() in calls


def test_a_key_issued_for_a_prefix_cached_as_unknown_works_at_once(owner, monkeypatch):
    plaintext = forged_key()
    prefix = keys.checked_prefix(plaintext)
    api_client(plaintext).get(PROJECTS_URL)  # cached as unknown
    monkeypatch.setattr(keys, "generate_prefix", lambda: prefix)

    issued = apikey_issue(owner=owner)

    assert api_client(issued.plaintext).get(PROJECTS_URL).status_code == HTTPStatus.OK


def test_last_used_at_is_written_at_most_once_a_minute_from_the_cache(issued):
    client = api_client(issued.plaintext)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client.get(PROJECTS_URL)
        for seconds in (10, 30, 59):
            clock.move_to(start + timedelta(seconds=seconds))
            with CaptureQueriesContext(connection) as queries:
                client.get(PROJECTS_URL)
            assert not [q for q in queries if q["sql"].startswith("UPDATE")], seconds
        clock.move_to(start + timedelta(seconds=61))
        with CaptureQueriesContext(connection) as queries:
            client.get(PROJECTS_URL)

    updates = [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1 and "last_used_at" in updates[0]
    issued.api_key.refresh_from_db()
    assert issued.api_key.last_used_at == start + timedelta(seconds=61)


def test_a_cached_user_is_a_saved_user_whose_other_fields_load_on_demand(issued, owner):
    client = api_client(issued.plaintext)
    client.get(ME_URL)

    response = client.get(reverse("user-detail", args=[owner.pk]))

    assert response.json() == {
        "id": str(owner.pk),
        "username": owner.username,
        "email": owner.email,
        "created_at": owner.date_joined.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def test_staff_rights_are_still_checked_for_a_cached_staff_key(db):
    staff = UserFactory(staff=True, permissions=["view_user"])
    other = UserFactory()
    client = api_client(apikey_issue(owner=staff).plaintext)
    client.get(ME_URL)

    response = client.get(reverse("user-detail", args=[other.pk]))

    assert response.status_code == HTTPStatus.OK
    assert response.json()["username"] == other.username


def test_without_redis_no_record_is_cached_in_process_memory(issued, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    client = api_client(issued.plaintext)
    client.get(ME_URL)

    with CaptureQueriesContext(connection) as queries:
        assert client.get(ME_URL).status_code == HTTPStatus.OK

    assert len(queries) == 1  # the key joined to its user, every time


# --- every change takes effect on the very next request ---------------------------------------


def revoke_through_the_api(issued: IssuedAPIKey, superuser_client: Client) -> None:
    response = api_client(issued.plaintext).delete(
        reverse("apikey-detail", args=[issued.api_key.prefix])
    )
    assert response.status_code == HTTPStatus.NO_CONTENT


def revoke_in_admin(issued: IssuedAPIKey, superuser_client: Client) -> None:
    url = reverse("admin:apikeys_apikey_revoke", args=[issued.api_key.pk])
    assert superuser_client.post(url).status_code == HTTPStatus.FOUND


def revoke_with_the_admin_action(issued: IssuedAPIKey, superuser_client: Client) -> None:
    response = superuser_client.post(
        reverse("admin:apikeys_apikey_changelist"),
        {"action": "revoke_selected", "index": "0", "_selected_action": [issued.api_key.pk]},
    )
    assert response.status_code == HTTPStatus.FOUND


def revoke_with_the_command(issued: IssuedAPIKey, superuser_client: Client) -> None:
    call_command("revokeapikey", issued.api_key.prefix, verbosity=0)


def roll_through_the_api_without_grace(issued: IssuedAPIKey, superuser_client: Client) -> None:
    response = api_client(issued.plaintext).post(
        reverse("apikey-roll", args=[issued.api_key.prefix]), {"grace_seconds": 0}, format="json"
    )
    assert response.status_code == HTTPStatus.CREATED


def roll_through_the_api_with_an_idempotency_key(
    issued: IssuedAPIKey, superuser_client: Client
) -> None:
    # The roll runs inside the request's transaction (a savepoint): the same invalidation.
    response = api_client(issued.plaintext).post(
        reverse("apikey-roll", args=[issued.api_key.prefix]),
        {"grace_seconds": 0},
        format="json",
        headers={"Idempotency-Key": "roll-1"},
    )
    assert response.status_code == HTTPStatus.CREATED


def expire_in_admin(issued: IssuedAPIKey, superuser_client: Client) -> None:
    past = timezone.now() - timedelta(minutes=1)
    response = superuser_client.post(
        reverse("admin:apikeys_apikey_change", args=[issued.api_key.pk]),
        {
            "name": issued.api_key.name,
            "expires_at_0": past.strftime("%Y-%m-%d"),
            "expires_at_1": past.strftime("%H:%M:%S"),
            "rate_limit": "",
            "scopes": issued.api_key.scopes,
            "_save": "Save",
        },
    )
    assert response.status_code == HTTPStatus.FOUND, response.content[:2000]


def deactivate_user_in_admin(issued: IssuedAPIKey, superuser_client: Client) -> None:
    owner = issued.api_key.owner
    data = change_form(owner, **keys_inline(owner))
    del data["is_active"]
    response = superuser_client.post(change_url(owner), data)
    assert response.status_code == HTTPStatus.FOUND, response.content[:3000]
    owner.refresh_from_db()
    assert not owner.is_active


def deactivate_user_by_saving_it(issued: IssuedAPIKey, superuser_client: Client) -> None:
    owner = User.objects.get(pk=issued.api_key.owner_id)
    owner.is_active = False
    owner.save()


# Deleting a user who holds keys is refused (APIKey.owner is PROTECT: the keys stay for the
# audit trail), so a deleted user never has a key to refuse.


STOPPING_CHANGES = [
    revoke_through_the_api,
    revoke_in_admin,
    revoke_with_the_admin_action,
    revoke_with_the_command,
    roll_through_the_api_without_grace,
    roll_through_the_api_with_an_idempotency_key,
    expire_in_admin,
    deactivate_user_in_admin,
    deactivate_user_by_saving_it,
]


@pytest.mark.parametrize("redis", ["up", "down"])
@pytest.mark.parametrize("change", STOPPING_CHANGES, ids=lambda change: change.__name__)
def test_a_stopped_key_is_refused_on_the_very_next_request(
    issued, superuser_client, take_redis_down, change, redis
):
    client = api_client(issued.plaintext)
    assert client.get(PROJECTS_URL).status_code == HTTPStatus.OK  # its record is cached now
    assert cached(issued.api_key.prefix)
    if redis == "down":
        take_redis_down()

    change(issued, superuser_client)
    response = client.get(PROJECTS_URL)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("redis", ["up", "down"])
def test_a_key_rolled_with_a_grace_works_until_it_ends_and_not_a_second_longer(
    issued, take_redis_down, redis
):
    client = api_client(issued.plaintext)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client.get(PROJECTS_URL)
        response = client.post(
            reverse("apikey-roll", args=[issued.api_key.prefix]),
            {"grace_seconds": 60},
            format="json",
        )
        assert response.status_code == HTTPStatus.CREATED
        clock.move_to(start + timedelta(seconds=59))
        assert client.get(PROJECTS_URL).status_code == HTTPStatus.OK
        if redis == "down":
            take_redis_down()
        clock.move_to(start + timedelta(seconds=60))
        assert client.get(PROJECTS_URL).status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.parametrize("redis", ["up", "down"])
def test_an_expiring_key_is_refused_from_its_expiry_on(owner, take_redis_down, redis):
    start = timezone.now()
    issued = apikey_issue(owner=owner, expires_at=start + timedelta(hours=1))
    client = api_client(issued.plaintext)
    with time_machine.travel(start, tick=False) as clock:
        assert client.get(PROJECTS_URL).status_code == HTTPStatus.OK
        if redis == "down":
            take_redis_down()
        clock.move_to(start + timedelta(hours=1))
        assert client.get(PROJECTS_URL).status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.parametrize("redis", ["up", "down"])
def test_narrowed_scopes_apply_on_the_very_next_request(
    issued, superuser_client, take_redis_down, redis
):
    client = api_client(issued.plaintext)
    assert client.get(PROJECTS_URL).status_code == HTTPStatus.OK
    if redis == "down":
        take_redis_down()

    response = superuser_client.post(
        reverse("admin:apikeys_apikey_change", args=[issued.api_key.pk]),
        {"name": "", "expires_at_0": "", "expires_at_1": "", "rate_limit": "5/m",
         "scopes": [USERS_READ], "_save": "Save"},
    )  # fmt: skip
    assert response.status_code == HTTPStatus.FOUND

    refused = client.get(PROJECTS_URL)
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert refused.json()["error"]["code"] == "insufficient_scope"
    assert PROJECTS_READ in refused.json()["error"]["details"]
    if redis == "up":
        assert client.get(ME_URL)["X-RateLimit-Limit"] == "5"


def test_a_reactivated_user_is_served_at_once(issued, superuser_client):
    client = api_client(issued.plaintext)
    owner = User.objects.get(pk=issued.api_key.owner_id)
    owner.is_active = False
    owner.save()
    assert client.get(PROJECTS_URL).status_code == HTTPStatus.UNAUTHORIZED  # cached refused

    owner.is_active = True
    owner.save()

    assert client.get(PROJECTS_URL).status_code == HTTPStatus.OK


def test_a_renamed_user_is_shown_renamed_at_once(issued):
    client = api_client(issued.plaintext)
    client.get(ME_URL)
    owner = User.objects.get(pk=issued.api_key.owner_id)
    owner.username = "renamed"
    owner.save()

    assert client.get(ME_URL).json()["username"] == "renamed"


def test_a_login_does_not_drop_the_users_records(issued, client):
    api_client(issued.plaintext).get(ME_URL)
    owner = User.objects.get(pk=issued.api_key.owner_id)
    owner.is_staff = True
    owner.save()
    api_client(issued.plaintext).get(ME_URL)

    client.post(
        reverse("admin:login"),
        {"username": owner.username, "password": "a-Long-test-passw0rd"},
    )  # updates last_login only

    assert cached(issued.api_key.prefix)


# --- Redis failing ----------------------------------------------------------------------------


def test_refusing_redis_serves_a_valid_key_from_the_database_without_headers(
    issued, take_redis_down, caplog
):
    take_redis_down()
    with caplog.at_level("WARNING"):
        response = api_client(issued.plaintext).get(PROJECTS_URL)

    assert response.status_code == HTTPStatus.OK
    assert "X-RateLimit-Limit" not in response
    warnings = [r for r in caplog.records if r.name == "apiproject.api.ratelimit"]
    assert len(warnings) == 1 and warnings[0].exc_info is None


def test_silent_redis_serves_a_valid_key_and_refuses_a_revoked_one(owner, silent_redis):
    valid = apikey_issue(owner=owner)
    revoked = apikey_issue(owner=owner)
    call_command("revokeapikey", revoked.api_key.prefix, verbosity=0)

    assert api_client(valid.plaintext).get(PROJECTS_URL).status_code == HTTPStatus.OK
    assert api_client(revoked.plaintext).get(PROJECTS_URL).status_code == (HTTPStatus.UNAUTHORIZED)


def test_a_record_filled_from_a_read_an_invalidation_overtook_is_not_kept(issued, monkeypatch):
    """A request reads the key from the database, the key is revoked before that request
    writes its record: the record is not written (the prefix's generation moved)."""
    from apikeys.keycache import verify

    real_record_of = verify.record_of

    def record_then_revoke(api_key, now):
        record = real_record_of(api_key, now)
        call_command("revokeapikey", issued.api_key.prefix, verbosity=0)
        return record

    monkeypatch.setattr(verify, "record_of", record_then_revoke)
    api_client(issued.plaintext).get(PROJECTS_URL)  # served from its (older) read
    monkeypatch.setattr(verify, "record_of", real_record_of)

    assert not cached(issued.api_key.prefix)
    assert api_client(issued.plaintext).get(PROJECTS_URL).status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.django_db(transaction=True)
def test_a_roll_with_an_idempotency_key_drops_the_records_again_once_it_has_committed(issued):
    """A request reading the old key while the roll's transaction is open must not leave it
    cached: the records are dropped again after the request's (outer) commit, which is what
    marks the recorded changes delivered."""
    response = api_client(issued.plaintext).post(
        reverse("apikey-roll", args=[issued.api_key.prefix]),
        {"grace_seconds": 0},
        format="json",
        headers={"Idempotency-Key": "roll-1"},
    )

    assert response.status_code == HTTPStatus.CREATED
    rolled = [issued.api_key.prefix, response.json()["id"]]
    delivered = KeyCacheChange.objects.filter(prefix__in=rolled, delivered_at__isnull=False)
    assert set(delivered.values_list("prefix", flat=True)) == set(rolled)


def test_records_are_kept_a_minute_by_default():
    assert django_settings.API_KEY_CACHE_SECONDS == 60
