"""Rate counting (docs/api.md, "Rate limiting") in the shared Django cache, by django-ratelimit,
the per-client-IP budget for requests that fail authentication (docs/api.md, "Per-IP budget"),
and the failure budgets of the admin login (docs/admin.md, "Login limits").

Not DRF's SimpleRateThrottle: its history list is read, changed and written back, so
concurrent requests lose counts. django-ratelimit counts with the cache's atomic add/incr in
fixed windows.

When the cache fails, the per-key limit fails open (the API stays up), but the budgets that
stop guessing do not: they count in this process's memory instead, so a guesser gets at most
the budget times the number of processes.

On a Redis Cluster (docs/operations.md, "Redis Cluster"), each of django-ratelimit's counters is
one key, read and written alone; a failure budget's counters carry a hash tag, one address's
budgets sharing theirs.
"""

import hashlib
import ipaddress
import logging
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django_ratelimit.core import get_usage
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apiproject.api.cache import CACHE_ERRORS
from apiproject.api.metrics import CACHE_FAIL_OPENS
from apiproject.api.rates import requests_per_minute

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


class CacheCannotCount(Exception):
    """The shared cache failed (raised one of CACHE_ERRORS) or answered nothing; its text is
    the end of the one WARNING line."""

    def __init__(self, cause: Exception | None = None) -> None:
        super().__init__(cause)
        self.cause = cause

    def __str__(self) -> str:
        if self.cause is None:
            return "the cache answered nothing"
        return f"the cache failed: {type(self.cause).__name__}: {self.cause}"


def count_request(request: Request, *, group: str, key: str, rate: str) -> RateLimitUsage | None:
    """Count one request against `key`'s budget in `group`.

    None when the cache cannot count (unreachable, slow, answering nothing): the request is
    then served without limit, with one WARNING line and no traceback. django-ratelimit
    itself catches only DNS failures and otherwise refuses every request.
    """
    try:
        return _shared_usage(request, group=group, key=key, rate=rate, increment=True)
    except CacheCannotCount as failure:
        _not_applied(failure)
        return None


def peek_request_count(*, group: str, key: str, rate: str) -> RateLimitUsage | None:
    """What count_request has counted for `key` in this window, without counting (for a page
    that shows it); None when the cache cannot answer."""
    try:
        # django-ratelimit wants a request only to match methods, which it does not here.
        return _shared_usage(HttpRequest(), group=group, key=key, rate=rate, increment=False)
    except CacheCannotCount as failure:
        _not_applied(failure)
        return None


def count_guess(request: Request, *, group: str, key: str, rate: str) -> RateLimitUsage:
    """Count one request against a budget that stops guessing (an `N/m` rate): like
    count_request, but when the shared cache cannot count, in this process's memory, in the
    same windows, with the one WARNING line. Never unlimited."""
    try:
        return _shared_usage(request, group=group, key=key, rate=rate, increment=True)
    except CacheCannotCount as failure:
        logger.warning("Counted %s in this process's memory only, %s", group, failure)
    now = int(time.time())
    # django-ratelimit's window, named by its last second: the new count starts one later.
    reset = fixed_window_end(key, RATE_PERIOD, now) + 1
    count = _guesses_in_memory.incr(f"{group}\n{key}", ends=reset, now=now)[1]
    return RateLimitUsage(limit=requests_per_minute(rate), count=count, reset=reset)


def _shared_usage(
    request: Any, *, group: str, key: str, rate: str, increment: bool
) -> RateLimitUsage:
    """django-ratelimit's count in the shared cache; CacheCannotCount when it has none."""
    try:
        usage = get_usage(
            request, group=group, key=lambda _group, _request: key, rate=rate, increment=increment
        )
    except CACHE_ERRORS as exc:
        raise CacheCannotCount(exc) from exc
    if usage is None:
        raise CacheCannotCount()
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
    _not_applied(CacheCannotCount(exc))


def _not_applied(failure: CacheCannotCount) -> None:
    CACHE_FAIL_OPENS.inc()
    logger.warning("Rate limit not applied, %s", failure)


# --- Counting in this process's memory, when the shared cache cannot -----------------------
# Hand-written rather than a second, process-memory Django cache (LocMemCache): that one
# drops an expired entry only when it is read again and, when full, culls a third of its
# entries whether their windows have ended or not; here a count lives exactly its window, and
# a full table drops ended windows first, then the oldest. And it hands out the count object
# itself, so a reservation gives back exactly what it took, even after its window rolled over
# or its count was cleared (failures_release).

IN_MEMORY_MAX_ENTRIES = 10_000  # per counter and process: about 2.5 MB, whatever the flood


