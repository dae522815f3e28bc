"""Rate counting (contract section 6) in the shared Django cache, by django-ratelimit, and the
per-client-IP budget for requests that fail authentication.

Not DRF's SimpleRateThrottle: its history list is read, changed and written back, so
concurrent requests lose counts. django-ratelimit counts with the cache's atomic add/incr in
fixed windows.
"""

import ipaddress
import logging
import time
import zlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django_ratelimit.core import get_usage
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apiproject.api.cache import CACHE_ERRORS

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
    try:
        usage = get_usage(
            request, group=group, key=lambda _group, _request: key, rate=rate, increment=True
        )
    except CACHE_ERRORS as exc:
        rate_limit_not_applied(exc)
        return None
    if usage is None:
        logger.warning("Rate limit not applied, the cache answered nothing")
        return None
    # django-ratelimit's window is named by its last second, which still belongs to it
    # (time_left is 0 there): the new count starts one second later. Should a second begin
    # between its clock reading and this one, Reset comes out a second late, never early,
    # so a client waiting Retry-After is still served.
    reset = int(time.time()) + usage["time_left"] + 1
    return RateLimitUsage(limit=usage["limit"], count=usage["count"], reset=reset)


def rate_limit_not_applied(exc: Exception) -> None:
    """The one WARNING line (no traceback) of a request served without counting because the
    cache failed; also for counting done elsewhere than count_request (a key's cached record
    and its count are read in one round trip)."""
    logger.warning("Rate limit not applied, the cache failed: %s: %s", type(exc).__name__, exc)


def fixed_window_end(value: str, period: int, now: int) -> int:
    """The last second of `value`'s current window, as django-ratelimit reckons it: windows
    of `period` seconds from the epoch, shifted by a CRC32 of the value so that not every
    window ends at once. For counting that does not go through django-ratelimit but must
    keep its windows."""
    end = now - (now % period) + (zlib.crc32(value.encode()) % period)
    return end + period if end < now else end


def client_ip(request: Any) -> str:
    """The client's address: the socket's peer, or the Nth X-Forwarded-For hop from the right
    behind N trusted proxies. IPv6 addresses count by their /64 network."""
    address = request.META.get("REMOTE_ADDR") or ""
    trusted_proxies = settings.API_TRUSTED_PROXY_COUNT
    if trusted_proxies:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        # Fewer hops than proxies: the request did not come through them all, so the
        # forwarded addresses cannot be trusted and the peer's address counts.
        if len(hops) >= trusted_proxies:
            address = hops[-trusted_proxies]
    if not address:
        return NO_PEER_ADDRESS
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 6:
        network = ipaddress.ip_network(f"{ip}/{IPV6_NETWORK_PREFIX}", strict=False)
        return str(network.network_address)
    return str(ip)


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
