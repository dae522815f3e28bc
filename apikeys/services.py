"""Issuing, changing, rolling and revoking API keys: the key's lifecycle. Verifying one is
`apikeys.verification`; the key format itself (generation, checksum, digest) is
`apikeys.keys`: nothing else builds a key string or computes a digest.
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apikeys import keys
from apikeys.events import OPERATOR, KeyChangeSource, key_changes, key_events_record, shown
from apikeys.keycache import apikey_cache_forget
from apikeys.models import APIKey, KeyEvent
from apikeys.scopes import all_scopes, canonical_scopes
from apikeys.verification import apikey_usable, apikeys_lookup
from apiproject.api.rates import validate_rate
from apiproject.api.text import validate_single_line_text
from users.authority import key_owners_within_reach, user_may_manage_keys_of
from users.models import User

logger = logging.getLogger(__name__)

ISSUE_ATTEMPTS = 5
# Leak reports revoke with no account and no address (docs/api.md, "Key events").
LEAK_REPORT = KeyChangeSource(via=KeyEvent.Via.LEAK_REPORT)


@dataclass(frozen=True)
class IssuedAPIKey:
    api_key: APIKey
    plaintext: keys.Plaintext  # shown once to whoever asked for the key, never stored


def apikey_settings(api_key: APIKey) -> dict[str, Any]:
    """What staff set on a key (name, expiry, own rate limit, scopes): what a roll carries
    over to the new key, and what the admin's change form hands apikey_update."""
    return {
        "name": api_key.name,
        "expires_at": api_key.expires_at,
        "rate_limit": api_key.rate_limit,
        "scopes": api_key.scopes,
    }


def apikey_validate(
    *,
    owner: User | None = None,
    name: str = "",
    rate_limit: str | None = None,
    scopes: Iterable[str] | None = None,
    actor: User | None = None,
    expires_at: datetime | None = None,
) -> None:
    """What a key's owner, name, rate limit, scopes and (for a new key) expiry must be,
    checked once for every entry point (admin forms, commands, the API, services): a
    ValidationError naming each field that is wrong.

    `actor` issues the key (None: the operator, with a superuser's rights); the owner must be
    within their reach (users.authority, docs/admin.md, "Staff authority").
    """
    errors: dict[str, list[ValidationError]] = {}
    if owner is not None and not owner.is_active:
        errors["owner"] = [
            ValidationError(
                f"User {owner.get_username()!r} is inactive: a key of theirs would not work.",
                code="inactive_owner",
            )
        ]
    elif owner is not None and not user_may_manage_keys_of(actor=actor, owner=owner):
        errors["owner"] = [
            ValidationError(
                "You may issue keys only for yourself and for active users who are neither "
                "staff nor superusers.",
                code="owner_out_of_reach",
            )
        ]
    max_name = APIKey._meta.get_field("name").max_length
    if len(name) > max_name:
        errors["name"] = [
            ValidationError(f"May be at most {max_name} characters.", code="max_length")
        ]
    try:
        validate_single_line_text(name)
    except ValidationError as exc:
        errors.setdefault("name", []).extend(exc.error_list)
    if rate_limit is not None:
        try:
            validate_rate(rate_limit)
        except ValidationError as exc:
            errors["rate_limit"] = exc.error_list
    if expires_at is not None and expires_at <= timezone.now():
        # A key that could never work is a mistake, not a key.
        errors["expires_at"] = [
            ValidationError("A new key must expire in the future.", code="expired")
        ]
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
    source: KeyChangeSource = OPERATOR,
) -> IssuedAPIKey:
    """Create a key for `owner`; the returned plaintext is the only copy there will be.

    `rate_limit` (N/m) overrides API_RATE_LIMIT for this key; `scopes` (None: all) limit what
    it may do. `source` says who asks and through which door (the operator by default); its
    `issued` event is written with the key. What `apikey_validate` refuses, an owner beyond
    the actor's reach included, is a ValidationError, and no key is made.
    """
    apikey_validate(
        owner=owner,
        name=name,
        rate_limit=rate_limit,
        scopes=scopes,
        actor=source.actor,
        expires_at=expires_at,
    )
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
                key_events_record(api_keys=[api_key], type=KeyEvent.Type.ISSUED, source=source)
                # A negative record of this prefix (someone tried it) must not outlive it.
                apikey_cache_forget(prefixes=[prefix])
        except IntegrityError:
            if APIKey.objects.filter(prefix=prefix).exists():
                continue  # the public prefix collided with an existing key's: draw again
            raise
        return IssuedAPIKey(api_key=api_key, plaintext=plaintext)
    raise RuntimeError(f"No free key prefix found in {ISSUE_ATTEMPTS} attempts")


