"""What the apikeys management commands share: finding the user an operator names, turning a
service's ValidationError into the options it is about, and printing tables."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from users.models import User
from users.selectors import user_get_by_username


def format_moment(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment is not None else "-"


def user_named(username: str) -> User:
    user = user_get_by_username(username=username)
    if user is None:
        raise CommandError(f"No user named {username!r}")
    return user


def option_errors(error: ValidationError) -> str:
    """A service's ValidationError as one line naming the options (`--rate-limit: ...`)."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    return " ".join(
        f"{'--' + field.replace('_', '-') if field != 'owner' else 'USERNAME'}: {message}"
        for field, messages in error.message_dict.items()
        for message in messages
    )


def render_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
