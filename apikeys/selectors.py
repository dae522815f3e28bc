from django.db.models import QuerySet

from apikeys.models import APIKey
from users.models import User


def apikey_list(*, owner: User | None = None) -> QuerySet[APIKey]:
    """Keys with their owners, newest first; only `owner`'s when given."""
    keys = APIKey.objects.select_related("owner")
    return keys.filter(owner=owner) if owner is not None else keys


def apikey_get_by_prefix(*, prefix: str) -> APIKey | None:
    return apikey_list().filter(prefix=prefix).first()
