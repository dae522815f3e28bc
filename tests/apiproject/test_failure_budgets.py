"""The kernel's failure budgets (the admin login's, docs/admin.md, "Login limits"): an attempt is
counted before it is checked and gives its count back when it was no failure, exactly, whatever
happened in between: its counter expired, its window rolled over, or a success cleared the budget.
In the configured cache (Redis with REDIS_URL), and in process memory when the cache fails."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache

from apiproject.api.ratelimit import FailureBudget, failures_release, failures_reserve

WINDOW = 15 * 60
# 05:06:07 lies in the fixed 15-minute window 05:00:00 to 05:15:00.
NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
NEXT_WINDOW = datetime(2025, 3, 4, 5, 15, 0, tzinfo=UTC)
BUDGET = FailureBudget(group="tests.failures", key="203.0.113.66", limit=2)


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


@pytest.fixture(params=["configured_cache", "refusing_redis"])
def counted_in(request) -> str:
    """Each test counts in the configured cache, then with a Redis that refuses (memory)."""
    if request.param != "configured_cache":
        request.getfixturevalue(request.param)
    return request.param


def reserve(budget: FailureBudget = BUDGET):
    return failures_reserve(budgets=[budget], window=WINDOW)


def checked(attempts: int) -> int:
    """How many of `attempts` reservations (in a row) are let through to be checked."""
    return sum(reserve().refused is None for _ in range(attempts))


def test_reservations_past_the_limit_are_refused(counted_in):
    assert checked(5) == BUDGET.limit


def test_a_refusal_says_when_the_window_ends(counted_in):
    checked(BUDGET.limit)

    refused = reserve().refused

    assert refused is not None
    assert refused.retry_after() == int((NEXT_WINDOW - NOW).total_seconds())


def test_refusals_give_their_counts_back(counted_in):
    first = reserve()
    assert checked(BUDGET.limit + 3) == 1  # and four refused

    failures_release(first)  # a success: had the refusals kept their counts, still no room

    assert checked(3) == 1


def test_a_success_clears_the_budget(counted_in):
    checked(BUDGET.limit - 1)
    success = reserve()

    failures_release(success, clear=[BUDGET])

    assert checked(5) == BUDGET.limit


def test_a_release_after_its_counter_vanished_leaves_nothing_below_zero():
    held = reserve()
    cache.clear()  # the counter expired (or was evicted) meanwhile

    failures_release(held)

    assert checked(5) == BUDGET.limit


def test_a_release_after_the_window_rolled_over_gives_back_to_its_own_window(counted_in, clock):
    held = reserve()
    clock.move_to(NEXT_WINDOW + timedelta(seconds=1), tick=False)
    assert checked(BUDGET.limit) == BUDGET.limit

    failures_release(held)

    assert reserve().refused is not None


def test_a_release_after_a_clear_takes_nothing_off_the_new_count(counted_in):
    held = reserve()
    success = reserve()
    failures_release(success, clear=[BUDGET])
    assert checked(BUDGET.limit) == BUDGET.limit

    failures_release(held)  # counted before the clear, given back after it

    assert reserve().refused is not None
