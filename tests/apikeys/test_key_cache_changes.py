"""Changes that must reach the key cache are recorded in the database and delivered by every
server's sync (apikeys.keycache.invalidation), so one that Redis missed, or that a process without
Redis made, is refused within 1.5 s anyway; a server whose sync fails stops trusting Redis.

Here in one process, on a clock the tests move (conftest's key_change_clock); across real
servers with a stopped Redis: test_key_cache_outages.py."""

from datetime import timedelta
from http import HTTPStatus

import pytest
import redis
import time_machine
from django.core.management import call_command
from django.db import DatabaseError, OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_redis import get_redis_connection

from apikeys.keycache.invalidation import (
    CHANGES,
    SYNC_INTERVAL_SECONDS,
    TRUST_SECONDS,
    ChangeFeed,
    change_retention,
)
from apikeys.keycache.store import record_key
from apikeys.models import APIKey, KeyCacheChange
from apikeys.services import IssuedAPIKey, apikey_issue, apikey_revoke
from tests.factories import UserFactory
from tests.kit import REFUSING_REDIS_URL, bearer_client, redis_cache
from users.models import User

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

PROJECTS_URL = reverse("project-list")
WRITES = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture
def issued(db: None) -> IssuedAPIKey:
    return apikey_issue(owner=UserFactory())


@pytest.fixture
def cache_away(settings):
    """While in use, this process's cache is a Redis that refuses connections (`"refusing"`)
    or no Redis at all (`"unconfigured"`, a shell without REDIS_URL); the Redis the test
    filled keeps what it holds."""
    working = settings.CACHES

    class Away:
        def __init__(self, how: str) -> None:
            self.how = how

        def __enter__(self) -> None:
            if self.how == "refusing":
                settings.CACHES = redis_cache(REFUSING_REDIS_URL)
            else:
                settings.CACHES = {
                    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
                }

        def __exit__(self, *exc: object) -> None:
            settings.CACHES = working

    return Away


def cached(prefix: str) -> bool:
    return get_redis_connection("default").exists(record_key(prefix)) == 1


def revoke_with_the_command(api_key: APIKey) -> None:
    call_command("revokeapikey", api_key.prefix, verbosity=0)


def deactivate_the_user(api_key: APIKey) -> None:
    owner = User.objects.get(pk=api_key.owner_id)
    owner.is_active = False
    owner.save()


def roll_without_grace(api_key: APIKey) -> None:
    response = bearer_client_of(api_key).post(
        reverse("apikey-roll", args=[api_key.prefix]), {"grace_seconds": 0}, format="json"
    )
    assert response.status_code == HTTPStatus.CREATED


def bearer_client_of(api_key: APIKey):
    # Any other working key of the same user: the roll itself is what is under test.
    return bearer_client(apikey_issue(owner=api_key.owner).plaintext)


def unreachable_redis() -> None:
    raise redis.ConnectionError("Redis went away")


STOPPING_CHANGES = [revoke_with_the_command, deactivate_the_user, roll_without_grace]


@pytest.mark.parametrize("away", ["refusing", "unconfigured"])
@pytest.mark.parametrize("change", STOPPING_CHANGES, ids=lambda change: change.__name__)
def test_a_change_the_cache_missed_is_refused_once_the_next_sync_delivers_it(
    issued, cache_away, key_change_clock, change, away
):
    assert CHANGES.sync()  # this process knows this Redis: only pending changes are delivered
    client = bearer_client(issued.plaintext)
    assert client.get(PROJECTS_URL).status_code == HTTPStatus.OK  # its record is cached now
    with cache_away(away):
        change(issued.api_key)
    assert cached(issued.api_key.prefix)  # the record outlived the change...
    assert KeyCacheChange.objects.filter(prefix=issued.api_key.prefix, delivered_at=None).exists()

    key_change_clock.advance(SYNC_INTERVAL_SECONDS)  # ...until this process's next sync

    response = client.get(PROJECTS_URL)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_a_server_whose_sync_fails_verifies_against_the_database_after_1_5_s(
    issued, cache_away, key_change_clock, monkeypatch
):
    """Redis answers the request's own round trip, but this process could not deliver the
    recorded changes (Redis failed it meanwhile): what Redis holds is not trusted."""
    valid = apikey_issue(owner=issued.api_key.owner)
    for plaintext in (issued.plaintext, valid.plaintext):
        bearer_client(plaintext).get(PROJECTS_URL)
    with cache_away("refusing"):
        apikey_revoke(api_key=issued.api_key)

    monkeypatch.setattr(CHANGES, "_deliver", unreachable_redis)
    key_change_clock.advance(TRUST_SECONDS + 0.01)

    assert cached(issued.api_key.prefix)
    refused = bearer_client(issued.plaintext).get(PROJECTS_URL)
    with CaptureQueriesContext(connection) as queries:
        served = bearer_client(valid.plaintext).get(PROJECTS_URL)
    assert refused.status_code == HTTPStatus.UNAUTHORIZED
    assert served.status_code == HTTPStatus.OK
    assert served["X-RateLimit-Remaining"] == "98"  # still counted in Redis
    assert any('"apikeys_apikey"' in query["sql"] for query in queries)  # verified in the database


