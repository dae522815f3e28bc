"""One key per rendered add form, however often the browser sends it (a reload, a double
click, Back and Submit). Django has no "submit once" for a form, so each rendered form carries
a token kept in the session; the first valid POST claims it with the cache's atomic add (a
double click's second request loses), and the session remembers the prefix of the key issued
with it, never the plaintext, for any later repeat."""

import hashlib
import logging
import secrets

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from apiproject.api.cache import CACHE_ERRORS

logger = logging.getLogger(__name__)

FIELD = "issue_token"  # the form's hidden input
SESSION_KEY = "apikeys.issue_tokens"  # {token: prefix issued with it, or ""}
KEPT = 20  # the newest few: forms left open in a few tabs still work


def new_token(request: HttpRequest) -> str:
    """A token for a form about to be rendered."""
    token = secrets.token_urlsafe(16)
    tokens = request.session.get(SESSION_KEY, {})
    tokens[token] = ""
    request.session[SESSION_KEY] = dict(list(tokens.items())[-KEPT:])
    return token


def submitted_token(request: HttpRequest) -> str:
    """The token the POST carries if this session rendered it, else "" (expired or forged: the
    form issues once, like any form)."""
    token = request.POST.get(FIELD, "")
    return token if token in request.session.get(SESSION_KEY, {}) else ""


def issued_with(request: HttpRequest, token: str) -> str | None:
    """The prefix of the key issued with `token` already, if any."""
    return request.session.get(SESSION_KEY, {}).get(token) or None


def claim(request: HttpRequest, token: str) -> bool:
    """True for the one request that may issue with `token`."""
    claimed = hashlib.sha256(f"{request.session.session_key}:{token}".encode()).hexdigest()
    try:
        return cache.add(f"apikeys.issue-token:{claimed}", 1, settings.SESSION_COOKIE_AGE)
    except CACHE_ERRORS as exc:
        # The session still stops a later repeat; only two simultaneous POSTs could both win.
        logger.warning("Issue token not claimed, the cache failed: %s: %s", type(exc).__name__, exc)
        return True


def remember(request: HttpRequest, token: str, prefix: str) -> None:
    """The key issued with `token` is `prefix`: a repeat names it."""
    tokens = request.session.get(SESSION_KEY, {})
    tokens[token] = prefix
    request.session[SESSION_KEY] = tokens
