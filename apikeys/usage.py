"""What each key did, day by day (docs/api.md, "Key usage"): every request counted against a key
(the 429s among them), and the errors among them, per UTC day.

Counted in the cache, exact across processes and hosts as the limits are: with Redis, a day's
`requests` rides in the one round trip that checks the key and counts its limit
(apikeys.keycache); an error or a 429 costs one more. Redis keeps a day's counters
USAGE_DAYS_IN_CACHE days; `manage.py foldkeyusage` (cron, hourly) folds them into the
database (KeyUsageDay), which keeps USAGE_DAYS_KEPT days. A read combines both: the larger of
the two counts of each day, so a fold of a day still being counted, or a Redis that lost its
counters, never shows fewer requests than were folded. With Redis down the counts of those
requests are lost; the API still answers. Without Redis (the single-process development
default) the counters live in the process's memory.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone
from django_redis import get_redis_connection

from apikeys.keycache.invalidation import REDIS_BACKEND
from apikeys.keycache.store import USAGE_TTL_SECONDS, usage_key
from apikeys.models import APIKey, KeyUsageDay
from apiproject.api.cache import CACHE_ERRORS
from apiproject.api.rediscluster import pipelined

logger = logging.getLogger(__name__)

USAGE_DAYS_IN_CACHE = USAGE_TTL_SECONDS // (24 * 60 * 60)
USAGE_DAYS_KEPT = 90
FIELDS = ("requests", "errors", "rate_limited")
RATE_LIMITED = 429
FOLD_BATCH = 500


@dataclass(frozen=True)
class UsageDay:
    date: date
    requests: int = 0
    errors: int = 0
    rate_limited: int = 0


def usage_today(now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(UTC).date()


def usage_count(*, prefix: str, field: str, now: datetime | None = None) -> None:
    """One more of `field` (requests, errors or rate_limited) on the key's day; a cache that
    fails loses the count (one WARNING line), the request goes on."""
    day = usage_today(now)
    try:
        if _in_redis():
            name = usage_key(prefix, day)
            pipelined(
                get_redis_connection("default"),
                [("HINCRBY", name, field, 1), ("EXPIRE", name, USAGE_TTL_SECONDS, "NX")],
            )
        else:
            name = f"{usage_key(prefix, day)}:{field}"
            cache.add(name, 0, USAGE_TTL_SECONDS)
            cache.incr(name)
    except (*CACHE_ERRORS, ValueError) as exc:  # ValueError: expired between add and incr
        logger.warning("Key usage not counted, the cache failed: %s: %s", type(exc).__name__, exc)


def usage_count_answer(*, prefix: str, status: int) -> None:
    """A counted request's answer: 429s and other errors are counted apart (their request is
    counted already)."""
    if status == RATE_LIMITED:
        usage_count(prefix=prefix, field="rate_limited")
    elif status >= 400:
        usage_count(prefix=prefix, field="errors")


def apikey_usage(*, api_key: APIKey, days: int, now: datetime | None = None) -> list[UsageDay]:
    """The key's last `days` UTC days, oldest first, today last, every day present."""
    today = usage_today(now)
    dates = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    folded = {
        row.date: row
        for row in KeyUsageDay.objects.filter(api_key=api_key, date__gte=dates[0], date__lte=today)
    }
    counted = _counted(
        {api_key.prefix: [day for day in dates if today - day < timedelta(USAGE_DAYS_IN_CACHE)]}
    )
    return [
        UsageDay(
            date=day,
            **{
                field: max(
                    getattr(folded.get(day), field, 0),
                    counted.get((api_key.prefix, day), {}).get(field, 0),
                )
                for field in FIELDS
            },
        )
        for day in dates
    ]


def apikeys_requests(
    *, api_keys: QuerySet[APIKey] | Iterable[APIKey], days: int = 30
) -> dict[int, int]:
    """Each key's requests of its last `days` days (by pk): what the database holds, and with
    Redis what Redis still counts beyond it (each day's larger count, as apikey_usage reads
    it). One query for all the keys, whatever their number (a QuerySet is read as a subquery,
    and its rows, if it has them already, are not read again), plus with Redis one round trip.
    Process memory is not read: it is the server's, not this process's."""
    keys = list(api_keys)
    today = usage_today()
    recent = (
        [today - timedelta(days=back) for back in range(min(days, USAGE_DAYS_IN_CACHE))]
        if _in_redis()
        else []
    )
    wanted = api_keys.values("pk") if isinstance(api_keys, QuerySet) else [key.pk for key in keys]
    # Each key's sum over the days, and its folded count of each day Redis may still hold.
    rows = (
        KeyUsageDay.objects.filter(api_key__in=wanted, date__gte=today - timedelta(days=days - 1))
        .order_by()
        .values("api_key_id")
        .annotate(
            total=Sum("requests"),
            **{f"day{n}": Sum("requests", filter=Q(date=day)) for n, day in enumerate(recent)},
        )
    )
    totals = {key.pk: 0 for key in keys}
    folded: dict[tuple[int, date], int] = {}
    for row in rows:
        pk = row["api_key_id"]
        if pk in totals:  # not a key issued since `api_keys` was read
            totals[pk] = row["total"]
            for n, day in enumerate(recent):
                folded[pk, day] = row[f"day{n}"] or 0
    if not recent:
        return totals
    counted = _counted({key.prefix: recent for key in keys})
    for key in keys:
        for day in recent:
            in_cache = counted.get((key.prefix, day), {}).get("requests", 0)
            totals[key.pk] += max(0, in_cache - folded.get((key.pk, day), 0))
    return totals


