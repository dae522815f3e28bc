"""Issuing, verifying, changing and revoking API keys: the key's lifecycle.

The key format itself (generation, checksum, digest) is `apikeys.keys`; nothing else builds a
key string or computes a digest.
"""

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apikeys import keys
from apikeys.keycache_store import apikey_cache_forget
from apikeys.models import APIKey
from apikeys.scopes import all_scopes, canonical_scopes
from apiproject.api.rates import validate_rate
from users.models import User

LAST_USED_RESOLUTION = timedelta(minutes=1)
ISSUE_ATTEMPTS = 5


@dataclass(frozen=True)
class IssuedAPIKey:
    api_key: APIKey
    plaintext: keys.Plaintext  # shown once to whoever asked for the key, never stored


def apikey_validate(
    *,
    owner: User | None = None,
    name: str = "",
    rate_limit: str | None = None,
    scopes: Iterable[str] | None = None,
) -> None:
    """What a key's owner, name, rate limit and scopes must be, checked once for every entry
    point (admin forms, commands, the API, services): a ValidationError naming each field that
    is wrong."""
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
    if scopes is not None:
        try:
            canonical_scopes(scopes)
        except ValidationError as exc:
            errors["scopes"] = exc.error_list
    if errors:
        raise ValidationError(errors)


def apikey_issue(
    *,
    owner: User,
    name: str = "",
    expires_at: datetime | None = None,
    rate_limit: str | None = None,
    scopes: Iterable[str] | None = None,
) -> IssuedAPIKey:
    """Create a key for `owner`; the returned plaintext is the only copy there will be.

    `rate_limit` (N/m) overrides API_RATE_LIMIT for this key; `scopes` (None: all) limit what
    it may do. What `apikey_validate` refuses is a ValidationError, and no key is made.
    """
    apikey_validate(owner=owner, name=name, rate_limit=rate_limit, scopes=scopes)
    scopes = all_scopes() if scopes is None else canonical_scopes(scopes)
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
                    scopes=scopes,
                )
                # A negative record of this prefix (someone tried it) must not outlive it.
                apikey_cache_forget(prefixes=[prefix])
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
    prefix = keys.checked_prefix(plaintext)
    if prefix is None:
        return None
    try:
        api_key = APIKey.objects.select_related("owner").get(prefix=prefix)
    except APIKey.DoesNotExist:
        return None
    if not hmac.compare_digest(api_key.digest, keys.digest(plaintext)):
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
        revoked = dict(pending.values_list("pk", "prefix"))
        ids = list(revoked)
        APIKey.objects.filter(pk__in=ids).update(revoked_at=timezone.now(), revoked_by=revoked_by)
        apikey_cache_forget(prefixes=revoked.values())
    return ids


def apikey_update(
    *,
    api_key: APIKey,
    name: str,
    expires_at: datetime | None,
    rate_limit: str | None,
    scopes: Iterable[str],
) -> bool:
    """Change what staff may change of a key, unless it is revoked (False then: revocation
    is one-way). Writes only those columns, so a last_used_at written meanwhile stays."""
    apikey_validate(name=name, rate_limit=rate_limit, scopes=scopes)
    changes = {
        "name": name,
        "expires_at": expires_at,
        "rate_limit": rate_limit,
        "scopes": canonical_scopes(scopes),
    }
    updated = APIKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(**changes)
    apikey_cache_forget(prefixes=[api_key.prefix])
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


class APIKeyNotActive(Exception):  # noqa: N818 (a state, like Django's DoesNotExist)
    """The key is revoked or expired: it cannot be rolled."""


def apikey_delegate(
    *,
    issuer: APIKey,
    name: str = "",
    scopes: Iterable[str] | None = None,
    expires_at: datetime | None = None,
) -> IssuedAPIKey:
    """A new key of the issuing key's user, issued with that key (contract section 9): it
    gives no more than the issuer has (`scopes` within the issuer's, None: the same; an expiry
    no later than the issuer's, None: the issuer's), with the default rate limit, and the user
    holds at most API_KEYS_PER_USER active keys. Asking for more is PermissionDenied."""
    scopes = issuer.scopes if scopes is None else scopes
    expires_at = issuer.expires_at if expires_at is None else expires_at
    apikey_validate(name=name, scopes=scopes)
    _refuse_wider_than(issuer, scopes=scopes, expires_at=expires_at)
    owner = issuer.owner
    with transaction.atomic():
        # Concurrent issues for one user take turns on the user's row, so none of them can
        # count before another's insert and pass the cap with it.
        User.objects.select_for_update().filter(pk=owner.pk).exists()
        limit = settings.API_KEYS_PER_USER
        active = APIKey.objects.filter(owner=owner).with_status(
            APIKey.Status.ACTIVE, timezone.now()
        )
        if active.count() >= limit:
            raise ValidationError(
                f"You may hold at most {limit:,} active keys: revoke one to make another.",
                code="key_limit",
            )
        return apikey_issue(owner=owner, name=name, expires_at=expires_at, scopes=scopes)


def apikey_roll(*, api_key: APIKey, issuer: APIKey, grace: timedelta) -> IssuedAPIKey:
    """Replace `api_key` by a new key with its name, scopes, own rate limit and expiry; the
    old key keeps working for `grace`, then expires (earlier if it was to expire earlier).

    Both writes in one transaction, the old key's row locked: a second roll of the same key
    waits, then finds it rolled. APIKeyNotActive for a revoked or expired key; PermissionDenied
    when `issuer` could not issue such a key itself, so a narrow key cannot roll a wider one
    into a fresh secret. The new key does not count against API_KEYS_PER_USER: it replaces one.
    """
    with transaction.atomic():
        locked = APIKey.objects.select_for_update().get(pk=api_key.pk)
        _refuse_wider_than(issuer, scopes=locked.scopes, expires_at=locked.expires_at)
        now = timezone.now()
        if locked.status_at(now) != APIKey.Status.ACTIVE:
            raise APIKeyNotActive(locked.prefix)
        issued = apikey_issue(
            owner=api_key.owner,
            name=locked.name,
            expires_at=locked.expires_at,
            rate_limit=locked.rate_limit,
            scopes=locked.scopes,
        )
        grace_ends = now + grace
        if locked.expires_at is None or locked.expires_at > grace_ends:
            APIKey.objects.filter(pk=locked.pk).update(expires_at=grace_ends)
            apikey_cache_forget(prefixes=[locked.prefix])
    api_key.refresh_from_db(fields=["expires_at"])
    return issued


def _refuse_wider_than(
    issuer: APIKey, *, scopes: Iterable[str], expires_at: datetime | None
) -> None:
    if missing := [scope for scope in canonical_scopes(scopes) if scope not in issuer.scopes]:
        raise PermissionDenied(
            f"This key cannot give the scope {missing[0]!r}: it does not have it itself."
        )
    if issuer.expires_at is not None and (expires_at is None or expires_at > issuer.expires_at):
        raise PermissionDenied(
            "This key cannot give a key that outlives it: it expires at "
            f"{issuer.expires_at:%Y-%m-%dT%H:%M:%SZ}."
        )
