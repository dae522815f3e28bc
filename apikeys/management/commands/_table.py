"""Shared helpers of the apikeys management commands (the leading underscore hides this
module from `manage.py help`)."""

from datetime import datetime

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


def render_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
