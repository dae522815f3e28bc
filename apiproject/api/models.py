from django.conf import settings
from django.db import models


class IdempotencyRecord(models.Model):
    """A POST sent with an Idempotency-Key (contract section 4): claimed before the work
    starts, then the kept answer (status, body, Location) until `expires_at`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of the method, the path and the parsed JSON body.
    fingerprint = models.CharField(max_length=64)
    # When the request that holds the claim started: a claim older than the lease is taken
    # over, so a process that died mid-request does not block the key for a day.
    claimed_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    # Null while the first request is being processed.
    status_code = models.PositiveSmallIntegerField(null=True)
    body = models.JSONField(null=True)
    location = models.CharField(max_length=2048, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key_unique"),
        ]
        indexes = [models.Index(fields=["expires_at"], name="idempotency_expires_idx")]

    def __str__(self) -> str:
        return f"{self.key} ({self.user_id})"
