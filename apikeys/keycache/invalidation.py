"""How every change to a key or its owner reaches the records cached in Redis, even through
faults.

A change drops the records it affects at once, and again when its transaction commits. That
alone can be lost: Redis may not answer at that moment (stopped, restarting, partitioned from
this host), or the process may have no Redis configured at all (a command run from a shell
without REDIS_URL). So every change is also written, in its own transaction, to a table of
changes (`KeyCacheChange`, an outbox), marked delivered once the changing process has dropped
the records after its commit. Every server process that uses the key cache syncs with that
table twice a second (`ChangeFeed`, on the request that finds a sync due; it only reads): it
delivers each change still marked pending that it has not delivered itself yet. A process
trusts a cached record only while its last complete sync started less than TRUST_SECONDS ago;
otherwise it verifies the key against the database as if nothing were cached. So a change is
refused everywhere within TRUST_SECONDS of its commit or of Redis answering again, whichever is
later, whatever Redis still holds (docs/operations.md, "The key cache, through faults"). A Redis
that restarted (perhaps from a snapshot that still holds records a change dropped since) is
recognised by its run id: every recent change is delivered again. On a Redis Cluster, by the run
ids of all its primaries (one restarted, or a replica promoted in its place, which may lack the
last drops it took), and a sync is complete only when every primary answered.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_redis import get_redis_connection

from apikeys.keycache.store import drop_commands
from apikeys.models import APIKey, KeyCacheChange
from apiproject.api.cache import CACHE_ERRORS
from apiproject.api.rediscluster import pipelined, run_ids

logger = logging.getLogger(__name__)

REDIS_BACKEND = "django_redis.cache.RedisCache"
# How often a server process syncs with the table of changes, and how long after its last
# complete sync it still trusts what Redis holds. A change is refused everywhere within
# TRUST_SECONDS of its commit, or of Redis answering again.
SYNC_INTERVAL_SECONDS = 0.5
TRUST_SECONDS = 1.5
# Changes are kept past the life of any record they could have made stale (clocks of hosts
# may differ a little), then purged by the next change.
CHANGE_RETENTION_MARGIN = timedelta(seconds=60)
PURGE_BATCH = 1000


def apikey_cache_enabled() -> bool:
    return (
        settings.API_KEY_CACHE_SECONDS > 0
        and settings.CACHES["default"]["BACKEND"] == REDIS_BACKEND
    )


def apikey_cache_forget(*, prefixes: Iterable[str]) -> None:
    """Record that these keys changed, in the current transaction, and drop their records now
    and again when it commits (a request reading the old row meanwhile must not leave it
    cached), bumping their generations so that a fill from an older read is refused.

    Recorded whether or not this process uses the key cache: the servers do."""
    prefixes = sorted(set(prefixes))
    if not prefixes:
        return
    with transaction.atomic():
        now = timezone.now()
        changes = KeyCacheChange.objects.bulk_create(
            KeyCacheChange(prefix=prefix, changed_at=now) for prefix in prefixes
        )
        _purge_changes(before=now - change_retention())
    if not apikey_cache_enabled():
        return
    ids = [change.pk for change in changes if change.pk is not None]
    if connection.in_atomic_block:
        _drop_or_warn(prefixes)
    transaction.on_commit(lambda: _deliver_committed(prefixes, ids))


def apikey_cache_forget_user(*, user_id: int) -> None:
    """Drop the records of every key of this user (its flags, name or email changed)."""
    apikey_cache_forget(
        prefixes=APIKey.objects.filter(owner_id=user_id).values_list("prefix", flat=True)
    )


def change_retention() -> timedelta:
    """How long a change can matter: a record filled before it lives API_KEY_CACHE_SECONDS."""
    return timedelta(seconds=settings.API_KEY_CACHE_SECONDS) + CHANGE_RETENTION_MARGIN


def _purge_changes(*, before: Any) -> None:
    # SKIP LOCKED: concurrent changes purge different rows instead of waiting on each other.
    old = KeyCacheChange.objects.filter(changed_at__lt=before).select_for_update(skip_locked=True)
    KeyCacheChange.objects.filter(pk__in=old.values("pk")[:PURGE_BATCH]).delete()


def _drop(client: Any, prefixes: list[str]) -> None:
    # One round trip per node, no transaction across prefixes (store.drop_commands says why
    # none is needed).
    pipelined(client, drop_commands(prefixes))


def _drop_or_warn(prefixes: list[str]) -> bool:
    try:
        _drop(get_redis_connection("default"), prefixes)
    except CACHE_ERRORS as exc:
        # Recorded in KeyCacheChange: the servers deliver it once Redis answers them, and
        # trust nothing cached meanwhile.
        logger.warning(
            "Could not drop %d cached key record(s): %s: %s", len(prefixes), type(exc).__name__, exc
        )
        return False
    return True


def _deliver_committed(prefixes: list[str], ids: list[int]) -> None:
    """After the commit: drop the records again (a request may have cached the old row
    meanwhile) and, if that worked, mark the changes delivered, so that the servers' syncs
    need not deliver them again. (SQLite's bulk_create returns no ids: they stay pending, and
    every server delivers them once.)"""
    if _drop_or_warn(prefixes) and ids:
        try:
            KeyCacheChange.objects.filter(pk__in=ids).update(delivered_at=timezone.now())
        except DatabaseError as exc:
            logger.warning("Could not mark key changes delivered: %s: %s", type(exc).__name__, exc)


class ChangeFeed:
    """One process's sync with the table of changes: `cache_trusted()` on every request that
    would read a cached record (it syncs first when a sync is due). A sync reads; it never
    writes to the database: a request writes nothing but last_used_at."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget every sync (a fresh process)."""
        self.synced_at = float("-inf")  # when the last complete sync started
        self.attempted_at = float("-inf")  # when the last sync, complete or not, started
        self._redis_ids: frozenset[str] | None = None
        self._delivered: set[int] = set()  # pending changes this process delivered
        self._failing = False

    def cache_trusted(self) -> bool:
        now = self.clock()
        # One thread syncs; the others go on with the last sync while it is recent enough.
        if now - self.attempted_at >= SYNC_INTERVAL_SECONDS and self._lock.acquire(blocking=False):
            try:
                self.attempted_at = now
                self.sync(started=now)
            finally:
                self._lock.release()
        return self.clock() - self.synced_at <= TRUST_SECONDS

    def sync(self, *, started: float | None = None) -> bool:
        """Deliver every pending change this process has not delivered yet (and, with a Redis
        it has not synced with before, every recent change); True when that worked, False
        when Redis failed. A database that fails raises: a request could not be verified
        without it either, and fails at once rather than after a second timeout."""
        started = self.clock() if started is None else started
        try:
            # Inside a transaction, a savepoint: a failed query leaves the transaction usable.
            # Outside one (authentication runs before any), no transaction at all.
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                self._deliver()
        except CACHE_ERRORS as exc:
            if not self._failing:
                logger.info(
                    "Cached key records not trusted until key changes can be delivered: %s: %s",
                    type(exc).__name__,
                    exc,
                )
            self._failing = True
            return False
        if self._failing:
            logger.info("Key changes delivered again: cached key records trusted")
            self._failing = False
        self.synced_at = started
        return True

    def _deliver(self) -> None:
        cutoff = timezone.now() - change_retention()
        pending = dict(
            KeyCacheChange.objects.filter(delivered_at__isnull=True, changed_at__gte=cutoff)
            .order_by()
            .values_list("id", "prefix")
        )
        undelivered = {prefix for pk, prefix in pending.items() if pk not in self._delivered}
        client = get_redis_connection("default")
        redis_ids = run_ids(client)
        if undelivered:
            _drop(client, sorted(undelivered))
        if redis_ids != self._redis_ids:
            # A Redis this process has not synced with, or one that restarted, perhaps from a
            # snapshot holding records that changes since then dropped: deliver again every
            # change recent enough to matter, delivered or not.
            recent = KeyCacheChange.objects.filter(changed_at__gte=cutoff).values_list(
                "prefix", flat=True
            )
            if again := sorted(set(recent)):
                _drop(client, again)
        self._redis_ids = redis_ids
        self._delivered = set(pending)


# Every request of this process goes through this one feed.
CHANGES = ChangeFeed()
