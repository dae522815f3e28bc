"""The API-key change list in admin: its columns, each key's status with a filter, search by
prefix or owner, newest first."""

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone

from apikeys.models import APIKey
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
