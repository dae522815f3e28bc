"""A user's changes reach the cached records of their keys (apikeys.keycache) at once.

A signal, against the house rule, because Django's own user admin (its change form) saves
users without going through any service of ours: the model's post_save is the one place every
such change passes. Only a QuerySet.update() of users passes by it; the records' life,
API_KEY_CACHE_SECONDS, bounds that. (A user who holds keys is never deleted: APIKey.owner is
PROTECT.)
"""

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from apikeys.keycache import apikey_cache_forget_user
from apikeys.keycache.record import OWNER_FIELDS
from users.models import User

# What a key's record holds of its owner, less the id.
RECORDED_FIELDS = frozenset(OWNER_FIELDS) - {"id"}


@receiver(post_save, sender=User, dispatch_uid="apikeys.forget_user_keys_on_save")
def forget_keys_of_saved_user(
    sender: type, instance: User, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    # A new user has no keys yet; a login's save(update_fields=["last_login"]) changes nothing
    # a record holds.
    if created or (update_fields is not None and not RECORDED_FIELDS & set(update_fields)):
        return
    apikey_cache_forget_user(user_id=instance.pk)
