"""Verifying a key from its record cached in Redis, and counting the request against the key's
limit in the same round trip (see the package's docstring for why)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from django_redis import get_redis_connection

from apikeys import keys
from apikeys.keycache import store
from apikeys.keycache.invalidation import CHANGES, apikey_cache_enabled
from apikeys.keycache.record import key_of, record_of
from apikeys.models import APIKey
from apikeys.verification import (
    LAST_USED_RESOLUTION,
    apikey_lookup,
    apikey_touch,
    apikey_usable,
    apikey_used_recently,
    apikey_verify,
)
from apiproject.api.cache import CACHE_ERRORS
from apiproject.api.ratelimit import (
    RateLimitUsage,
    fixed_window_end,
    peek_request_count,
    rate_limit_not_applied,
)
from apiproject.api.rates import requests_per_minute

# The throttle's django-ratelimit group, when it counts without the key cache.
API_KEY_GROUP = "apikeys.key"
WINDOW_SECONDS = 60  # rates are N/m
COUNTER_FUDGE_SECONDS = 5  # as django-ratelimit: a counter outlives its window a little


@dataclass(frozen=True)
class KeyVerification:
    """What authentication found: the usable key (its owner loaded) or None, and whether the
    request was counted against it with the key's record (`usage`: that count, None when the
    cache failed); the throttle counts otherwise."""

    api_key: APIKey | None
    counted: bool = False
    usage: RateLimitUsage | None = None


def apikey_verify_and_count(*, plaintext: str) -> KeyVerification:
    """`apikey_verify` from the cached record, counting the request against the key in the
    same round trip. Without the cache, `apikey_verify` alone (the throttle counts)."""
    prefix = keys.checked_prefix(plaintext)
    if prefix is None:
        return KeyVerification(api_key=None)  # no query, no round trip
    if not apikey_cache_enabled():
        return KeyVerification(api_key=apikey_verify(plaintext=plaintext))
    digest = keys.digest(plaintext)
    trusted = CHANGES.cache_trusted()
    now = timezone.now()
    epoch = int(now.timestamp())
    window_end = fixed_window_end(prefix, WINDOW_SECONDS, epoch)
    try:
        client = get_redis_connection("default")
        read = store.read_and_count(
            client,
            prefix=prefix,
            digest=digest,
            window_end=window_end,
            counter_ttl=WINDOW_SECONDS + COUNTER_FUDGE_SECONDS,
            now=epoch,
            touch_interval=int(LAST_USED_RESOLUTION.total_seconds()),
            trusted=trusted,
        )
    except CACHE_ERRORS as exc:
        api_key = apikey_verify(plaintext=plaintext)
        if api_key is None:
            return KeyVerification(api_key=None)  # the failed-authentication budget says so
        rate_limit_not_applied(exc)
        return KeyVerification(api_key=api_key, counted=True)
    if not read.found:
        return _verify_missed(client, prefix, digest, read.generation, now, window_end)
    # A record whose digest is another's compares like an unknown prefix: the same work.
    api_key = apikey_usable(
        api_key=key_of(read.record) if read.matched else None, digest=digest, now=now
    )
    if api_key is None:
        return KeyVerification(api_key=None)
    if read.touch:
        apikey_touch(api_key=api_key, now=now)
    return KeyVerification(
        api_key=api_key, counted=True, usage=_usage(api_key, read.count, window_end)
    )


def _verify_missed(
    client: Any, prefix: str, digest: str, generation: bytes, now: datetime, window_end: int
) -> KeyVerification:
    """No record (or none trusted): the database decides, then the record is filled."""
    found = apikey_lookup(prefix=prefix)
    api_key = apikey_usable(api_key=found, digest=digest, now=now)
    last_used = None
    if api_key is not None:
        if not apikey_used_recently(api_key=api_key, now=now):
            apikey_touch(api_key=api_key, now=now)
        last_used = int(api_key.last_used_at.timestamp())
    record = record_of(found, now)
    try:
        store.fill(client, prefix=prefix, generation=generation, record=record, last_used=last_used)
        if api_key is None:
            return KeyVerification(api_key=None)
        count = store.count(
            client,
            prefix=prefix,
            window_end=window_end,
            counter_ttl=WINDOW_SECONDS + COUNTER_FUDGE_SECONDS,
            now=int(now.timestamp()),
        )
    except CACHE_ERRORS as exc:
        if api_key is None:
            return KeyVerification(api_key=None)
        rate_limit_not_applied(exc)
        return KeyVerification(api_key=api_key, counted=True)
    return KeyVerification(api_key=api_key, counted=True, usage=_usage(api_key, count, window_end))


def _usage(api_key: APIKey, count: int, window_end: int) -> RateLimitUsage:
    limit = requests_per_minute(api_key.rate_limit or settings.API_RATE_LIMIT)
    return RateLimitUsage(limit=limit, count=count, reset=window_end + 1)


def apikey_window_usage(*, api_key: APIKey) -> RateLimitUsage | None:
    """What the key has used of its current window, read without counting, from whichever
    counter counts it (the key cache's with Redis, the throttle's without); None when the
    cache does not answer. For the admin's key page."""
    rate = api_key.rate_limit or settings.API_RATE_LIMIT
    if not apikey_cache_enabled():
        return peek_request_count(group=API_KEY_GROUP, key=api_key.prefix, rate=rate)
    window_end = fixed_window_end(api_key.prefix, WINDOW_SECONDS, int(timezone.now().timestamp()))
    try:
        count = store.counted(
            get_redis_connection("default"), prefix=api_key.prefix, window_end=window_end
        )
    except CACHE_ERRORS:
        return None
    return _usage(api_key, count, window_end)
