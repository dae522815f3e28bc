"""The record of a key kept in Redis: what a request needs of the key and its owner, as named
fields, after the key's digest (the Lua script compares the digest without decoding the
rest). Unknown and unusable keys (revoked, expired, of an inactive owner) are recorded too,
with a digest that matches nothing, for as long as known ones: an unknown prefix then costs
what a known prefix with a wrong secret costs, and a probe cannot tell them apart by how long
they stay cached."""

import json
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model

from apikeys.models import APIKey
from users.models import User

# Never a SHA-256 hex digest: the record of an unknown or unusable key matches no key.
NO_DIGEST = "-" * 64
DIGEST_LENGTH = 64

KEY_FIELDS = (
    "id",
    "owner_id",
    "name",
    "prefix",
    "expires_at",
    "revoked_at",
    "rate_limit",
    "scopes",
)
OWNER_FIELDS = ("id", "username", "email", "date_joined", "is_active", "is_staff", "is_superuser")


def record_of(api_key: APIKey | None, now: datetime) -> tuple[str, int]:
    """The stored text of `api_key` (loaded with its owner; None: no key has this prefix) and
    how long Redis keeps it, in ms: API_KEY_CACHE_SECONDS, never past the key's expiry."""
    ttl = settings.API_KEY_CACHE_SECONDS * 1000
    usable = (
        api_key is not None
        and api_key.status_at(now) == APIKey.Status.ACTIVE
        and api_key.owner.is_active
    )
    if not usable:
        return NO_DIGEST, ttl
    if api_key.expires_at is not None:
        ttl = max(1, min(ttl, int((api_key.expires_at - now).total_seconds() * 1000)))
    body = {"key": _named(api_key, KEY_FIELDS), "owner": _named(api_key.owner, OWNER_FIELDS)}
    return api_key.digest + json.dumps(body, separators=(",", ":")), ttl


def key_of(text: str) -> APIKey | None:
    """The key a record describes, with its owner, loaded as if from the database (saved,
    every other field deferred: read on demand, so a staff check or a password still works,
    at the cost of a query only where it is needed); None for an unknown or unusable key."""
    digest, body = text[:DIGEST_LENGTH], text[DIGEST_LENGTH:]
    if digest == NO_DIGEST:
        return None
    data = json.loads(body)
    api_key = _loaded(APIKey, {**data["key"], "digest": digest})
    api_key.owner = _loaded(User, data["owner"])
    return api_key


def _named(instance: Model, names: tuple[str, ...]) -> dict[str, Any]:
    values = {name: getattr(instance, name) for name in names}
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in values.items()
    }


def _loaded(model: type[Model], values: dict[str, Any]) -> Any:
    # from_db takes the values in the order of the model's concrete fields.
    fields = [field for field in model._meta.concrete_fields if field.attname in values]
    names = [field.attname for field in fields]
    return model.from_db(
        DEFAULT_DB_ALIAS, names, [field.to_python(values[field.attname]) for field in fields]
    )
