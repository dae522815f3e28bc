"""Issue an API key for a user. The key is printed once, alone on the last line of stdout
(everything else goes to stderr), so scripts can capture it."""

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apikeys.management.cli import format_moment, option_errors, user_named
from apikeys.scopes import all_scopes
from apikeys.services import apikey_issue
from apiproject.api.text import escape_unprintable

MAX_EXPIRY_DAYS = 36500


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="The user the key acts as (case-insensitive).")
        parser.add_argument("--name", default="", help="A label to recognise the key by.")
        parser.add_argument(
            "--expires-in",
            metavar="DAYS",
            help=f"Days until the key expires, 1 to {MAX_EXPIRY_DAYS}; default: never.",
        )
        parser.add_argument(
            "--rate-limit",
            metavar="N/m",
            help="This key's own limit, N requests a minute (1 to 1000000/m); "
            "default: API_RATE_LIMIT.",
        )
        parser.add_argument(
            "--scopes",
            metavar="SCOPE,...",
            help=f"What the key may do, comma-separated from {', '.join(all_scopes())}; "
            "default: every scope.",
        )

    def handle(
        self,
        *args: Any,
        username: str,
        name: str,
        expires_in: str | None,
        rate_limit: str | None,
        scopes: str | None,
        **options: Any,
    ) -> None:
        expires_at = None
        if expires_in is not None:
            if not expires_in.isascii() or not expires_in.isdigit():
                raise CommandError(
                    f"--expires-in must be a whole number of days, not {expires_in!r}"
                )
            days = int(expires_in)
            if not 1 <= days <= MAX_EXPIRY_DAYS:
                raise CommandError(f"--expires-in must be from 1 to {MAX_EXPIRY_DAYS} days")
            expires_at = timezone.now() + timedelta(days=days)
        user = user_named(username)
        try:
            issued = apikey_issue(
                owner=user,
                name=name,
                expires_at=expires_at,
                rate_limit=rate_limit,
                scopes=None
                if scopes is None
                else [s.strip() for s in scopes.split(",") if s.strip()],
            )
        except ValidationError as exc:
            raise CommandError(option_errors(exc)) from None
        if options["verbosity"] >= 1:
            self.stderr.write(
                f"Issued key {issued.api_key.prefix} for "
                f"'{escape_unprintable(user.username)}', expires "
                f"{format_moment(expires_at) if expires_at else 'never'}. "
                "Copy it now: it is not stored and cannot be shown again."
            )
        self.stdout.write(issued.plaintext)