class WindowCount:
    """One key's count in one fixed window; `ends`: the epoch second the new count starts."""

    __slots__ = ("count", "ends")

    def __init__(self, ends: int) -> None:
        self.ends = ends
        self.count = 0


class InMemoryWindowCounts:
    """Fixed-window counters in this process's memory, safe across its threads, holding at
    most `max_entries` keys."""

    def __init__(self, max_entries: int = IN_MEMORY_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        # In the order they were made, about the order their windows end (exactly, for
        # windows aligned to the epoch): the ended ones gather at the front.
        self._counts: OrderedDict[str, WindowCount] = OrderedDict()

    def incr(self, key: str, *, ends: int, now: int) -> tuple[WindowCount, int]:
        """Count one for `key` in the window ending at `ends`: that window's count object,
        and the count it now holds."""
        with self._lock:
            entry = self._counts.get(key)
            if entry is None or entry.ends != ends:  # a new window (or the clock went back)
                self._counts.pop(key, None)
                self._make_room(now)
                entry = self._counts[key] = WindowCount(ends)
            entry.count += 1
            return entry, entry.count

    def decr(self, entry: WindowCount) -> None:
        """Give back one that incr counted in `entry`. An entry whose window ended or was
        cleared is no longer read: giving back to it changes nothing anyone sees."""
        with self._lock:
            entry.count -= 1

    def delete(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()

    def __len__(self) -> int:
        return len(self._counts)

    def _make_room(self, now: int) -> None:
        while self._counts:
            first = next(iter(self._counts.values()))
            if first.ends > now and len(self._counts) < self.max_entries:
                return
            self._counts.popitem(last=False)


RATE_PERIOD = 60  # rates are N/m (apiproject.api.rates)
_guesses_in_memory = InMemoryWindowCounts()  # count_guess's windows are a minute
_failures_in_memory = InMemoryWindowCounts()  # the failure budgets' windows are long
IN_MEMORY_COUNTERS = (_guesses_in_memory, _failures_in_memory)


# --- Failure budgets: counts that a success can forget -------------------------------------
# django-ratelimit counts and peeks but can neither give a count back nor forget one, and
# these budgets need both; they count in the same cache, in fixed windows.
#
# An attempt reserves before it is checked: it counts itself in each budget in turn, and is
# refused (giving back what it counted) as soon as one goes past its limit. Counting after
# the check let every attempt in flight pass a check made before any of them was counted.
# A reserved attempt that fails keeps its reservation: it is the failure's count. Only a
# success or a refusal gives back, never more than it took, so a counter never holds fewer
# than the failures and checks in flight it let through: of any number of attempts sent at
# once, no more than the limit are checked, and no fewer when more are sent.
#
# Giving back exactly what was taken, whatever happened meanwhile:
# - a reservation remembers the very counter it incremented (its window, its generation),
#   and decrements that one, even if the window has rolled over since;
# - Django's cache incr/decr never create a key (ValueError), so the decrement of a counter
#   that has expired in between is nothing and leaves no stray -1 behind;
# - a success clears a budget by starting a new generation of its counter rather than
#   deleting it: a reservation of the old generation, given back later, cannot take a count
#   off the new one (nor would a counter deleted, then created again, tell them apart).

FAILURES_KEY_PREFIX = "failures:"
EXPIRATION_FUDGE = 5  # seconds a window's counter outlives the window, as django-ratelimit's
SHARED_INCR_TRIES = 3  # a counter that vanishes between add and incr is made again

_Result = TypeVar("_Result")


@dataclass(frozen=True)
class FailureBudget:
    """At most `limit` failures counted for `key` in `group`, per fixed window. Budgets of one
    `tag` (by default their key; one client address's, say) keep their counters in one slot of
    a Redis Cluster."""

    group: str
    key: str
    limit: int
    tag: str = ""

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.group}\n{self.key}".encode()).hexdigest()

    @property
    def slot(self) -> str:
        """The hash tag of its Redis keys: a digest, so no brace of an address can move it."""
        return hashlib.sha256((self.tag or self.key).encode()).hexdigest()[:16]


@dataclass
class _Held:
    """One budget's count taken by a reservation: a shared cache key, or a count in memory."""

    shared_key: str | None = None
    in_memory: WindowCount | None = None


@dataclass
class FailureReservation:
    """What failures_reserve counted for one attempt. `refused`: the budget it found past its
    limit (then nothing is held and the attempt must not be checked)."""

    window: int
    groups: str  # for the WARNING line
    refused: RateLimitUsage | None = None
    held: list[_Held] = field(default_factory=list)
    # Once the shared cache failed, the rest of the attempt counts in memory only: one
    # timeout and one WARNING line per request, not one per operation.
    cache_failed: bool = False

    def in_shared_cache(self, operation: Callable[[], _Result]) -> _Result | None:
        """operation()'s result, or None when the shared cache fails (or failed before)."""
        if self.cache_failed:
            return None
        try:
            return operation()
        except (*CACHE_ERRORS, CacheCannotCount) as exc:
            failure = exc if isinstance(exc, CacheCannotCount) else CacheCannotCount(exc)
            self.cache_failed = True
            logger.warning("Counted %s in this process's memory only, %s", self.groups, failure)
            return None


def failures_reserve(*, budgets: Sequence[FailureBudget], window: int) -> FailureReservation:
    """Count one attempt in every budget (windows of `window` seconds) before it is checked.
    Past any limit, the reservation is given back and `refused` says which budget and until
    when; the attempt must then be answered without checking it."""
    now = int(time.time())
    start = now - now % window
    ends = start + window
    ttl = ends - now + EXPIRATION_FUDGE
    reservation = FailureReservation(
        window=window, groups=", ".join(budget.group for budget in budgets)
    )
    generation_keys = [_generation_key(budget, start) for budget in budgets]
    generations = reservation.in_shared_cache(lambda: cache.get_many(generation_keys)) or {}
    for budget, generation_key in zip(budgets, generation_keys, strict=True):
        shared_key = f"{_counter_name(budget, start)}:{generations.get(generation_key, 0)}"
        count = reservation.in_shared_cache(lambda key=shared_key: _shared_incr(key, ttl))
        if count is not None:
            reservation.held.append(_Held(shared_key=shared_key))
        else:
            entry, count = _failures_in_memory.incr(budget.digest, ends=ends, now=now)
            reservation.held.append(_Held(in_memory=entry))
        if count > budget.limit:
            failures_release(reservation)
            reservation.refused = RateLimitUsage(limit=budget.limit, count=count, reset=ends)
            break
    return reservation


def failures_release(
    reservation: FailureReservation, *, clear: Sequence[FailureBudget] = ()
) -> None:
    """Give back what `reservation` holds: the attempt was no failure (it succeeded, or was
    refused unchecked). The budgets in `clear` also forget every failure counted in their
    current window (a success clears them)."""
    for held in reservation.held:
        if held.in_memory is not None:
            _failures_in_memory.decr(held.in_memory)
        elif held.shared_key is not None:
            reservation.in_shared_cache(lambda key=held.shared_key: _shared_decr(key))
    reservation.held.clear()
    now = int(time.time())
    start = now - now % reservation.window
    ttl = start + reservation.window - now + EXPIRATION_FUDGE
    for budget in clear:
        _failures_in_memory.delete(budget.digest)
        generation_key = _generation_key(budget, start)
        reservation.in_shared_cache(lambda key=generation_key: _shared_incr(key, ttl))


def _counter_name(budget: FailureBudget, start: int) -> str:
    return f"{FAILURES_KEY_PREFIX}{{{budget.slot}}}:{budget.digest}:{start}"


def _generation_key(budget: FailureBudget, start: int) -> str:
    return f"{_counter_name(budget, start)}:generation"


def _shared_incr(key: str, ttl: int) -> int:
    """Add one to the counter `key` in the shared cache, making it (for `ttl` seconds) if it
    does not exist; the new count."""
    for _ in range(SHARED_INCR_TRIES):
        cache.add(key, 0, ttl)
        try:
            return cache.incr(key)
        except ValueError:  # it expired (or was evicted) between the two calls
            continue
    raise CacheCannotCount()


def _shared_decr(key: str) -> None:
    try:
        cache.decr(key)
    except ValueError:
        pass  # it expired: its window is over, and nothing is left to give back to


def fixed_window_end(value: str, period: int, now: int) -> int:
    """The last second of `value`'s current window, as django-ratelimit reckons it: windows
    of `period` seconds from the epoch, shifted by a CRC32 of the value so that not every
    window ends at once. For counting that does not go through django-ratelimit but must
    keep its windows."""
    end = now - (now % period) + (zlib.crc32(value.encode()) % period)
    return end + period if end < now else end


def client_ip(request: Any) -> str:
    """The client's address (docs/api.md, "Client addresses"): the socket's peer, or the Nth
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
        # A budget that stops guessing: counted in process memory when the cache fails.
        self.usage = count_guess(
            request,
            group=FAILED_AUTHENTICATION_GROUP,
            key=client_ip(request),
            rate=settings.API_FAILED_AUTH_RATE_LIMIT,
        )
        return not self.usage.exceeded
