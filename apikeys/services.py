"""Issuing, verifying and revoking API keys: the only code that builds a key or a digest.

A key reads `ak_<prefix>_<secret>`: the prefix is a short public id, the secret 43 random
base62 characters (256 bits from `secrets`) followed by a 6-character CRC32 checksum of
everything before it, so a mistyped or made-up key is refused without a query and secret
scanners can recognise a leaked one.
"""

import hashlib
import hmac
import re
import secrets
import string
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apikeys.models import APIKey
from apiproject.api.rates import validate_rate
from users.models import User

KEY_SCHEME = "ak"
PREFIX_LENGTH = 8
RANDOM_LENGTH = 43  # 43 base62 characters carry 256.03 bits
CHECKSUM_LENGTH = 6  # base62 of a CRC32
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
LAST_USED_RESOLUTION = timedelta(minutes=1)
ISSUE_ATTEMPTS = 5

SECRET_LENGTH = RANDOM_LENGTH + CHECKSUM_LENGTH
_KEY_FORMAT = re.compile(
    rf"{KEY_SCHEME}_([0-9A-Za-z]{{{PREFIX_LENGTH}}})_[0-9A-Za-z]{{{SECRET_LENGTH}}}"
)


class Plaintext(str):
    """A key's plaintext: itself wherever it is shown, but masked in reprs, so a traceback or
    a debug log of a template context (Django logs the whole context when a variable is
    missing) never carries it."""

    def __repr__(self) -> str:
        return repr(f"{self[: len(KEY_SCHEME) + PREFIX_LENGTH + 2]}…")


@dataclass(frozen=True)
class IssuedAPIKey:
    api_key: APIKey
    plaintext: str  # shown once to whoever asked for the key, never stored


def apikey_issue(
    *,
    owner: User,
    name: str = "",
    expires_at: datetime | None = None,
    rate_limit: str | None = None,
) -> IssuedAPIKey:
    """Create a key for `owner`; the returned plaintext is the only copy there will be.

    `rate_limit` (N/m) overrides API_RATE_LIMIT for this key; a bad one is a ValidationError.
    """
    if not owner.is_active:
        raise ValidationError(
            f"User {owner.get_username()!r} is inactive: a key of theirs would not work.",
            code="inactive_owner",
        )
    if rate_limit is not None:
        validate_rate(rate_limit)
    for _attempt in range(ISSUE_ATTEMPTS):
        prefix = _random_base62(PREFIX_LENGTH)
        unchecked = f"{KEY_SCHEME}_{prefix}_{_random_base62(RANDOM_LENGTH)}"
        plaintext = Plaintext(unchecked + _checksum(unchecked))
        try:
            with transaction.atomic():
                api_key = APIKey.objects.create(
                    owner=owner,
                    name=name,
                    prefix=prefix,
                    digest=apikey_digest(plaintext),
                    expires_at=expires_at,
                    rate_limit=rate_limit,
                )
        except IntegrityError:
            if APIKey.objects.filter(prefix=prefix).exists():
                continue  # the public prefix collided with an existing key's: draw again
            raise
        return IssuedAPIKey(api_key=api_key, plaintext=plaintext)
    raise RuntimeError(f"No free key prefix found in {ISSUE_ATTEMPTS} attempts")


def apikey_verify(*, plaintext: str) -> APIKey | None:
    """The usable key (with its owner loaded) that `plaintext` is, or None.

    The checksum first (no query for a mistyped or made-up key), then one indexed query by
    prefix, then a constant-time comparison of digests.
    """
    prefix = _checked_prefix(plaintext)
    if prefix is None:
        return None
    try:
        api_key = APIKey.objects.select_related("owner").get(prefix=prefix)
    except APIKey.DoesNotExist:
        return None
    if not hmac.compare_digest(api_key.digest, apikey_digest(plaintext)):
        return None
    now = timezone.now()
    if api_key.status_at(now) != APIKey.Status.ACTIVE or not api_key.owner.is_active:
        return None
    _apikey_touch(api_key, now)
    return api_key


def apikey_revoke(*, api_key: APIKey, revoked_by: User | None = None) -> bool:
    """Revoke the key at once; False when it was revoked already (revocation is one-way)."""
    revoked = apikeys_revoke(api_keys=APIKey.objects.filter(pk=api_key.pk), revoked_by=revoked_by)
    if revoked:
        api_key.refresh_from_db(fields=["revoked_at", "revoked_by"])
    return bool(revoked)


def apikeys_revoke(*, api_keys: QuerySet[APIKey], revoked_by: User | None = None) -> list[int]:
    """Revoke every key of `api_keys` not revoked yet, in one UPDATE; returns the ids of the
    keys this call revoked (not those another request revoked meanwhile)."""
    with transaction.atomic():
        pending = api_keys.filter(revoked_at__isnull=True).select_for_update(of=("self",))
        ids = list(pending.values_list("pk", flat=True))
        APIKey.objects.filter(pk__in=ids).update(revoked_at=timezone.now(), revoked_by=revoked_by)
    return ids


def apikey_update(
    *, api_key: APIKey, name: str, expires_at: datetime | None, rate_limit: str | None
) -> bool:
    """Change what staff may change of a key, unless it is revoked (False then: revocation
    is one-way). Writes only those columns, so a last_used_at written meanwhile stays."""
    if rate_limit is not None:
        validate_rate(rate_limit)
    changes = {"name": name, "expires_at": expires_at, "rate_limit": rate_limit}
    updated = APIKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(**changes)
    return bool(updated)


def apikey_digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _apikey_touch(api_key: APIKey, now: datetime) -> None:
    """Refresh last_used_at at most once a minute, with one conditional UPDATE."""
    stale_before = now - LAST_USED_RESOLUTION
    if api_key.last_used_at is not None and api_key.last_used_at > stale_before:
        return
    APIKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale_before)
    ).update(last_used_at=now)
    api_key.last_used_at = now


def _checked_prefix(plaintext: str) -> str | None:
    match = _KEY_FORMAT.fullmatch(plaintext)
    if match is None:
        return None
    unchecked, checksum = plaintext[:-CHECKSUM_LENGTH], plaintext[-CHECKSUM_LENGTH:]
    if not hmac.compare_digest(_checksum(unchecked), checksum):
        return None
    return match.group(1)


def _checksum(text: str) -> str:
    value = zlib.crc32(text.encode())
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, remainder = divmod(value, len(BASE62))
        digits.append(BASE62[remainder])
    return "".join(reversed(digits))


def _random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))
