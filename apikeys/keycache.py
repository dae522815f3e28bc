"""Verified key records in Redis, read together with the key's rate-limit count in one round trip
(contract sections 2 and 6).

Verifying a key from the database costs a query joined to its owner on every request, and
counting it through django-ratelimit two more Redis round trips (`SET NX`, then an `EVAL` that
sends its Lua source each time). Here one `EVALSHA` (redis-py's `Script`: the source is sent
once per server) reads the key's cached record and, when the caller's digest matches it,
counts the request in the same fixed windows django-ratelimit keeps. django-ratelimit has no
way to count under a condition or beside another read, hence this hand-written path; it still
counts everything else (the per-IP budget for failed authentication, the admin login).

The record holds what a request needs of the key and its owner: digest, ids, the owner's
username, email, date_joined and active, staff and superuser flags, the key's scopes, own
limit and expiry. Unknown and unusable keys (revoked, or of an inactive owner) are cached too,
as a record whose digest matches nothing, so an unknown prefix costs what a known prefix with a
wrong secret costs: one round trip and one constant-time comparison.

Every change to what a record holds drops it at once and is recorded in the database, so
that it reaches Redis even when the process that made it could not (apikeys.keycache_store):
a record is trusted only while this process has recently delivered every recorded change. A
record filled from a database read that an invalidation overtook is not written: each prefix
has a generation, bumped by every invalidation and read before the database is; the fill is
refused if it moved. Records live API_KEY_CACHE_SECONDS at most (and never past the key's
expiry), unknown prefixes as long as known ones, so that timing does not tell them apart.

Only a cache every process shares can be told at once that a key was revoked (the commands run
in their own process), so records are cached only in Redis; with process memory (development)
every request verifies against the database, as before. When Redis fails, the request is
verified against the database and served without counting, with the one WARNING line of
`apiproject.api.ratelimit`.
"""

import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Q
from django.utils import timezone
from django_redis import get_redis_connection

from apikeys import keycache_store, keys
from apikeys.models import APIKey
from apikeys.services import LAST_USED_RESOLUTION, apikey_verify
from apikeys.throttling import API_KEY_GROUP
from apiproject.api.cache import CACHE_ERRORS
from apiproject.api.ratelimit import (
    RateLimitUsage,
    fixed_window_end,
    peek_request_count,
    rate_limit_not_applied,
)
from apiproject.api.rates import requests_per_minute
from users.models import User

logger = logging.getLogger(__name__)

# Never a SHA-256 hex digest: the record of an unknown or unusable key matches no key.
NO_DIGEST = "-" * 64
DIGEST_LENGTH = 64
TOUCH_TTL_SECONDS = 24 * 60 * 60
WINDOW_SECONDS = 60  # rates are N/m
COUNTER_FUDGE_SECONDS = 5  # as django-ratelimit: a counter outlives its window a little

USER_FIELDS = ("id", "username", "email", "date_joined", "is_active", "is_staff", "is_superuser")
KEY_FIELDS = ("id", "owner_id", "name", "prefix", "expires_at", "revoked_at", "rate_limit")

# KEYS: record, counter, generation, touch. ARGV: digest, counter TTL, now, touch interval,
# trusted ('1', or '0': the record may predate a recorded change, read it as a miss).
# Returns {0, generation} for a miss; {1, record} when the digest does not match (nothing is
# counted); {2, record, count, touch} when it does, touch = 1 when this request is the one
# that refreshes last_used_at (at most once per interval, across every process).
_READ_AND_COUNT = """
local record = redis.call('GET', KEYS[1])
if not record or ARGV[5] ~= '1' then
  return {0, redis.call('GET', KEYS[3]) or '0'}
end
if string.sub(record, 1, 64) ~= ARGV[1] then
  return {1, record}
end
local count = redis.call('INCR', KEYS[2])
if count == 1 then
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
local touch = 0
local now = tonumber(ARGV[3])
local last = tonumber(redis.call('GET', KEYS[4]) or '-1')
if last < 0 or now - last >= tonumber(ARGV[4]) or now < last then
  redis.call('SET', KEYS[4], ARGV[3], 'EX', 86400)
  touch = 1
end
return {2, record, count, touch}
"""

# KEYS: record, generation, touch. ARGV: the generation read before the database, record,
# TTL in ms, last use (epoch seconds, '' for never).
_FILL = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[3], ARGV[4], 'NX', 'EX', 86400)
end
return 1
"""

# KEYS: counter. ARGV: counter TTL.
_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"""


