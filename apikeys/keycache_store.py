"""Where apikeys.keycache keeps key records in Redis, and how every change to a key or its
owner drops them (see apikeys.keycache for the design). The services import this module;
apikeys.keycache, which verifies keys, imports the services."""

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django_redis import get_redis_connection
from redis.commands.core import Script

from apikeys.models import APIKey
from apiproject.api.cache import CACHE_ERRORS

logger = logging.getLogger(__name__)

REDIS_BACKEND = "django_redis.cache.RedisCache"
# Longer than any request may run (statement timeout, worker timeout): a fill that read the
# database before an invalidation always finds the generation moved.
GENERATION_TTL_SECONDS = 3600

_scripts: dict[str, Script] = {}


def apikey_cache_enabled() -> bool:
    return (
        settings.API_KEY_CACHE_SECONDS > 0
        and settings.CACHES["default"]["BACKEND"] == REDIS_BACKEND
    )


def apikey_cache_forget(*, prefixes: Iterable[str]) -> None:
    """Drop these keys' records now and again when the current transaction commits (a request
    reading the old row meanwhile must not leave it cached), bumping their generations so that
    a fill from an older read is refused."""
    prefixes = list(prefixes)
    if not prefixes or not apikey_cache_enabled():
        return
    _forget(prefixes)
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _forget(prefixes))


def apikey_cache_forget_user(*, user_id: int) -> None:
    """Drop the records of every key of this user (its flags, name or email changed)."""
    apikey_cache_forget(
        prefixes=APIKey.objects.filter(owner_id=user_id).values_list("prefix", flat=True)
    )


def _forget(prefixes: list[str]) -> None:
    try:
        pipeline = get_redis_connection("default").pipeline(transaction=True)
        for prefix in prefixes:
            pipeline.incr(generation_key(prefix))
            pipeline.expire(generation_key(prefix), GENERATION_TTL_SECONDS)
            pipeline.delete(record_key(prefix))
        pipeline.execute()
    except CACHE_ERRORS as exc:
        # Authentication does not trust Redis while it fails (it reads the database), and a
        # record outlives a missed invalidation by API_KEY_CACHE_SECONDS at most.
        logger.warning(
            "Could not drop %d cached key record(s): %s: %s", len(prefixes), type(exc).__name__, exc
        )


def script(client: Any, name: str, source: str) -> Script:
    # The SHA is computed once; each call passes the client (EVALSHA, loading on NOSCRIPT).
    found = _scripts.get(name)
    if found is None:
        found = _scripts[name] = client.register_script(source)
    return found


def record_key(prefix: str) -> str:
    return f"apikeys:record:{prefix}"


def generation_key(prefix: str) -> str:
    return f"apikeys:generation:{prefix}"


def touch_key(prefix: str) -> str:
    return f"apikeys:used:{prefix}"


def counter_key(prefix: str, window_end: int) -> str:
    return f"apikeys:count:{prefix}:{window_end}"
