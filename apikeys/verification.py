"""Verifying a key (docs/api.md, "Verifying a key"): the one function that decides whether a key is
usable, and the one that records its use, whichever store the key's row comes from (the
database, or its record cached in Redis: apikeys.keycache).

The checksum first (no query for a mistyped or made-up key), then one indexed lookup by prefix
(the key joined to its owner), then a constant-time comparison of digests, made for an unknown
prefix too: timing must not tell which prefixes exist.
"""

import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from apikeys import keys
from apikeys.models import APIKey

# last_used_at is refreshed at most this often per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Compared against when a prefix names no key, so that a miss does the same work as a known
# prefix with a wrong secret.
UNKNOWN_PREFIX_DIGEST = keys.digest(f"{keys.KEY_SCHEME}_no-such-key")


def apikey_lookup(*, prefix: str) -> APIKey | None:
    """The key with this prefix, its owner loaded, or None."""
    return APIKey.objects.select_related("owner").filter(prefix=prefix).first()


def apikeys_lookup(*, prefixes: Iterable[str]) -> dict[str, APIKey]:
    """The keys with these prefixes, their owners loaded, by prefix: one query for many."""
    found = APIKey.objects.select_related("owner").filter(prefix__in=list(prefixes))
    return {api_key.prefix: api_key for api_key in found}


def apikey_usable(*, api_key: APIKey | None, digest: str, now: datetime) -> APIKey | None:
    """`api_key` if `digest` is its digest and it works at `now` (neither revoked nor expired,
    its owner active); None otherwise, and for no key at all, after the same comparison."""
    stored = api_key.digest if api_key is not None else UNKNOWN_PREFIX_DIGEST
    matches = hmac.compare_digest(stored, digest)
    if api_key is None or not matches:
        return None
    if api_key.status_at(now) != APIKey.Status.ACTIVE or not api_key.owner.is_active:
        return None
    return api_key


def apikey_used_recently(*, api_key: APIKey, now: datetime) -> bool:
    """Whether the key's loaded last_used_at is recent enough not to be written again."""
    return api_key.last_used_at is not None and api_key.last_used_at > now - LAST_USED_RESOLUTION


def apikey_touch(*, api_key: APIKey, now: datetime) -> None:
    """Record a use: one conditional UPDATE, so that even if several processes decide to
    write at once the row changes at most once per LAST_USED_RESOLUTION."""
    stale_before = now - LAST_USED_RESOLUTION
    APIKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale_before)
    ).update(last_used_at=now)
    api_key.last_used_at = now


def apikey_verify(*, plaintext: str) -> APIKey | None:
    """The usable key (its owner loaded) that `plaintext` is, or None, from the database."""
    prefix = keys.checked_prefix(plaintext)
    if prefix is None:
        return None
    now = timezone.now()
    api_key = apikey_usable(
        api_key=apikey_lookup(prefix=prefix), digest=keys.digest(plaintext), now=now
    )
    if api_key is not None and not apikey_used_recently(api_key=api_key, now=now):
        apikey_touch(api_key=api_key, now=now)
    return api_key
