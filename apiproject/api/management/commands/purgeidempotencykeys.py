from typing import Any

from django.core.management.base import BaseCommand

from apiproject.api.idempotency import idempotency_purge


class Command(BaseCommand):
    help = (
        "Delete the kept answers of Idempotency-Key requests that have expired (24 hours "
        "after the first request). Expired answers are never served either way; run this from "
        "cron (hourly, say) so the table does not grow."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = idempotency_purge()
        if options["verbosity"] >= 1:
            self.stdout.write(f"Deleted {deleted} expired idempotency records.")