def apikey_revoke(
    *, api_key: APIKey, source: KeyChangeSource = OPERATOR, details: dict[str, Any] | None = None
) -> bool:
    """Revoke the key at once; False when it was revoked already (revocation is one-way).

    `source` says who acts (the operator by default); a key beyond their reach
    (users.authority) is PermissionDenied. The `revoked` event carries `details`.
    """
    if not user_may_manage_keys_of(actor=source.actor, owner=api_key.owner):
        raise PermissionDenied(f"Key {api_key.prefix} is beyond your rights.")
    revoked = apikeys_revoke(
        api_keys=APIKey.objects.filter(pk=api_key.pk), source=source, details=details
    )
    if revoked:
        api_key.refresh_from_db(fields=["revoked_at", "revoked_by"])
    return bool(revoked)


def apikeys_revoke(
    *,
    api_keys: QuerySet[APIKey],
    source: KeyChangeSource = OPERATOR,
    details: dict[str, Any] | None = None,
) -> list[int]:
    """Revoke every key of `api_keys` not revoked yet and within the reach of `source`'s actor
    (None: the operator), in one UPDATE, with a `revoked` event each; returns the ids of the
    keys this call revoked (not those another request revoked meanwhile, nor those beyond
    reach)."""
    within_reach = api_keys.filter(key_owners_within_reach(source.actor, prefix="owner__"))
    with transaction.atomic():
        pending = within_reach.filter(revoked_at__isnull=True).select_for_update(of=("self",))
        revoked = dict(pending.values_list("pk", "prefix"))
        ids = list(revoked)
        now = timezone.now()
        APIKey.objects.filter(pk__in=ids).update(revoked_at=now, revoked_by=source.actor)
        key_events_record(
            api_keys=APIKey.objects.filter(pk__in=ids),
            type=KeyEvent.Type.REVOKED,
            source=source,
            details=details,
            at=now,
        )
        apikey_cache_forget(prefixes=revoked.values())
    return ids


@dataclass(frozen=True)
class ReportedToken:
    """One token of a leak report (docs/api.md, "Leak reports"): what was found, what the
    reporter takes it for, where it was found (`url`, null when not told) and by which kind of
    scan (`source`)."""

    token: str
    type: str
    url: str | None = None
    source: str | None = None


