from django.contrib.auth.models import AbstractUser
from django.contrib.auth.validators import ASCIIUsernameValidator
from django.db import models
from django.db.models.functions import Lower

USERNAME_CI_UNIQUE = "users_user_username_ci_unique"
EMAIL_CI_UNIQUE = "users_user_email_ci_unique"


class User(AbstractUser):
    """The service's user: ASCII usernames; username and email unique ignoring case."""

    username = models.CharField(
        "username",
        max_length=150,
        unique=True,
        validators=[ASCIIUsernameValidator()],
        help_text="Required. 150 characters or fewer. ASCII letters, digits and @/./+/-/_ only.",
        error_messages={"unique": "A user with that username already exists."},
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.UniqueConstraint(
                Lower("username"),
                name=USERNAME_CI_UNIQUE,
                violation_error_message="A user with that username already exists.",
            ),
            # Users made in admin or by createsuperuser may have no email; the API requires one.
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name=EMAIL_CI_UNIQUE,
                violation_error_message="A user with that email already exists.",
            ),
        ]
