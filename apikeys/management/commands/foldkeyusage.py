"""Fold the keys' usage counters that Redis holds into the database, and drop the days older
than 90. Run it from cron, hourly: Redis keeps a day's counters three days, so a missed run or
two loses nothing. Idempotent: each day keeps the larger of its two counts."""

from typing import Any

from django.core.management.base import BaseCommand

from apikeys.usage import usage_fold


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args: Any, **options: Any) -> None:
        folded = usage_fold()
        if options["verbosity"] >= 1:
            self.stdout.write(f"Folded {folded} key-day(s) of usage into the database.")
