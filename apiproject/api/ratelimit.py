"""Rate counting (contract section 6) in the shared Django cache, by django-ratelimit, and the
per-client-IP budget for requests that fail authentication.

Not DRF's SimpleRateThrottle: its history list is read, changed and written back, so
concurrent requests lose counts. django-ratelimit counts with the cache's atomic add/incr in
fixed windows.
"""

import hashlib
import ipaddress
import logging
import time
import zlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django_ratelimit.core import get_usage
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apiproject.api.cache import CACHE_ERRORS
from apiproject.api.metrics import CACHE_FAIL_OPENS

logger = logging.getLogger(__name__)

FAILED_AUTHENTICATION_GROUP = "api.failed-authentication"
# All requests without a peer address (a Unix socket behind a proxy) share one bucket.
NO_PEER_ADDRESS = "no-peer-address"
IPV6_NETWORK_PREFIX = 64  # one host usually holds a whole /64


@dataclass(frozen=True)
class RateLimitUsage:
    limit: int
    count: int  # requests counted in this window, this one included
    reset: int  # the UTC epoch second at which the new count starts

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit

    def retry_after(self) -> int:
        """Seconds until the new count starts: a client that waits that long is served."""
        return max(1, self.reset - int(time.time()))

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    def headers(self) -> dict[str, str]:
        """The same numbers twice: the X-RateLimit-* headers of the reference, and the
        Structured Fields of draft-ietf-httpapi-ratelimit-headers (windows are a minute)."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
            "RateLimit-Policy": f'"key";q={self.limit};w=60',
            "RateLimit": f'"key";r={self.remaining};t={self.retry_after()}',
        }


def count_request(request: Request, *, group: str, key: str, rate: str) -> RateLimitUsage | None:
    """Count one request against `key`'s budget in `group`.

    None when the cache cannot count (unreachable, slow, answering nothing): the request is
    then served without limit, with one WARNING line and no traceback. django-ratelimit
    itself catches only DNS failures and otherwise refuses every request.
    """
    return _usage(request, group=group, key=key, rate=rate, increment=True)


def peek_request_count(*, group: str, key: str, rate: str) -> RateLimitUsage | None:
    """What count_request has counted for `key` in this window, without counting (for a page
    that shows it); None when the cache cannot answer."""
    # django-ratelimit wants a request only to match methods, which it does not here.
    return _usage(HttpRequest(), group=group, key=key, rate=rate, increment=False)


def _usage(
    request: Any, *, group: str, key: str, rate: str, increment: bool
) -> RateLimitUsage | None:
    try:
        usage = get_usage(
            request, group=group, key=lambda _group, _request: key, rate=rate, increment=increment
        )
    except CACHE_ERRORS as exc:
        rate_limit_not_applied(exc)
        return None
    if usage is None:
        CACHE_FAIL_OPENS.inc()
        logger.warning("Rate limit not applied, the cache answered nothing")
        return None
    # django-ratelimit's window is named by its last second, which still belongs to it
    # (time_left is 0 there): the new count starts one second later. Should a second begin
    # between its clock reading and this one, Reset comes out a second late, never early,
    # so a client waiting Retry-After is still served.
    reset = int(time.time()) + usage["time_left"] + 1
    return RateLimitUsage(limit=usage["limit"], count=usage["count"], reset=reset)


# --- Failure budgets: counts that a success can forget -------------------------------------
# django-ratelimit counts and peeks but cannot forget a count, and "a success clears the
# failures" needs exactly that; these few lines count in the same cache, in fixed windows.

FAILURES_KEY_PREFIX = "failures:"
EXPIRATION_FUDGE = 5  # seconds a window's counter outlives the window, as django-ratelimit's


def _failures_cache_key(group: str, key: str, window: int) -> tuple[str, int]:
    """The counter's cache key for the current window, and the epoch second it ends."""
    now = int(time.time())
    start = now - now % window
    digest = hashlib.sha256(f"{group}\n{key}".encode()).hexdigest()
    return f"{FAILURES_KEY_PREFIX}{digest}:{start}", start + window


