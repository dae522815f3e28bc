from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from apikeys.scopes import all_scopes, validate_scopes
from apiproject.api.rates import validate_rate
from apiproject.api.text import validate_single_line_text


class APIKeyQuerySet(models.QuerySet):
    def with_status(self, status: str, moment: datetime) -> "APIKeyQuerySet":
        """The keys whose status (see APIKey.status_at) is `status` at `moment`."""
        not_revoked = self.filter(revoked_at__isnull=True)
        if status == APIKey.Status.REVOKED:
            return self.filter(revoked_at__isnull=False)
        if status == APIKey.Status.EXPIRED:
            return not_revoked.filter(expires_at__lte=moment)
        return not_revoked.filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=moment)
        )

    def ending_within(self, moment: datetime, window: timedelta) -> "APIKeyQuerySet":
        """The keys that still work at `moment` (a rolled key in its grace included) and
        expire within `window` of it (moment < expires_at <= moment + window): a range on
        expires_at among the keys not revoked, which apikey_working_expiry_idx serves."""
        return self.filter(
            revoked_at__isnull=True, expires_at__gt=moment, expires_at__lte=moment + window
        )


class APIKey(models.Model):
    """A bearer key of one user. Only the SHA-256 digest of the whole key is stored."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        REVOKED = "revoked"
        EXPIRED = "expired"

    # Keys are revoked, never deleted, and keep their owner for the audit trail: a user who
    # holds keys is deactivated, not deleted.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_keys"
    )
    name = models.CharField(max_length=100, blank=True, validators=[validate_single_line_text])
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Who revoked it, when a person did in admin (NULL for the command line).
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    # NULL means "the default limit"; there is no empty-string state to mistake for a rate.
    rate_limit = models.CharField(  # noqa: DJ001
        max_length=16,
        null=True,
        blank=True,
        validators=[validate_rate],
        help_text="This key's own limit as N/m (N requests a minute); empty: the default.",
    )

    # What the key may do (docs/api.md, "Scopes"); every scope unless fewer were named.
    scopes = models.JSONField(default=all_scopes, validators=[validate_scopes])
    # The key that replaced this one when it was rolled: a key is rolled once
    # (docs/api.md, "Keys through the API"), and its successor is named when a second roll is
    # refused.
    successor = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="predecessor",
    )

    objects = APIKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at", "-id"]
        indexes = [
            # The admin's and listapikeys' order.
            models.Index(
                models.F("created_at").desc(), models.F("id").desc(), name="apikey_newest_idx"
            ),
            # One owner's keys, newest first: GET /api/v1/keys and the active-key cap.
            models.Index(
                "owner",
                models.F("created_at").desc(),
                models.F("id").desc(),
                name="apikey_owner_newest_idx",
            ),
            # The keys about to end: the admin's "ending within 7 days" filter.
            models.Index(
                fields=["expires_at"],
                condition=models.Q(revoked_at__isnull=True),
                name="apikey_working_expiry_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix} ({self.name})" if self.name else self.prefix

    def status_at(self, moment: datetime) -> Status:
        if self.revoked_at is not None:
            return self.Status.REVOKED
        if self.expires_at is not None and self.expires_at <= moment:
            return self.Status.EXPIRED
        return self.Status.ACTIVE

    @property
    def status(self) -> Status:
        return self.status_at(timezone.now())


class KeyCacheChange(models.Model):
    """A change to a key or to its owner that no cached key record may outlive, written in the
    transaction that makes the change (an outbox), so that it reaches the key cache even when
    the process that made it could not (Redis down, or no REDIS_URL in a command's shell).
    Delivered by whichever server process reaches Redis first; apikeys.keycache_store."""

    prefix = models.CharField(max_length=16)
    changed_at = models.DateTimeField(default=timezone.now)
    # Set once the process that made the change dropped the prefix's record after its commit;
    # until then every server delivers it.
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # What every server process asks for twice a second: the few not yet delivered.
            models.Index(
                fields=["changed_at"],
                condition=models.Q(delivered_at__isnull=True),
                name="keycachechange_pending_idx",
            ),
            # The recent changes, delivered again after Redis restarted; old ones purged.
            models.Index(fields=["changed_at"], name="keycachechange_changed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.prefix} at {self.changed_at:%Y-%m-%dT%H:%M:%SZ}"


class KeyEvent(models.Model):
    """What happened to a key, written by the key services in the transaction that makes the
    change, whichever door was used; never changed or deleted. The actor is kept by name too,
    so an event outlives the account that acted (docs/api.md, "Key events")."""

    class Type(models.TextChoices):
        ISSUED = "issued"
        CHANGED = "changed"
        ROLLED = "rolled"
        REVOKED = "revoked"

    class Via(models.TextChoices):
        API = "api"
        ADMIN = "admin"
        COMMAND = "command"
        LEAK_REPORT = "leak_report"

    api_key = models.ForeignKey(APIKey, on_delete=models.PROTECT, related_name="events")
    type = models.CharField(max_length=16, choices=Type.choices)
    at = models.DateTimeField(default=timezone.now)
    via = models.CharField(max_length=16, choices=Via.choices)
    # Who acted, by name (null for the operator's commands and for leak reports); the link to
    # the account is lost with the account, the name is not.
    actor_name = models.CharField(max_length=150, null=True, blank=True)  # noqa: DJ001
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # The client address for the API and the admin (as the rate limits count it), else null.
    ip = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # One key's events, newest first: GET /keys/{key_id}/events and the admin's page.
            models.Index(
                "api_key", models.F("at").desc(), models.F("id").desc(), name="keyevent_newest_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.api_key_id} at {self.at:%Y-%m-%dT%H:%M:%SZ}"


class KeyUsageDay(models.Model):
    """A key's requests of one UTC day, folded from the counters in the cache (docs/api.md, "Key
    usage") by `manage.py foldkeyusage`; kept 90 days."""

    api_key = models.ForeignKey(APIKey, on_delete=models.PROTECT, related_name="usage_days")
    date = models.DateField()
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    rate_limited = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "date"], name="keyusageday_key_date_unique")
        ]

    def __str__(self) -> str:
        return f"{self.api_key_id} on {self.date}: {self.requests}"
