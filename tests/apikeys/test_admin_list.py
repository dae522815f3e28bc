"""The API-key change list in admin: its columns, each key's status with a filter, the keys
ending within 7 days, search by prefix or owner, newest first."""

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apikeys.events import OPERATOR
from apikeys.models import APIKey
from apikeys.services import apikey_roll
from tests.apikeys.admin_pages import CHANGELIST_URL, EXPIRY, used_against_the_api
from tests.factories import APIKeyFactory, UserFactory
from tests.kit import changelist
from users.models import User

pytestmark = pytest.mark.django_db


def rows_by_prefix(response) -> dict[str, dict[str, str]]:
    listed = changelist(response)
    return {key.prefix: row for key, row in zip(listed.objects, listed.rows, strict=True)}


def listed_prefixes(response) -> set[str]:
    return {api_key.prefix for api_key in changelist(response).objects}


def test_changelist_shows_the_documented_columns(superuser_client, api_key):
    response = superuser_client.get(CHANGELIST_URL)

    assert response.status_code == HTTPStatus.OK
    # Status beside the prefix; the creation date is on the key's page (the list is newest
    # first), so every column fits at 1280 px (tests/browser/test_admin_as_staff.py).
    assert list(changelist(response).headers.values()) == [
        "Prefix",
        "Status",
        "Owner",
        "Name",
        "Expires at",
        "Last used at",
        "Rate limit",
    ]


def test_changelist_row_shows_prefix_name_and_owner(superuser_client, api_key):
    row = rows_by_prefix(superuser_client.get(CHANGELIST_URL))[api_key.prefix]

    assert (row["name"], row["owner"], row["status"]) == ("deploy", "alice", "active")


def test_changelist_row_shows_last_used_and_expiry(superuser_client, owner):
    api_key = APIKeyFactory(owner=owner, expires_at=EXPIRY)
    used_against_the_api(api_key)
    unused = APIKeyFactory(owner=owner)

    rows = rows_by_prefix(superuser_client.get(CHANGELIST_URL))

    assert "2030" in rows[api_key.prefix]["last_used_at"]
    assert "2031" in rows[api_key.prefix]["expires_at"]
    assert rows[unused.prefix]["last_used_at"] == "-"
    assert rows[unused.prefix]["expires_at"] == "-"


def test_changelist_shows_default_or_the_keys_own_rate_limit(superuser_client, owner):
    default = APIKeyFactory(owner=owner)
    own = APIKeyFactory(owner=owner, rate_limit="250/m")

    rows = rows_by_prefix(superuser_client.get(CHANGELIST_URL))

    assert rows[default.prefix]["rate_limit_display"] == "default"
    assert rows[own.prefix]["rate_limit_display"] == "250/m"


@pytest.fixture
def keys_by_status(owner: User) -> dict[str, APIKey]:
    return {
        "active": APIKeyFactory(owner=owner, name="a"),
        "active until later": APIKeyFactory(
            owner=owner, name="b", expires_at=timezone.now() + timedelta(days=1)
        ),
        "expired": APIKeyFactory(owner=owner, name="c", expired=True),
        "revoked": APIKeyFactory(owner=owner, name="d", revoked=True),
        "revoked and expired": APIKeyFactory(owner=owner, name="e", expired=True, revoked=True),
    }


def test_changelist_shows_each_keys_status(superuser_client, keys_by_status):
    rows = rows_by_prefix(superuser_client.get(CHANGELIST_URL))

    statuses = {name: rows[key.prefix]["status"] for name, key in keys_by_status.items()}
    assert statuses == {
        "active": "active",
        "active until later": "active",
        "expired": "expired",
        "revoked": "revoked",
        "revoked and expired": "revoked",
    }


def test_changelist_offers_a_status_filter(superuser_client, api_key):
    content = superuser_client.get(CHANGELIST_URL).content.decode()

    for status in ["active", "revoked", "expired"]:
        assert f'href="?status={status}"' in content, status


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("active", {"active", "active until later"}),
        ("revoked", {"revoked", "revoked and expired"}),
        ("expired", {"expired"}),
    ],
)
def test_status_filter_lists_only_keys_with_that_status(
    superuser_client, keys_by_status, status, expected
):
    response = superuser_client.get(CHANGELIST_URL, {"status": status})

    assert response.status_code == HTTPStatus.OK
    assert listed_prefixes(response) == {keys_by_status[name].prefix for name in expected}
    assert {row["status"] for row in changelist(response).rows} == {status}