@dataclass(frozen=True)
class VerifiedKey:
    """What authentication found: the usable key (its `owner` loaded) or None, and, when the
    count was taken with it, the count (`usage`, None when the cache failed)."""

    api_key: APIKey | None
    counted: bool = False
    usage: RateLimitUsage | None = None


def apikey_verify_and_count(*, plaintext: str) -> VerifiedKey:
    """`apikey_verify` from the cached record, counting the request against the key in the
    same round trip. Without the cache, `apikey_verify` alone (the throttle counts)."""
    prefix = keys.checked_prefix(plaintext)
    if prefix is None:
        return VerifiedKey(api_key=None)  # no query, no round trip
    if not keycache_store.apikey_cache_enabled():
        return VerifiedKey(api_key=apikey_verify(plaintext=plaintext))
    digest = keys.digest(plaintext)
    trusted = keycache_store.CHANGES.cache_trusted()
    now = timezone.now()
    epoch = int(now.timestamp())
    window_end = fixed_window_end(prefix, WINDOW_SECONDS, epoch)
    try:
        client = get_redis_connection("default")
        reply = keycache_store.script(client, "read", _READ_AND_COUNT)(
            keys=[
                keycache_store.record_key(prefix),
                keycache_store.counter_key(prefix, window_end),
                keycache_store.generation_key(prefix),
                keycache_store.touch_key(prefix),
            ],
            args=[
                digest,
                WINDOW_SECONDS + COUNTER_FUDGE_SECONDS,
                epoch,
                int(LAST_USED_RESOLUTION.total_seconds()),
                "1" if trusted else "0",
            ],
            client=client,
        )
    except CACHE_ERRORS as exc:
        api_key = apikey_verify(plaintext=plaintext)
        if api_key is None:
            return VerifiedKey(api_key=None)  # the failed-authentication budget says it failed
        rate_limit_not_applied(exc)
        return VerifiedKey(api_key=api_key, counted=True)
    if reply[0] == 0:
        return _verify_missed(client, prefix, plaintext, digest, reply[1], now, window_end)
    api_key = _usable_key(reply[1].decode(), digest, now)
    if api_key is None or reply[0] != 2:
        return VerifiedKey(api_key=None)
    if reply[3]:
        _touch(api_key.pk, now)
    return VerifiedKey(api_key=api_key, counted=True, usage=_usage(api_key, reply[2], window_end))


# --- the record ---------------------------------------------------------------------------------


def _record_of(api_key: APIKey | None, now: datetime) -> tuple[str, int]:
    """The record of a key loaded with its owner (None: unknown prefix), and its TTL in ms."""
    ttl = settings.API_KEY_CACHE_SECONDS * 1000
    usable = (
        api_key is not None
        and api_key.status_at(now) == APIKey.Status.ACTIVE
        and api_key.owner.is_active
    )
    if not usable:
        return NO_DIGEST, ttl
    if api_key.expires_at is not None:
        ttl = max(1, min(ttl, int((api_key.expires_at - now).total_seconds() * 1000)))
    owner = api_key.owner
    body = {
        "key": [
            api_key.pk,
            owner.pk,
            api_key.name,
            api_key.prefix,
            _iso(api_key.expires_at),
            None,
            api_key.rate_limit,
        ],
        "scopes": api_key.scopes,
        "user": [
            owner.pk,
            owner.username,
            owner.email,
            _iso(owner.date_joined),
            owner.is_active,
            owner.is_staff,
            owner.is_superuser,
        ],
    }
    return api_key.digest + json.dumps(body, separators=(",", ":")), ttl


def _usable_key(record: str, digest: str, now: datetime) -> APIKey | None:
    """The key a record describes, if `digest` is its digest and it has not expired since."""
    stored, body = record[:DIGEST_LENGTH], record[DIGEST_LENGTH:]
    if not hmac.compare_digest(stored, digest) or stored == NO_DIGEST:
        return None
    data = json.loads(body)
    key_values = data["key"]
    key_values[4] = _datetime(key_values[4])
    if key_values[4] is not None and key_values[4] <= now:
        return None
    user_values = data["user"]
    user_values[3] = _datetime(user_values[3])
    # Loaded as if from the database: saved, every other field deferred (read on demand, so a
    # staff check or a password still works, at the cost of a query only where it is needed).
    owner = User.from_db(DEFAULT_DB_ALIAS, USER_FIELDS, _ordered(User, USER_FIELDS, user_values))
    names = (*KEY_FIELDS, "scopes", "digest")
    values = [*key_values, data["scopes"], stored]
    api_key = APIKey.from_db(DEFAULT_DB_ALIAS, names, _ordered(APIKey, names, values))
    api_key.owner = owner
    return api_key


