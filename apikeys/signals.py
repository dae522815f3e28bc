"""A user's changes reach the cached records of their keys (apikeys.keycache) at once.

A signal, against the house rule, because Django's own user admin (its change form, the
delete view and the "delete selected" action) saves and deletes users without going through
any service of ours: the model's signals are the one place every such change passes. Only a
QuerySet.update() of users passes by them; API_KEY_CACHE_SECONDS bounds that.
"""

from typing import Any

from django.db.models.signals import post_save, pre_delete
from django.dispatch import receiver

from apikeys.keycache_store import apikey_cache_forget_user
from users.models import User

# What a key's record holds of its owner (apikeys.keycache.USER_FIELDS), less the id.
RECORDED_FIELDS = frozenset(
    {"username", "email", "date_joined", "is_active", "is_staff", "is_superuser"}
)


@receiver(post_save, sender=User, dispatch_uid="apikeys.forget_user_keys_on_save")
def forget_keys_of_saved_user(
    sender: type, instance: User, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    # A new user has no keys yet; a login's save(update_fields=["last_login"]) changes nothing
    # a record holds.
    if created or (update_fields is not None and not RECORDED_FIELDS & set(update_fields)):
        return
    apikey_cache_forget_user(user_id=instance.pk)


@receiver(pre_delete, sender=User, dispatch_uid="apikeys.forget_user_keys_on_delete")
def forget_keys_of_deleted_user(sender: type, instance: User, **kwargs: Any) -> None:
    # Before the delete, while the keys (deleted with the user) can still be listed.
    apikey_cache_forget_user(user_id=instance.pk)