def test_search_by_exact_prefix_finds_that_key(superuser_client, owner):
    wanted, other = APIKeyFactory(owner=owner), APIKeyFactory(owner=owner)

    response = superuser_client.get(CHANGELIST_URL, {"q": wanted.prefix})

    assert listed_prefixes(response) == {wanted.prefix}
    assert other.prefix not in response.content.decode()


def test_search_by_owner_username_prefix_finds_their_keys(superuser_client, owner):
    alices = {APIKeyFactory(owner=owner).prefix for _ in range(2)}
    APIKeyFactory(owner=UserFactory(username="bob"))

    response = superuser_client.get(CHANGELIST_URL, {"q": "ali"})

    assert listed_prefixes(response) == alices


def test_changelist_lists_newest_first(superuser_client, owner):
    for name, day in [("mid", 2), ("old", 1), ("new", 3)]:
        APIKeyFactory(owner=owner, name=name, issued_at=datetime(2024, 1, day, tzinfo=UTC))

    response = superuser_client.get(CHANGELIST_URL)

    assert [key.name for key in changelist(response).objects] == ["new", "mid", "old"]


def test_changelist_lists_keys_created_together_by_newest_id_first(superuser_client, owner):
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    first, second = (
        APIKeyFactory(owner=owner, name=name, issued_at=moment) for name in ["first", "second"]
    )
    assert second.pk > first.pk

    response = superuser_client.get(CHANGELIST_URL)

    assert [key.name for key in changelist(response).objects] == ["second", "first"]


# --- Ending within 7 days -------------------------------------------------------------------------

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def keys_by_expiry(owner: User, time_machine) -> dict[str, APIKey]:
    """Keys of alice's at NOW, each ending (or not) some way."""
    time_machine.move_to(NOW, tick=False)

    def expiring(name: str, after: timedelta, **traits: object) -> APIKey:
        return APIKeyFactory(owner=owner, name=name, expires_at=NOW + after, **traits)

    keys = {
        "in an hour": expiring("a", timedelta(hours=1)),
        "in 7 days exactly": expiring("b", timedelta(days=7)),
        "in 7 days and a second": expiring("c", timedelta(days=7, seconds=1)),
        "in 30 days": expiring("d", timedelta(days=30)),
        "never": APIKeyFactory(owner=owner, name="e"),
        "revoked, ending in 3 days": expiring("f", timedelta(days=3), revoked=True),
        "expired a day ago": APIKeyFactory(owner=owner, name="g", expired=True),
        "ending now": APIKeyFactory(
            owner=owner, name="h", issued_at=NOW - timedelta(days=1), expires_at=NOW
        ),
    }
    for name, grace in [("rolled, in its grace", timedelta(hours=2)), ("rolled, ended", None)]:
        api_key = expiring(name, timedelta(days=30))
        apikey_roll(api_key=api_key, issuer=api_key, grace=grace or timedelta(0), source=OPERATOR)
        keys[name] = api_key
    return keys


def test_changelist_offers_an_ending_within_7_days_filter(superuser_client, api_key):
    response = superuser_client.get(CHANGELIST_URL)
    content = response.content.decode()

    assert 'href="?expiry=within-7-days"' in content
    assert "ending within 7 days" in content


def test_ending_within_7_days_lists_the_working_keys_that_expire_by_then(
    superuser_client, superuser, keys_by_expiry
):
    superuser_client.force_login(superuser)  # at NOW

    response = superuser_client.get(CHANGELIST_URL, {"expiry": "within-7-days"})

    assert response.status_code == HTTPStatus.OK
    assert listed_prefixes(response) == {
        keys_by_expiry[name].prefix
        for name in ["in an hour", "in 7 days exactly", "rolled, in its grace"]
    }
    assert {row["status"] for row in changelist(response).rows} == {"active"}


def test_ending_within_7_days_combines_with_the_status_filter(
    superuser_client, superuser, keys_by_expiry
):
    superuser_client.force_login(superuser)

    response = superuser_client.get(
        CHANGELIST_URL, {"expiry": "within-7-days", "status": "expired"}
    )

    assert listed_prefixes(response) == set()


def test_ending_within_reads_the_working_keys_expiry_index(keys_by_expiry):
    ending = APIKey.objects.order_by().ending_within(NOW, timedelta(days=7))
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            # Tiny test tables make a sequential scan cheapest; ask what the index can do.
            cursor.execute("SET LOCAL enable_seqscan = off")
            plan = ending.explain()
    else:
        plan = ending.explain()

    assert "apikey_working_expiry_idx" in plan