def _ordered(model: type, names: tuple[str, ...], values: list[Any]) -> list[Any]:
    """`values`, named by `names`, in the order of the model's concrete fields (from_db)."""
    by_name = dict(zip(names, values, strict=True))
    return [
        by_name[field.attname] for field in model._meta.concrete_fields if field.attname in by_name
    ]


# --- a miss: the database, then the cache ------------------------------------------------------


def _verify_missed(
    client: Any,
    prefix: str,
    plaintext: str,
    digest: str,
    generation: bytes,
    now: datetime,
    window_end: int,
) -> VerifiedKey:
    try:
        api_key = APIKey.objects.select_related("owner").get(prefix=prefix)
    except APIKey.DoesNotExist:
        api_key = None
    record, ttl = _record_of(api_key, now)
    if api_key is None or record == NO_DIGEST:
        hmac.compare_digest(NO_DIGEST, digest)  # what a wrong secret costs
        usable = None
    else:
        usable = api_key if hmac.compare_digest(api_key.digest, digest) else None
    last_used = ""
    if usable is not None:
        _touch_loaded(usable, now)
        last_used = str(int(usable.last_used_at.timestamp()))
    try:
        keycache_store.script(client, "fill", _FILL)(
            keys=[
                keycache_store.record_key(prefix),
                keycache_store.generation_key(prefix),
                keycache_store.touch_key(prefix),
            ],
            args=[generation, record, ttl, last_used],
            client=client,
        )
        if usable is None:
            return VerifiedKey(api_key=None)
        count = keycache_store.script(client, "count", _COUNT)(
            keys=[keycache_store.counter_key(prefix, window_end)],
            args=[WINDOW_SECONDS + COUNTER_FUDGE_SECONDS],
            client=client,
        )
    except CACHE_ERRORS as exc:
        if usable is None:
            return VerifiedKey(api_key=None)
        rate_limit_not_applied(exc)
        return VerifiedKey(api_key=usable, counted=True)
    return VerifiedKey(api_key=usable, counted=True, usage=_usage(usable, count, window_end))


# --- last_used_at -------------------------------------------------------------------------------


def _touch_loaded(api_key: APIKey, now: datetime) -> None:
    """A key read from the database knows when it was last used: write only if that is a
    minute ago or more."""
    if api_key.last_used_at is not None and api_key.last_used_at > now - LAST_USED_RESOLUTION:
        return
    _touch(api_key.pk, now)
    api_key.last_used_at = now


def _touch(pk: int, now: datetime) -> None:
    # The same conditional UPDATE as apikeys.services._apikey_touch: even if two processes
    # decided to write, the row changes at most once a minute.
    stale_before = now - LAST_USED_RESOLUTION
    APIKey.objects.filter(pk=pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale_before)
    ).update(last_used_at=now)


# --- Redis --------------------------------------------------------------------------------------


def _usage(api_key: APIKey, count: int, window_end: int) -> RateLimitUsage:
    limit = requests_per_minute(api_key.rate_limit or settings.API_RATE_LIMIT)
    return RateLimitUsage(limit=limit, count=count, reset=window_end + 1)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _datetime(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


def apikey_window_usage(*, api_key: APIKey) -> RateLimitUsage | None:
    """What the key has used of its current window, read without counting, from whichever
    counter counts it (this module's with the key cache, the throttle's without); None when
    the cache does not answer. For the admin's key page."""
    rate = api_key.rate_limit or settings.API_RATE_LIMIT
    if not keycache_store.apikey_cache_enabled():
        return peek_request_count(group=API_KEY_GROUP, key=api_key.prefix, rate=rate)
    window_end = fixed_window_end(api_key.prefix, WINDOW_SECONDS, int(time.time()))
    try:
        count = get_redis_connection("default").get(
            keycache_store.counter_key(api_key.prefix, window_end)
        )
    except CACHE_ERRORS:
        return None
    return _usage(api_key, int(count or 0), window_end)
