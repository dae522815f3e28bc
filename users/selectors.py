import re

from django.db.models import QuerySet, Value
from django.db.models.functions import Lower

from users.models import User

# A user id in canonical decimal that fits the database's 64-bit integer.
_CANONICAL_ID = re.compile(r"[1-9][0-9]{0,18}")
_MAX_ID = 2**63 - 1


def user_get(*, user_id: str) -> User | None:
    """The user with this id, written in canonical decimal; None for anything else."""
    if not _CANONICAL_ID.fullmatch(user_id) or int(user_id) > _MAX_ID:
        return None
    return User.objects.filter(pk=int(user_id)).first()


def _users_named(username: str) -> QuerySet[User]:
    # Same expression as the USERNAME_CI_UNIQUE constraint, so check and index agree.
    return User.objects.alias(username_lower=Lower("username")).filter(
        username_lower=Lower(Value(username))
    )


def user_get_by_username(*, username: str) -> User | None:
    """The user with this username, ignoring case."""
    return _users_named(username).first()


def user_username_taken(*, username: str) -> bool:
    return _users_named(username).exists()


def user_email_taken(*, email: str) -> bool:
    # Same expression and condition as the EMAIL_CI_UNIQUE constraint, so check and index agree.
    return (
        User.objects.alias(email_lower=Lower("email"))
        .exclude(email="")
        .filter(email_lower=Lower(Value(email)))
        .exists()
    )
