"""List API keys, newest first: prefix, name, user, dates, rate limit, scopes ('all' for every
scope) and status; with --usage, each key's requests of the last 30 days too."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from apikeys.management.cli import format_moment, render_table, user_named
from apikeys.scopes import all_scopes
from apikeys.selectors import apikey_list
from apikeys.usage import apikeys_requests
from apiproject.api.text import escape_unprintable

HEADER = [
    "PREFIX",
    "NAME",
    "USER",
    "CREATED",
    "LAST USED",
    "EXPIRES",
    "RATE LIMIT",
    "SCOPES",
    "STATUS",
]
USAGE_DAYS = 30
USAGE_HEADER = f"REQUESTS ({USAGE_DAYS}D)"


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", metavar="USERNAME", help="Only this user's keys.")
        parser.add_argument(
            "--usage",
            action="store_true",
            help=f"Add each key's requests of the last {USAGE_DAYS} days: what the database "
            "holds, plus with Redis what Redis counted beyond it (without Redis, the counters "
            "are in the server's memory, out of this command's reach).",
        )

    def handle(self, *args: Any, user: str | None, usage: bool, **options: Any) -> None:
        keys = apikey_list(owner=user_named(user) if user is not None else None)
        now = timezone.now()
        every_scope = set(all_scopes())
        rows = [
            [
                key.prefix,
                # Stored text is printed escaped: it must not rewrite the operator's terminal.
                escape_unprintable(key.name) or "-",
                escape_unprintable(key.owner.username),
                format_moment(key.created_at),
                format_moment(key.last_used_at),
                format_moment(key.expires_at),
                key.rate_limit or "default",
                "all" if set(key.scopes) == every_scope else ",".join(key.scopes),
                key.status_at(now),
            ]
            for key in keys
        ]
        if not rows:
            self.stdout.write("No API keys.")
            return
        header = HEADER
        if usage:
            # One query for every listed key (the list's own, read as a subquery).
            requests = apikeys_requests(api_keys=keys, days=USAGE_DAYS)
            header = [*HEADER, USAGE_HEADER]
            rows = [[*row, str(requests[key.pk])] for row, key in zip(rows, keys, strict=True)]
        for line in render_table(header, rows):
            self.stdout.write(line)