def test_a_failed_sync_is_trusted_again_once_a_sync_succeeds(issued, key_change_clock, monkeypatch):
    client = bearer_client(issued.plaintext)
    client.get(PROJECTS_URL)
    feed = ChangeFeed(clock=key_change_clock)
    monkeypatch.setattr(feed, "_deliver", unreachable_redis)
    assert feed.cache_trusted() is False

    monkeypatch.undo()
    key_change_clock.advance(SYNC_INTERVAL_SECONDS)

    assert feed.cache_trusted() is True


def test_a_sync_that_cannot_read_the_database_is_the_requests_503(
    issued, key_change_clock, monkeypatch
):
    """Without the database a key cannot be verified (nothing cached is trusted): the request
    fails at once, rather than after a second wait for the database."""

    def unreadable_changes() -> None:
        raise OperationalError("the database did not answer within 5.25 s")

    client = bearer_client(issued.plaintext)
    client.get(PROJECTS_URL)
    monkeypatch.setattr(CHANGES, "_deliver", unreadable_changes)
    key_change_clock.advance(SYNC_INTERVAL_SECONDS)

    response = client.get(PROJECTS_URL)

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["error"]["code"] == "service_unavailable"


def test_a_sync_is_attempted_at_most_twice_a_second(issued, key_change_clock):
    client = bearer_client(issued.plaintext)
    key_change_clock.advance(SYNC_INTERVAL_SECONDS)
    with CaptureQueriesContext(connection) as first:
        client.get(PROJECTS_URL)
    key_change_clock.advance(SYNC_INTERVAL_SECONDS / 2)
    with CaptureQueriesContext(connection) as second:
        client.get(PROJECTS_URL)

    assert [q for q in first if '"apikeys_keycachechange"' in q["sql"]]
    assert not [q for q in second if '"apikeys_keycachechange"' in q["sql"]]


def test_a_sync_writes_nothing_to_the_database(issued, cache_away, key_change_clock):
    client = bearer_client(issued.plaintext)
    client.get(PROJECTS_URL)
    with cache_away("refusing"):
        apikey_revoke(api_key=issued.api_key)
    CHANGES.reset()  # a fresh process: it also delivers every recent change again

    with CaptureQueriesContext(connection) as queries:
        assert CHANGES.sync() is True

    assert not [q for q in queries if q["sql"].startswith(WRITES)]
    assert not cached(issued.api_key.prefix)


def test_a_change_delivered_after_its_commit_is_marked_delivered(
    issued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        apikey_revoke(api_key=issued.api_key)

    revocation = KeyCacheChange.objects.filter(prefix=issued.api_key.prefix).latest("id")
    assert revocation.delivered_at is not None


def test_a_change_whose_commit_redis_missed_stays_pending(
    issued, cache_away, django_capture_on_commit_callbacks
):
    with cache_away("refusing"), django_capture_on_commit_callbacks(execute=True):
        apikey_revoke(api_key=issued.api_key)

    revocation = KeyCacheChange.objects.filter(prefix=issued.api_key.prefix).latest("id")
    assert revocation.delivered_at is None


def test_every_change_of_a_key_is_recorded_in_its_transaction(issued, monkeypatch):
    """A change that fails leaves no record, and a record never exists without its change."""
    before = KeyCacheChange.objects.count()

    def failing_update(*args, **kwargs):
        raise DatabaseError("the database went away")

    monkeypatch.setattr("apikeys.models.APIKeyQuerySet.update", failing_update)
    with pytest.raises(DatabaseError):
        apikey_revoke(api_key=issued.api_key)

    assert KeyCacheChange.objects.count() == before


def test_changes_are_purged_once_no_record_can_predate_them(issued, cache_away):
    with cache_away("unconfigured"):
        apikey_revoke(api_key=issued.api_key)
    later = timezone.now() + change_retention() + timedelta(seconds=1)

    with time_machine.travel(later, tick=False):
        apikey_issue(owner=issued.api_key.owner)  # any change purges the old ones

    assert not KeyCacheChange.objects.filter(prefix=issued.api_key.prefix).exists()