def usage_fold(*, now: datetime | None = None) -> int:
    """Fold the counters the cache still holds into the database (each day's larger count
    wins), and drop the days older than USAGE_DAYS_KEPT; returns how many days were folded.
    For cron: `manage.py foldkeyusage`. Only Redis can be folded: process memory is another
    process's."""
    today = usage_today(now)
    KeyUsageDay.objects.filter(date__lte=today - timedelta(days=USAGE_DAYS_KEPT)).delete()
    if not _in_redis():
        return 0
    days = [today - timedelta(days=back) for back in range(USAGE_DAYS_IN_CACHE)]
    # A key counted in Redis was used in these days, and its last_used_at says so.
    used = APIKey.objects.filter(last_used_at__date__gte=days[-1]).values_list("pk", "prefix")
    folded = 0
    batch: list[tuple[int, str]] = []
    for item in used.iterator(chunk_size=FOLD_BATCH):
        batch.append(item)
        if len(batch) == FOLD_BATCH:
            folded += _fold(batch, days)
            batch = []
    if batch:
        folded += _fold(batch, days)
    return folded


def _fold(keys: list[tuple[int, str]], days: list[date]) -> int:
    counted = _counted({prefix: days for _, prefix in keys})
    rows = [
        (pk, day, *(counts.get(field, 0) for field in FIELDS))
        for pk, prefix in keys
        for day in days
        if (counts := counted.get((prefix, day)))
    ]
    if not rows:
        return 0
    sql = FOLD_SQL["postgresql" if connection.vendor == "postgresql" else "sqlite"]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, rows)
    return len(rows)


# An upsert keeping each count's larger value (Django's bulk_create can only overwrite);
# PostgreSQL's GREATEST is SQLite's two-argument MAX.
_FOLD_SQL = """
INSERT INTO apikeys_keyusageday (api_key_id, date, requests, errors, rate_limited)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (api_key_id, date) DO UPDATE SET
    requests = {larger}(apikeys_keyusageday.requests, excluded.requests),
    errors = {larger}(apikeys_keyusageday.errors, excluded.errors),
    rate_limited = {larger}(apikeys_keyusageday.rate_limited, excluded.rate_limited)
"""
FOLD_SQL = {
    "postgresql": _FOLD_SQL.format(larger="GREATEST"),
    "sqlite": _FOLD_SQL.format(larger="MAX"),
}


def _in_redis() -> bool:
    return settings.CACHES["default"]["BACKEND"] == REDIS_BACKEND


def _counted(dates_by_prefix: dict[str, list[date]]) -> dict[tuple[str, date], dict[str, int]]:
    """The cache's counters of these keys and days; {} for what it does not hold or when it
    fails (the database's counts stand)."""
    wanted = [(prefix, day) for prefix, days in dates_by_prefix.items() for day in days]
    if not wanted:
        return {}
    try:
        if _in_redis():
            # One round trip per node (on a Redis Cluster, each key's days share its slot).
            replies = pipelined(
                get_redis_connection("default"),
                [("HGETALL", usage_key(prefix, day)) for prefix, day in wanted],
            )
            return {
                place: {field.decode(): int(value) for field, value in reply.items()}
                for place, reply in zip(wanted, replies, strict=True)
                if reply
            }
        names = {
            f"{usage_key(prefix, day)}:{field}": ((prefix, day), field)
            for prefix, day in wanted
            for field in FIELDS
        }
        found: dict[tuple[str, date], dict[str, Any]] = {}
        for name, value in cache.get_many(list(names)).items():
            place, field = names[name]
            found.setdefault(place, {})[field] = int(value)
        return found
    except CACHE_ERRORS as exc:
        logger.warning("Key usage read from the database only, the cache failed: %s", exc)
        return {}
