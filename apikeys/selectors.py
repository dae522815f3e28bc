from django.db.models import QuerySet

from apikeys.models import APIKey, KeyEvent
from users.models import User


def apikey_list(*, owner: User | None = None) -> QuerySet[APIKey]:
    """Keys with their owners, newest first; only `owner`'s when given."""
    keys = APIKey.objects.select_related("owner")
    return keys.filter(owner=owner) if owner is not None else keys


def apikey_get_by_prefix(*, prefix: str) -> APIKey | None:
    return apikey_list().filter(prefix=prefix).first()


def apikey_get(*, owner: User, key_id: str) -> APIKey | None:
    """The owner's key with this public id (its prefix); None for an unknown id and another
    owner's key alike, in one query."""
    return APIKey.objects.filter(owner=owner, prefix=key_id).first()


def apikey_list_of(*, owner: User) -> QuerySet[APIKey]:
    """The owner's keys, newest first (the owner index's order), without joining the owner."""
    return APIKey.objects.filter(owner=owner).order_by("-created_at", "-id")


def key_events_of(*, api_key: APIKey) -> QuerySet[KeyEvent]:
    """The key's events, newest first (the key's index serves the order and the page)."""
    return KeyEvent.objects.filter(api_key=api_key).order_by("-at", "-id")