def apikeys_revoke_leaked(*, reported: Sequence[ReportedToken]) -> list[bool]:
    """Act on a verified leak report: revoke every reported token that is one of our working
    keys (checksum, digest, neither revoked nor expired, its owner active), with a `revoked`
    event via `leak_report` whose details name the url it was found at. For each reported
    token, in order, whether it was one (a true positive); anything else changes nothing.

    Each token is judged as things stood when the report arrived, so a token reported twice
    is a true positive both times and revoked once (its event names the first url). One
    indexed query looks up every well-formed token; then each working key is revoked in its
    own transaction (apikey_revoke's), so a leaked key stops working as soon as its own
    revocation commits, not when the last of up to 1,000 does, and a failure part way keeps
    the revocations made before it, which a retried report then finds revoked already.
    """
    now = timezone.now()
    distinct = list(dict.fromkeys(item.token for item in reported))
    prefixes = {token: keys.checked_prefix(token) for token in distinct}
    stored = apikeys_lookup(prefixes={prefix for prefix in prefixes.values() if prefix})
    working: dict[str, APIKey] = {}
    for token, prefix in prefixes.items():
        if prefix is None:
            continue  # a bad checksum or no key's shape at all: not one of ours, no query
        api_key = apikey_usable(api_key=stored.get(prefix), digest=keys.digest(token), now=now)
        if api_key is not None:
            working[token] = api_key
    revoked: set[str] = set()
    for item in reported:
        api_key = working.get(item.token)
        if api_key is None or item.token in revoked:
            continue
        revoked.add(item.token)
        if apikey_revoke(api_key=api_key, source=LEAK_REPORT, details={"url": item.url}):
            logger.warning("Key %s revoked: reported leaked at %r", api_key.prefix, item.url)
    return [item.token in working for item in reported]


def apikey_update(
    *,
    api_key: APIKey,
    name: str,
    expires_at: datetime | None,
    rate_limit: str | None,
    scopes: Iterable[str] | None = None,
    source: KeyChangeSource = OPERATOR,
) -> bool:
    """Change what staff may change of a key, unless it has ended (False then: a revoked,
    expired, or rolled and past its grace key stays ended). Writes only those columns, so a
    last_used_at written meanwhile stays, and one `changed` event naming what changed.

    A rolled key in its grace period may have its expiry moved earlier, never later: a
    ValidationError naming `expires_at`. `scopes` None leaves them as they are. `source` says
    who changes it (the operator by default); a key beyond their reach is PermissionDenied.
    """
    if not user_may_manage_keys_of(actor=source.actor, owner=api_key.owner):
        raise PermissionDenied(f"Key {api_key.prefix} is beyond your rights.")
    apikey_validate(name=name, rate_limit=rate_limit, scopes=scopes)
    changes = {"name": name, "expires_at": expires_at, "rate_limit": rate_limit}
    if scopes is not None:
        changes["scopes"] = canonical_scopes(scopes)
    with transaction.atomic():
        # Locked: a revocation or a roll that commits meanwhile is judged, not overwritten.
        stored = APIKey.objects.select_for_update().filter(pk=api_key.pk).first()
        if stored is None or stored.status_at(timezone.now()) != APIKey.Status.ACTIVE:
            return False
        apikey_validate_expiry_change(api_key=stored, expires_at=expires_at)
        if changed := key_changes(stored, changes):
            APIKey.objects.filter(pk=stored.pk).update(**changes)
            key_events_record(
                api_keys=[stored],
                type=KeyEvent.Type.CHANGED,
                source=source,
                details={"changes": changed},
            )
        apikey_cache_forget(prefixes=[stored.prefix])
    return True


def apikey_validate_expiry_change(*, api_key: APIKey, expires_at: datetime | None) -> None:
    """A rolled key's expiry ends its grace period: it may move earlier, never later (else
    the old secret would outlive the roll that replaced it). A ValidationError naming
    `expires_at`."""
    if api_key.successor_id is None or api_key.expires_at is None:
        return
    if expires_at is None or expires_at > api_key.expires_at:
        raise ValidationError(
            {
                "expires_at": ValidationError(
                    f"This key was rolled: its grace period ends at "
                    f"{api_key.expires_at:%Y-%m-%d %H:%M:%S} UTC and can only be shortened.",
                    code="rolled",
                )
            }
        )


class APIKeyNotActive(Exception):  # noqa: N818 (a state, like Django's DoesNotExist)
    """The key is revoked or expired: it cannot be rolled."""


class APIKeyRolledAlready(Exception):  # noqa: N818 (a state, like Django's DoesNotExist)
    """The key was rolled before: it cannot be rolled again. `successor` is the new key's id."""

    def __init__(self, successor: str) -> None:
        super().__init__(successor)
        self.successor = successor


