"""The kernel's fixed-window counters in process memory, which count the budgets that stop guessing
while the shared cache fails (docs/api.md, "When the cache fails"): exact across threads, and
bounded however many addresses a flood brings."""

import threading

from apiproject.api.ratelimit import InMemoryWindowCounts

NOW = 1_800_000_000


def test_counts_within_a_window_and_starts_over_in_the_next():
    counts = InMemoryWindowCounts()

    first = [counts.incr("a", ends=NOW + 60, now=NOW)[1] for _ in range(3)]
    next_window = counts.incr("a", ends=NOW + 120, now=NOW + 60)[1]

    assert first == [1, 2, 3]
    assert next_window == 1


def test_keys_count_apart():
    counts = InMemoryWindowCounts()
    counts.incr("a", ends=NOW + 60, now=NOW)

    assert counts.incr("b", ends=NOW + 60, now=NOW)[1] == 1


def test_threads_counting_at_once_lose_no_count():
    counts = InMemoryWindowCounts()
    barrier = threading.Barrier(8)

    def count() -> None:
        barrier.wait(timeout=10)
        for _ in range(1000):
            counts.incr("a", ends=NOW + 60, now=NOW)

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert counts.incr("a", ends=NOW + 60, now=NOW)[1] == 8001


def test_giving_back_takes_one_off_that_window_only():
    counts = InMemoryWindowCounts()
    old, _ = counts.incr("a", ends=NOW + 60, now=NOW)
    counts.incr("a", ends=NOW + 120, now=NOW + 60)

    counts.decr(old)  # a reservation of the ended window, given back late

    assert counts.incr("a", ends=NOW + 120, now=NOW + 60)[1] == 2


def test_giving_back_after_a_clear_leaves_the_new_count_alone():
    counts = InMemoryWindowCounts()
    before, _ = counts.incr("a", ends=NOW + 60, now=NOW)
    counts.delete("a")
    counts.incr("a", ends=NOW + 60, now=NOW)

    counts.decr(before)

    assert counts.incr("a", ends=NOW + 60, now=NOW)[1] == 2


def test_a_flood_of_keys_never_holds_more_than_the_cap():
    counts = InMemoryWindowCounts(max_entries=100)

    for n in range(1000):
        counts.incr(f"203.0.{n // 256}.{n % 256}", ends=NOW + 60, now=NOW)

    assert len(counts) == 100
    # The newest are kept: the oldest went first.
    assert counts.incr("203.0.3.231", ends=NOW + 60, now=NOW)[1] == 2


def test_ended_windows_are_dropped_before_any_open_one():
    counts = InMemoryWindowCounts(max_entries=4)
    counts.incr("ended", ends=NOW + 10, now=NOW)
    for key in ("open-1", "open-2", "open-3"):
        counts.incr(key, ends=NOW + 60, now=NOW)

    counts.incr("new", ends=NOW + 60, now=NOW + 30)

    assert len(counts) == 4
    assert counts.incr("open-1", ends=NOW + 60, now=NOW + 30)[1] == 2


def test_ended_windows_are_dropped_as_new_keys_come():
    counts = InMemoryWindowCounts()
    for n in range(50):
        counts.incr(f"old-{n}", ends=NOW + 60, now=NOW)

    counts.incr("new", ends=NOW + 120, now=NOW + 60)

    assert len(counts) == 1
