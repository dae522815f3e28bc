from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from apiproject.api.db import violated_constraint
from users.authority import ACCOUNT_FIELDS, user_may_change_user
from users.emails import normalize_email
from users.models import EMAIL_CI_UNIQUE, USERNAME_CI_UNIQUE, User

# The columns of a user whose change the authority rule judges ("password" is the hash).
JUDGED_FIELDS = (*ACCOUNT_FIELDS, "password")

_CONSTRAINT_FIELDS = {
    USERNAME_CI_UNIQUE: ("username", "A user with that username already exists."),
    EMAIL_CI_UNIQUE: ("email", "A user with that email already exists."),
}


def user_create(*, username: str, email: str, password: str) -> User:
    """Create a user; a lost race for the username or email is a ValidationError, not a 500."""
    user = User(username=username, email=normalize_email(email))
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save(force_insert=True)
    except IntegrityError as exc:
        field = _violated_uniqueness(exc)
        if field is None:
            raise
        name, message = field
        raise ValidationError({name: [ValidationError(message, code="unique")]}) from exc
    return user


def _violated_uniqueness(exc: IntegrityError) -> tuple[str, str] | None:
    """Which of our case-insensitive unique constraints the database refused, if any."""
    constraint = violated_constraint(exc)
    if constraint in _CONSTRAINT_FIELDS:
        return _CONSTRAINT_FIELDS[constraint]
    # The case-sensitive unique index on username (AbstractUser's) can fire first; SQLite
    # names its column rather than an index.
    if constraint == "users_user_username_key" or "users_user.username" in str(exc):
        return _CONSTRAINT_FIELDS[USERNAME_CI_UNIQUE]
    return None


def user_save(*, user: User, actor: User | None) -> None:
    """Save `user` as the admin's form left it, new or changed, if `actor`'s rights reach
    every field that differs from what is stored (users.authority; None: the operator).

    The stored row decides, not the instance: a non-staff user made staff by the very form
    being saved is still judged as the non-staff user they are. Beyond reach:
    PermissionDenied, nothing saved.
    """
    with transaction.atomic():
        stored = None
        if user.pk is not None:
            stored = User.objects.select_for_update().filter(pk=user.pk).first()
        before = stored if stored is not None else User()
        changed = {
            field for field in JUDGED_FIELDS if getattr(before, field) != getattr(user, field)
        }
        if not user_may_change_user(actor=actor, target=before, fields=changed):
            raise PermissionDenied("That change is beyond your rights.")
        user.save()
