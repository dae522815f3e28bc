"""Idempotency records become kept answers only (migration api.0002): the claims the old code
left behind go, the kept answers stay, and the migration goes back too."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.migrations import migrate, schema_at

BEFORE = [("api", "0001_idempotency_records")]
AFTER = [("api", "0002_kept_answers_only")]
EXPIRES = datetime(2026, 6, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def old_schema(transactional_db):
    with schema_at(BEFORE) as apps:
        yield apps


def test_unfinished_claims_go_and_kept_answers_stay(old_schema):
    User = old_schema.get_model("users", "User")
    Record = old_schema.get_model("api", "IdempotencyRecord")
    alice = User.objects.create(username="alice", email="alice@example.com")
    common = {"user": alice, "fingerprint": "f" * 64, "expires_at": EXPIRES}
    claimed_at = EXPIRES - timedelta(days=1)
    Record.objects.create(
        key="kept", claimed_at=claimed_at, status_code=201, body={"id": 1}, **common
    )
    Record.objects.create(key="claimed", claimed_at=claimed_at, **common)

    new_apps = migrate(AFTER)

    kept = new_apps.get_model("api", "IdempotencyRecord").objects.get()
    assert (kept.key, kept.status_code, kept.body) == ("kept", 201, {"id": 1})

    old_apps = migrate(BEFORE)

    back = old_apps.get_model("api", "IdempotencyRecord").objects.get()
    assert (back.key, back.status_code, back.claimed_at) == ("kept", 201, claimed_at)