def failures_usage(
    *, group: str, key: str, limit: int, window: int, increment: bool
) -> RateLimitUsage | None:
    """The failures counted for `key` in `group` in this window of `window` seconds, one more
    when `increment`. None when the cache cannot answer (one WARNING line): fail open."""
    cache_key, reset = _failures_cache_key(group, key, window)
    try:
        if increment:
            cache.add(cache_key, 0, window + EXPIRATION_FUDGE)
            count = cache.incr(cache_key)
        else:
            count = cache.get(cache_key, 0)
    except (*CACHE_ERRORS, ValueError) as exc:  # ValueError: the counter expired in between
        logger.warning("Failure count not kept, the cache failed: %s: %s", type(exc).__name__, exc)
        return None
    return RateLimitUsage(limit=limit, count=count, reset=reset)


def failures_clear(*, group: str, key: str, window: int) -> None:
    """Forget the failures counted for `key` in this window (after a success)."""
    cache_key, _reset = _failures_cache_key(group, key, window)
    try:
        cache.delete(cache_key)
    except CACHE_ERRORS as exc:
        logger.warning(
            "Failure count not cleared, the cache failed: %s: %s", type(exc).__name__, exc
        )


def rate_limit_not_applied(exc: Exception) -> None:
    """The one WARNING line (no traceback) of a request served without counting because the
    cache failed; also for counting done elsewhere than count_request (a key's cached record
    and its count are read in one round trip)."""
    CACHE_FAIL_OPENS.inc()
    logger.warning("Rate limit not applied, the cache failed: %s: %s", type(exc).__name__, exc)


def fixed_window_end(value: str, period: int, now: int) -> int:
    """The last second of `value`'s current window, as django-ratelimit reckons it: windows
    of `period` seconds from the epoch, shifted by a CRC32 of the value so that not every
    window ends at once. For counting that does not go through django-ratelimit but must
    keep its windows."""
    end = now - (now % period) + (zlib.crc32(value.encode()) % period)
    return end + period if end < now else end


def client_ip(request: Any) -> str:
    """The client's address (contract section 6): the socket's peer, or the Nth
    X-Forwarded-For hop from the right behind N trusted proxies, read as an IP address.

    IPv4-mapped IPv6 addresses count as their IPv4 address (a dual-stack bind reports every
    IPv4 peer that way), other IPv6 addresses by their /64 network.
    """
    peer = request.META.get("REMOTE_ADDR") or ""
    ip = parse_ip(peer)
    trusted_proxies = settings.API_TRUSTED_PROXY_COUNT
    if trusted_proxies:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        # Fewer hops than proxies: the request did not come through them all; a hop that is
        # no IP address was not written by our proxy. Either way the peer's address counts.
        if len(hops) >= trusted_proxies and (hop := parse_ip(hops[-trusted_proxies])):
            ip = hop
    if ip is None:
        return peer[:64] if peer else NO_PEER_ADDRESS
    if ip.version == 6:
        network = ipaddress.ip_network(f"{ip}/{IPV6_NETWORK_PREFIX}", strict=False)
        return str(network.network_address)
    return str(ip)


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`text` as an IP address, its port and brackets dropped (`1.2.3.4:5678`, `[::1]:80`)
    and an IPv4-mapped IPv6 address unwrapped; None when it is no IP address."""
    text = text.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not _is_port_suffix(rest)):
            return None
        text = host
    elif text.count(":") == 1:  # IPv4 with a port; an IPv6 address has two colons or more
        host, _, port = text.partition(":")
        if not _is_port_suffix(f":{port}"):
            return None
        text = host
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _is_port_suffix(text: str) -> bool:
    return len(text) > 1 and text[0] == ":" and text[1:].isascii() and text[1:].isdigit()


class CountingThrottle(BaseThrottle):
    """A throttle whose last count decides the wait."""

    usage: RateLimitUsage | None = None

    def wait(self) -> int | None:
        return self.usage.retry_after() if self.usage is not None else None


class FailedAuthenticationThrottle(CountingThrottle):
    """Requests that fail authentication, per client IP (API_FAILED_AUTH_RATE_LIMIT).

    Not in DEFAULT_THROTTLE_CLASSES: APIViewSet calls it only for a request whose
    authentication failed, so a valid key is never refused for its IP.
    """

    def allow_request(self, request: Request, view: Any) -> bool:
        self.usage = count_request(
            request,
            group=FAILED_AUTHENTICATION_GROUP,
            key=client_ip(request),
            rate=settings.API_FAILED_AUTH_RATE_LIMIT,
        )
        return self.usage is None or not self.usage.exceeded