def apikey_delegate(
    *,
    issuer: APIKey,
    name: str = "",
    scopes: Iterable[str] | None = None,
    expires_at: datetime | None = None,
    source: KeyChangeSource,
) -> IssuedAPIKey:
    """A new key of the issuing key's user, issued with that key
    (docs/api.md, "Keys through the API"): it gives no more than the issuer has (`scopes`
    within the issuer's, None: the same; an expiry no later than the issuer's, None: the
    issuer's), with the default rate limit, and the user holds at most API_KEYS_PER_USER
    working keys. Asking for more is PermissionDenied."""
    scopes = issuer.scopes if scopes is None else scopes
    expires_at = issuer.expires_at if expires_at is None else expires_at
    apikey_validate(name=name, scopes=scopes)
    _refuse_wider_than(issuer, scopes=scopes, expires_at=expires_at)
    owner = issuer.owner
    with transaction.atomic():
        _lock_key_count(owner)
        return apikey_issue(
            owner=owner, name=name, expires_at=expires_at, scopes=scopes, source=source
        )


def _lock_key_count(owner: User) -> None:
    """Take the owner's turn for adding a working key (concurrent issues and rolls for one
    user wait on the user's row, so none counts before another's insert and passes the cap
    with it), and refuse when the owner holds API_KEYS_PER_USER working keys already."""
    User.objects.select_for_update().filter(pk=owner.pk).exists()
    limit = settings.API_KEYS_PER_USER
    working = APIKey.objects.filter(owner=owner).with_status(APIKey.Status.ACTIVE, timezone.now())
    if working.count() >= limit:
        raise ValidationError(
            f"You may hold at most {limit:,} working keys: revoke one to make another.",
            code="key_limit",
        )


def apikey_roll(
    *, api_key: APIKey, issuer: APIKey, grace: timedelta, source: KeyChangeSource
) -> IssuedAPIKey:
    """Replace `api_key` by a new key with its name, scopes, own rate limit and expiry; the
    old key keeps working for `grace`, then expires (earlier if it was to expire earlier).

    A key is rolled once: APIKeyRolledAlready names its successor. APIKeyNotActive for a
    revoked or expired key. PermissionDenied when `issuer` could not issue such a key itself,
    so a narrow key cannot roll a wider one into a fresh secret. A grace period adds a working
    key, so it obeys API_KEYS_PER_USER (ValidationError past it); a roll without one replaces
    the key. Everything in one transaction, the owner's row locked and then the old key's:
    of simultaneous rolls of one key, the first wins and the others find it rolled.
    """
    with transaction.atomic():
        owner = api_key.owner
        User.objects.select_for_update().filter(pk=owner.pk).exists()
        locked = APIKey.objects.select_for_update().get(pk=api_key.pk)
        _refuse_wider_than(issuer, scopes=locked.scopes, expires_at=locked.expires_at)
        if locked.successor_id is not None:
            raise APIKeyRolledAlready(locked.successor.prefix)
        now = timezone.now()
        if locked.status_at(now) != APIKey.Status.ACTIVE:
            raise APIKeyNotActive(locked.prefix)
        if grace > timedelta(0):
            _lock_key_count(owner)
        issued = apikey_issue(owner=owner, **apikey_settings(locked), source=source)
        grace_ends = now + grace
        if locked.expires_at is not None and locked.expires_at <= grace_ends:
            grace_ends = locked.expires_at  # it was to expire earlier: it still does
        APIKey.objects.filter(pk=locked.pk).update(successor=issued.api_key, expires_at=grace_ends)
        key_events_record(
            api_keys=[locked],
            type=KeyEvent.Type.ROLLED,
            source=source,
            details={
                "successor": issued.api_key.prefix,
                "grace_ends_at": shown("expires_at", grace_ends),
            },
            at=now,
        )
        apikey_cache_forget(prefixes=[locked.prefix])
    api_key.refresh_from_db(fields=["expires_at", "successor"])
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
