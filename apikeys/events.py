"""Key events (docs/api.md, "Key events"): what happened to a key, who did it and through which
door, recorded by the key services in the transaction that makes the change."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from apikeys.models import APIKey, KeyEvent
from users.models import User

# Datetimes in events as in the API's answers.
MOMENT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# What a `changed` event names, in this order.
CHANGEABLE_FIELDS = ("name", "scopes", "rate_limit", "expires_at")


@dataclass(frozen=True)
class KeyChangeSource:
    """Who changes a key and through which door: the acting user (None: the operator, with a
    superuser's rights, or a leak report), the door (KeyEvent.Via), and the client address
    for the API and the admin."""

    via: str
    actor: User | None = None
    ip: str | None = None


# The operator's commands: a superuser's rights, no account, no address.
OPERATOR = KeyChangeSource(via=KeyEvent.Via.COMMAND)


def key_events_record(
    *,
    api_keys: list[APIKey] | QuerySet[APIKey],
    type: str,
    source: KeyChangeSource,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """One event for each of `api_keys`, in the caller's transaction."""
    actor = source.actor
    KeyEvent.objects.bulk_create(
        KeyEvent(
            api_key=api_key,
            type=type,
            via=source.via,
            actor=actor,
            actor_name=actor.get_username() if actor is not None else None,
            ip=source.ip,
            details=details or {},
            **({"at": at} if at is not None else {}),
        )
        for api_key in api_keys
    )


def shown(field: str, value: Any) -> Any:
    """A key's field as the API shows it: the limit that applies, datetimes in UTC."""
    if field == "rate_limit":
        return value or settings.API_RATE_LIMIT
    if isinstance(value, datetime):
        return value.strftime(MOMENT_FORMAT)
    return value


def key_changes(before: APIKey, after: dict[str, Any]) -> list[dict[str, Any]]:
    """The `changes` of a `changed` event: each field of CHANGEABLE_FIELDS in `after` whose
    value, as the API shows it, differs from `before`'s."""
    changes = []
    for field in CHANGEABLE_FIELDS:
        if field not in after:
            continue
        old, new = shown(field, getattr(before, field)), shown(field, after[field])
        if old != new:
            changes.append({"field": field, "from": old, "to": new})
    return changes
