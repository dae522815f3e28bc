from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from users.emails import normalize_email
from users.models import EMAIL_CI_UNIQUE, USERNAME_CI_UNIQUE, User

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
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)  # psycopg names the constraint
    names = {diag.constraint_name} if diag is not None else set()
    # SQLite names the index in the message: "UNIQUE constraint failed: index '<name>'".
    message = str(exc)
    for constraint, field in _CONSTRAINT_FIELDS.items():
        if constraint in names or f"index '{constraint}'" in message:
            return field
    # The case-sensitive unique index on username (AbstractUser's) can fire first.
    if "users_user_username_key" in names or "users_user.username" in message:
        return _CONSTRAINT_FIELDS[USERNAME_CI_UNIQUE]
    return None
