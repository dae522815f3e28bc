"""`Idempotency-Key` on every POST (contract section 4), for APIViewSet.

The first request with a key claims it with a committed row before any work starts, so a
concurrent duplicate finds the claim at once (409) instead of doing the work again; a 2xx
answer is then kept on that row for API_IDEMPOTENCY_TTL_SECONDS, and any other outcome
deletes it so the request can be retried with the same key.
"""

import hashlib
import json
import logging
import re
from datetime import timedelta
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.http import QueryDict
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from apiproject.api.errors import Conflict
from apiproject.api.models import IdempotencyRecord

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_VALID_KEY = re.compile(r"[\x20-\x7e]{1,255}")
# Longer than any request may take (the database's statement timeout and the worker's own
# timeout end a request well before): a claim this old belongs to a request that died.
CLAIM_LEASE = timedelta(seconds=120)
CLAIM_ATTEMPTS = 3


class IdempotencyConflict(Conflict):
    default_detail = (
        "A request with this Idempotency-Key is still being processed: retry once it has finished."
    )


class IdempotencyKeyReused(exceptions.APIException):
    status_code = HTTPStatus.UNPROCESSABLE_ENTITY
    default_detail = (
        "This Idempotency-Key was used for a request with another method, path or body."
    )
    default_code = "idempotency_key_reused"


class IdempotentReplay(Exception):  # noqa: N818 (not an error: the kept answer, raised to skip the view)
    """Raised from APIViewSet.initial to answer with a kept response instead of the view."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__(record.key)
        self.record = record

    def response(self) -> Response:
        headers = {REPLAYED_HEADER: "true"}
        if self.record.location:
            headers["Location"] = self.record.location
        return Response(self.record.body, status=self.record.status_code, headers=headers)


def request_fingerprint(request: Request) -> str:
    """The method, the path (with or without its trailing slash: one operation) and the body
    as parsed JSON, so key order and white space do not matter."""
    data = request.data
    if isinstance(data, QueryDict):  # no body at all
        data = None
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = f"{request.method} {request.path_info.rstrip('/')}\n{body}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def idempotency_claim(request: Request) -> IdempotencyRecord | None:
    """For a POST with an Idempotency-Key, claim the key for this request (the returned
    record) or raise: IdempotentReplay with the kept answer, IdempotencyKeyReused (422),
    IdempotencyConflict (409), or a 400 for a malformed key. None without the header."""
    if request.method != "POST":
        return None
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if key is None:
        return None
    # The body first: its 413/415/400 come before a 400 for the header (contract section 5).
    fingerprint = request_fingerprint(request)
    if not _VALID_KEY.fullmatch(key):
        raise exceptions.ValidationError(
            {IDEMPOTENCY_KEY_HEADER: ["Must be 1 to 255 printable ASCII characters."]}
        )
    for _attempt in range(CLAIM_ATTEMPTS):
        now = timezone.now()
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    user=request.user,
                    key=key,
                    fingerprint=fingerprint,
                    claimed_at=now,
                    expires_at=now + timedelta(seconds=settings.API_IDEMPOTENCY_TTL_SECONDS),
                )
        except IntegrityError:
            pass
        record = IdempotencyRecord.objects.filter(user=request.user, key=key).first()
        if record is None:
            continue  # purged or released meanwhile: claim again
        if record.expires_at <= now:
            # Expired answers are never served: the key is free again.
            IdempotencyRecord.objects.filter(pk=record.pk, expires_at__lte=now).delete()
            continue
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        if record.status_code is not None:
            raise IdempotentReplay(record)
        if record.claimed_at <= now - CLAIM_LEASE and _take_over(record, now):
            return record
        raise IdempotencyConflict()
    raise IdempotencyConflict()


def _take_over(record: IdempotencyRecord, now: Any) -> bool:
    taken = IdempotencyRecord.objects.filter(
        pk=record.pk, status_code__isnull=True, claimed_at=record.claimed_at
    ).update(claimed_at=now)
    record.claimed_at = now
    return bool(taken)


def idempotency_finish(record: IdempotencyRecord, response: Response, kept_body: Any) -> None:
    """Keep a 2xx answer (with `kept_body`) for the key's retries; forget the claim after
    anything else."""
    claimed = IdempotencyRecord.objects.filter(
        pk=record.pk, status_code__isnull=True, claimed_at=record.claimed_at
    )
    if HTTPStatus.OK <= response.status_code < HTTPStatus.MULTIPLE_CHOICES:
        claimed.update(
            status_code=response.status_code,
            body=kept_body,
            location=response.get("Location", ""),
        )
    else:
        claimed.delete()


def idempotency_release(record: IdempotencyRecord) -> None:
    """Forget the claim of a request that ended in an unhandled exception."""
    try:
        IdempotencyRecord.objects.filter(
            pk=record.pk, status_code__isnull=True, claimed_at=record.claimed_at
        ).delete()
    except DatabaseError:
        # The database failed the request too; the claim's lease frees the key later.
        logger.warning("Could not release Idempotency-Key claim %s", record.pk)


def idempotency_purge() -> int:
    """Delete every expired record; returns how many."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
