from django.conf import settings
from django.db import models


class IdempotencyRecord(models.Model):
    """The kept 2xx answer (status, body, Location) of a POST sent with an Idempotency-Key,
    until `expires_at`. Written in the transaction that did the work: a request still being
    processed, or one that failed, has no row (apiproject.api.idempotency)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of the method, the path and the parsed JSON body.
    fingerprint = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField(null=True)
    location = models.CharField(max_length=2048, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key_unique"),
        ]
        indexes = [models.Index(fields=["expires_at"], name="idempotency_expires_idx")]

    def __str__(self) -> str:
        return f"{self.key} ({self.user_id})"
