"""Staff authority (docs/admin.md, "Staff authority"): how far an acting user's rights reach.

The rule lives here and only here; the services check it, and the admin's forms, querysets
and autocomplete ask it too, so what staff are offered and what is enforced agree.

`actor` None is the operator (the management commands, run by whoever has shell access to
the server): a superuser's rights. Whether the actor holds the Django model permission for
an action (apikeys.add_apikey, users.change_user, ...) is the admin's check; this module says
whose keys and accounts that permission reaches.
"""

from collections.abc import Collection

from django.db.models import Q

from users.models import User

# The columns of an account the rule below judges one by one (the services add the password
# hash, the admin's form the groups and permissions).
ACCOUNT_FIELDS = (
    "username",
    "first_name",
    "last_name",
    "email",
    "is_active",
    "is_staff",
    "is_superuser",
)
# What a person may change of their own account without a superuser: their profile.
PROFILE_FIELDS = frozenset({"username", "first_name", "last_name", "email"})
# Rights: only superusers grant them, to anyone.
PRIVILEGE_FIELDS = frozenset({"is_staff", "is_superuser", "groups", "user_permissions"})


def acts_as_superuser(actor: User | None) -> bool:
    return actor is None or actor.is_superuser


def key_owners_within_reach(actor: User | None, *, prefix: str = "") -> Q:
    """The users whose keys `actor` may issue, change and revoke, as a filter on users
    (`prefix="owner__"` filters keys): superusers any user's; other staff their own and those
    of active users who are neither staff nor superusers."""
    if acts_as_superuser(actor):
        return Q()
    return Q(**{f"{prefix}pk": actor.pk}) | Q(
        **{f"{prefix}is_active": True, f"{prefix}is_staff": False, f"{prefix}is_superuser": False}
    )


def user_may_manage_keys_of(*, actor: User | None, owner: User) -> bool:
    """Whether `actor` may issue, change or revoke keys of `owner`: the filter above, asked of
    the stored user (so a stale instance cannot widen it)."""
    if acts_as_superuser(actor):
        return True
    return User.objects.filter(key_owners_within_reach(actor), pk=owner.pk).exists()


def user_may_change_user(*, actor: User | None, target: User, fields: Collection[str] = ()) -> bool:
    """Whether `actor` may change these `fields` of `target` as it is stored ("password" for
    its password); with no fields, whether they may change anything of it at all.

    Superusers may change anything. Other staff never change rights (PRIVILEGE_FIELDS), may
    change their own profile fields, and anything else of users who are neither staff nor
    superusers; no field and no password of another staff or superuser account.
    """
    if acts_as_superuser(actor):
        return True
    if PRIVILEGE_FIELDS.intersection(fields):
        return False
    if target.pk is not None and target.pk == actor.pk:
        return PROFILE_FIELDS.issuperset(fields)
    return not (target.is_staff or target.is_superuser)


def user_may_delete_user(*, actor: User | None, target: User) -> bool:
    """Superusers delete anyone; other staff only users who are neither staff nor superusers."""
    return acts_as_superuser(actor) or not (target.is_staff or target.is_superuser)
