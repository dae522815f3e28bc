"""`Idempotency-Key` on every POST (docs/api.md, "Retries: Idempotency-Key"), for APIViewSet.

A POST with a key runs in one database transaction, from its claim to its kept answer:
- the claim is a lock that ends with the transaction (`pg_try_advisory_xact_lock` on
  PostgreSQL), so a duplicate that finds it taken is answered 409 at once, and a request that
  fails, whose process dies or whose database goes away leaves nothing behind: no claim row
  to release, no lease to wait out;
- the work (the services' own atomic blocks become savepoints) and the kept 2xx answer
  commit together; any other answer rolls everything back, so the key stays free for a retry.

SQLite has no advisory locks; its transactions begin IMMEDIATE (settings), taking the write
lock, so a duplicate waits for the first request to commit and then gets its kept answer.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection
from django.http import QueryDict
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from apiproject.api.errors import Conflict
from apiproject.api.models import IdempotencyRecord

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_VALID_KEY = re.compile(r"[\x20-\x7e]{1,255}")
# The 64-bit advisory lock ids of claims are hashes personalised with this, so they cannot
# meet the ids of any other use of advisory locks in the database.
_LOCK_NAMESPACE = b"idempotency-key"
# A client that vanishes without closing its connection (its host lost, a network cut) leaves
# a server that waits for its next statement until TCP keepalive gives up, hours later, with
# the claim held. A transaction idle this long is ended by the server itself: nobody waits
# that long for an answer (nginx gives up after 25 s, gunicorn.conf.py), and the pauses
# between the statements of a live request are far shorter. Set for this transaction only
# (is_local): nothing is left on the server connection (PgBouncer's transaction pooling).
CLAIM_IDLE_TIMEOUT = "30s"
_CLAIM = (
    "SELECT pg_try_advisory_xact_lock(%s), "
    "set_config('idle_in_transaction_session_timeout', %s, true)"
)


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


@dataclass
class IdempotentRequest:
    """A POST sent with a well-formed Idempotency-Key."""

    user: AbstractBaseUser
    key: str
    fingerprint: str
    # Set by idempotency_claim once this request holds the key and is to do the work.
    claimed: bool = False

    @property
    def lock_id(self) -> int:
        """The claim's advisory lock: a signed 64-bit hash of (user, key)."""
        text = f"{self.user.pk}\n{self.key}".encode()
        digest = hashlib.blake2b(text, digest_size=8, person=_LOCK_NAMESPACE).digest()
        return int.from_bytes(digest, "big", signed=True)


def request_fingerprint(request: Request) -> str:
    """The method, the path (with or without its trailing slash: one operation) and the body
    as parsed JSON, so key order and white space do not matter."""
    data = request.data
    if isinstance(data, QueryDict):  # no body at all
        data = None
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = f"{request.method} {request.path_info.rstrip('/')}\n{body}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def idempotent_request(request: Request) -> IdempotentRequest | None:
    """The POST's Idempotency-Key with what it is kept under; None without the header (or on
    another method), a 400 for a malformed key."""
    if request.method != "POST":
        return None
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if key is None:
        return None
    # The body first: its 413/415/400 come before a 400 for the header
    # (docs/api.md, "Retries: Idempotency-Key").
    fingerprint = request_fingerprint(request)
    if not _VALID_KEY.fullmatch(key):
        raise exceptions.ValidationError(
            {IDEMPOTENCY_KEY_HEADER: ["Must be 1 to 255 printable ASCII characters."]}
        )
    return IdempotentRequest(user=request.user, key=key, fingerprint=fingerprint)


def idempotency_claim(idempotent: IdempotentRequest) -> None:
    """Inside the request's transaction: take the key for this request (`claimed`), or raise
    IdempotencyConflict (409: another request holds it), IdempotentReplay with the kept
    answer, or IdempotencyKeyReused (422: the key was kept for another request)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM, [idempotent.lock_id, CLAIM_IDLE_TIMEOUT])
            locked, _ = cursor.fetchone()
        if not locked:
            raise IdempotencyConflict()
    # Elsewhere (SQLite) the transaction's BEGIN IMMEDIATE has taken the database's write
    # lock: whoever held it before has committed, and its answer is read below.
    record = IdempotencyRecord.objects.filter(user=idempotent.user, key=idempotent.key).first()
    if record is not None:
        if record.expires_at <= timezone.now():
            # Expired answers are never served: the key is free again (and the deletion is
            # undone with everything else if this request fails).
            record.delete()
        elif record.fingerprint != idempotent.fingerprint:
            raise IdempotencyKeyReused()
        else:
            raise IdempotentReplay(record)
    idempotent.claimed = True


def idempotency_keep(idempotent: IdempotentRequest, response: Response, kept_body: Any) -> None:
    """Keep the 2xx answer of a claimed request (with `kept_body`) for the key's retries, in
    the transaction that did the work."""
    now = timezone.now()
    IdempotencyRecord.objects.create(
        user=idempotent.user,
        key=idempotent.key,
        fingerprint=idempotent.fingerprint,
        expires_at=now + timedelta(seconds=settings.API_IDEMPOTENCY_TTL_SECONDS),
        status_code=response.status_code,
        body=kept_body,
        location=response.get("Location", ""),
    )


def idempotency_purge() -> int:
    """Delete every expired record; returns how many."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
