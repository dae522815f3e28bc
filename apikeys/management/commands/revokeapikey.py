"""Revoke an API key by its public prefix (as `listapikeys` shows it). The key stops working at
once. Revoking a revoked key changes nothing and is not an error."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apikeys.management.cli import format_moment
from apikeys.selectors import apikey_get_by_prefix
from apikeys.services import apikey_revoke
from apiproject.api.text import escape_unprintable


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix", help="The key's public prefix.")

    def handle(self, *args: Any, prefix: str, **options: Any) -> None:
        api_key = apikey_get_by_prefix(prefix=prefix)
        if api_key is None:
            raise CommandError(f"No API key has the prefix {prefix!r}")
        revoked = apikey_revoke(api_key=api_key)
        if options["verbosity"] < 1:
            return
        if revoked:
            self.stdout.write(
                f"Revoked key {api_key.prefix} of '{escape_unprintable(api_key.owner.username)}'."
            )
        else:
            self.stdout.write(
                f"Key {api_key.prefix} was already revoked at {format_moment(api_key.revoked_at)}."
            )
