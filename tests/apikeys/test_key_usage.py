"""A key's usage per UTC day (docs/api.md, "Key usage"): every request counted against it, the
errors and 429s among them, exact and readable at once; folded into the database by
`foldkeyusage` (docs/operations.md, "Key usage: folding"); GET /keys/{key_id}/usage."""

from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apikeys.models import APIKey, KeyUsageDay
from apikeys.usage import apikey_usage, usage_fold
from tests.factories import APIKeyFactory, UserFactory
from tests.kit import REFUSING_REDIS_URL, bearer_client, redis_cache

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
TODAY = date(2026, 12, 7)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def watched(user) -> APIKey:
    """A key with a small limit, whose usage another key of its user reads."""
    return APIKeyFactory(owner=user, rate_limit="5/m")


@pytest.fixture
def reader(user):
    return bearer_client(APIKeyFactory(owner=user).plaintext)


def usage(reader, api_key: APIKey, **params: object) -> dict:
    response = reader.get(f"/api/v1/keys/{api_key.prefix}/usage", params)
    assert response.status_code == HTTPStatus.OK, response.content
    return response.json()


def today_of(body: dict) -> dict:
    return body["days"][-1]


def a_known_mix(api_key: APIKey) -> None:
    """3 served, 1 of the operation's own 404, 1 405: 5 requests within the limit of 5/m, then
    2 refused with 429: 7 counted, 2 errors, 2 rate limited."""
    client = bearer_client(api_key.plaintext)
    statuses = [
        client.get("/api/v1/projects").status_code,
        client.post("/api/v1/projects", {"name": "a"}, "json").status_code,
        client.get("/api/v1/keys").status_code,
        client.get("/api/v1/projects/project-0").status_code,
        client.put("/api/v1/projects", {}, "json").status_code,
        client.get("/api/v1/projects").status_code,
        client.get("/api/v1/projects").status_code,
    ]
    assert statuses == [200, 201, 200, 404, 405, 429, 429]


def test_a_known_mix_is_counted_exactly_and_at_once(watched, reader):
    a_known_mix(watched)

    assert today_of(usage(reader, watched)) == {
        "date": "2026-12-07",
        "requests": 7,
        "errors": 2,
        "rate_limited": 2,
    }


def test_the_usage_request_counts_itself(watched):
    client = bearer_client(watched.plaintext)
    client.get("/api/v1/projects")

    assert today_of(usage(client, watched))["requests"] == 2


def test_requests_that_are_not_counted_against_the_key_are_not_in_its_usage(watched, reader):
    bearer_client(watched.plaintext).get("/api/v1/nowhere")  # an unknown path: no key check
    bearer_client(watched.plaintext).get("/api/v1/projects", HTTP_ACCEPT="text/html")  # 406
    bearer_client(watched.plaintext + "x").get("/api/v1/projects")  # not the key: 401

    assert today_of(usage(reader, watched))["requests"] == 0


def test_every_day_of_the_period_is_there_oldest_first_today_last(watched, reader, clock):
    bearer_client(watched.plaintext).get("/api/v1/projects")
    clock.shift(timedelta(days=2))
    bearer_client(watched.plaintext).get("/api/v1/projects")

    body = usage(reader, watched, days=4)

    assert body["key_id"] == watched.prefix
    assert [(day["date"], day["requests"]) for day in body["days"]] == [
        ("2026-12-06", 0),
        ("2026-12-07", 1),
        ("2026-12-08", 0),
        ("2026-12-09", 1),
    ]


def test_thirty_days_by_default(watched, reader):
    body = usage(reader, watched)

    assert len(body["days"]) == 30
    assert body["days"][0]["date"] == "2026-11-08"


@pytest.mark.parametrize("days", ["0", "91", "abc", "", "-1", "1.5", "٣"])
def test_a_bad_days_is_400_naming_it_before_the_keys_404(reader, days):
    response = reader.get("/api/v1/keys/A1b2C3d4/usage", {"days": days})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()["error"]["fields"]) == ["days"]


@pytest.mark.parametrize("days", ["1", "90", "0090"])
def test_days_from_1_to_90(watched, reader, days):
    assert len(usage(reader, watched, days=days)["days"]) == int(days)


def test_another_users_key_is_answered_like_an_unknown_one(reader):
    others = APIKeyFactory(owner=UserFactory())

    theirs = reader.get(f"/api/v1/keys/{others.prefix}/usage")
    unknown = reader.get("/api/v1/keys/A1b2C3d4/usage")

    assert theirs.status_code == unknown.status_code == HTTPStatus.NOT_FOUND
    assert theirs.json() == {
        "error": {**unknown.json()["error"], "details": theirs.json()["error"]["details"]}
    }


# --- folding into the database ----------------------------------------------------------------


@pytest.mark.redis
def test_days_folded_into_the_database_outlive_the_cache(watched, reader):
    a_known_mix(watched)

    call_command("foldkeyusage", verbosity=0)
    cache.clear()  # as if Redis had let the day go

    assert today_of(usage(reader, watched)) == {
        "date": "2026-12-07",
        "requests": 7,
        "errors": 2,
        "rate_limited": 2,
    }
    assert KeyUsageDay.objects.get(api_key=watched, date=TODAY).requests == 7


@pytest.mark.redis
def test_a_fold_is_idempotent_and_the_larger_count_wins(watched, reader):
    a_known_mix(watched)
    usage_fold()
    usage_fold()
    cache.clear()  # a Redis that restarted empty: it counts from 0 again
    bearer_client(watched.plaintext).get("/api/v1/keys")  # the window is new: served

    usage_fold()

    day = KeyUsageDay.objects.get(api_key=watched, date=TODAY)
    assert (day.requests, day.errors, day.rate_limited) == (7, 2, 2)
    assert today_of(usage(reader, watched))["requests"] == 7


@pytest.mark.redis
def test_a_day_still_counting_is_folded_again_later(watched, clock):
    bearer_client(watched.plaintext).get("/api/v1/projects")
    usage_fold()
    clock.shift(timedelta(hours=1))
    bearer_client(watched.plaintext).get("/api/v1/projects")

    usage_fold()

    assert KeyUsageDay.objects.get(api_key=watched, date=TODAY).requests == 2


def test_days_older_than_90_are_dropped(watched, clock):
    KeyUsageDay.objects.create(api_key=watched, date=TODAY - timedelta(days=90), requests=4)
    KeyUsageDay.objects.create(api_key=watched, date=TODAY - timedelta(days=89), requests=5)

    usage_fold()

    assert list(KeyUsageDay.objects.values_list("requests", flat=True)) == [5]


def test_reading_folded_days_is_one_query(watched):
    KeyUsageDay.objects.create(api_key=watched, date=TODAY - timedelta(days=10), requests=4)

    with CaptureQueriesContext(connection) as queries:
        days = apikey_usage(api_key=watched, days=30)

    assert len(queries) == 1
    assert [day.requests for day in days if day.requests] == [4]


# --- with the cache failing -------------------------------------------------------------------


@pytest.mark.redis
def test_with_redis_down_the_api_answers_and_the_counts_are_lost(watched, reader, settings):
    working = settings.CACHES
    settings.CACHES = redis_cache(REFUSING_REDIS_URL)
    client = bearer_client(watched.plaintext)
    statuses = [client.get("/api/v1/projects").status_code for _ in range(3)]
    statuses.append(client.get("/api/v1/projects/project-0").status_code)
    settings.CACHES = working

    assert statuses == [200, 200, 200, 404]
    assert today_of(usage(reader, watched))["requests"] == 0
