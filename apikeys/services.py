"""Issuing, verifying, changing and revoking API keys: the key's lifecycle.

The key format itself (generation, checksum, digest) is `apikeys.keys`; nothing else builds a
key string or computes a digest.
"""

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apikeys import keys
from apikeys.models import APIKey
from apiproject.api.rates import validate_rate
from users.models import User

LAST_USED_RESOLUTION = timedelta(minutes=1)
ISSUE_ATTEMPTS = 5
# Compared against when a prefix names no key, so that a miss does the same work as a known
# prefix with a wrong secret: timing must not tell which prefixes exist (contract section 11).
UNKNOWN_PREFIX_DIGEST = keys.digest(f"{keys.KEY_SCHEME}_no-such-key")


@dataclass(frozen=True)
class IssuedAPIKey:
    api_key: APIKey
    plaintext: keys.Plaintext  # shown once to whoever asked for the key, never stored


def apikey_validate(
    *, owner: User | None = None, name: str = "", rate_limit: str | None = None
) -> None:
    """What a key's owner, name and rate limit must be, checked once for every entry point
    (admin forms, commands, services): a ValidationError naming each field that is wrong."""
    errors: dict[str, list[ValidationError]] = {}
    if owner is not None and not owner.is_active:
        errors["owner"] = [
            ValidationError(
                f"User {owner.get_username()!r} is inactive: a key of theirs would not work.",
                code="inactive_owner",
            )
        ]
    max_name = APIKey._meta.get_field("name").max_length
    if len(name) > max_name:
        errors["name"] = [
            ValidationError(f"May be at most {max_name} characters.", code="max_length")
        ]
    if rate_limit is not None:
        try:
            validate_rate(rate_limit)
        except ValidationError as exc:
            errors["rate_limit"] = exc.error_list
    if errors:
        raise ValidationError(errors)


def apikey_issue(
    *,
    owner: User,
    name: str = "",
    expires_at: datetime | None = None,
    rate_limit: str | None = None,
) -> IssuedAPIKey:
    """Create a key for `owner`; the returned plaintext is the only copy there will be.

    `rate_limit` (N/m) overrides API_RATE_LIMIT for this key. What `apikey_validate` refuses
    is a ValidationError, and no key is made.
    """
    apikey_validate(owner=owner, name=name, rate_limit=rate_limit)
    for _attempt in range(ISSUE_ATTEMPTS):
        prefix = keys.generate_prefix()
        plaintext = keys.generate(prefix)
        try:
            with transaction.atomic():
                api_key = APIKey.objects.create(
                    owner=owner,
                    name=name,
                    prefix=prefix,
                    digest=keys.digest(plaintext),
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
    prefix, then a constant-time comparison of digests, made for an unknown prefix too.
    """
    prefix = keys.checked_prefix(plaintext)
    if prefix is None:
        return None
    try:
        api_key = APIKey.objects.select_related("owner").get(prefix=prefix)
    except APIKey.DoesNotExist:
        api_key = None
    stored = api_key.digest if api_key is not None else UNKNOWN_PREFIX_DIGEST
    matches = hmac.compare_digest(stored, keys.digest(plaintext))
    if api_key is None or not matches:
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
    apikey_validate(name=name, rate_limit=rate_limit)
    changes = {"name": name, "expires_at": expires_at, "rate_limit": rate_limit}
    updated = APIKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(**changes)
    return bool(updated)


def _apikey_touch(api_key: APIKey, now: datetime) -> None:
    """Refresh last_used_at at most once a minute, with one conditional UPDATE."""
    stale_before = now - LAST_USED_RESOLUTION
    if api_key.last_used_at is not None and api_key.last_used_at > stale_before:
        return
    APIKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale_before)
    ).update(last_used_at=now)
    api_key.last_used_at = now
