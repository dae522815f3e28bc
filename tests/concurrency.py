"""Requests sent at the same moment, each from its own thread, client and database connection:
the races the database's constraints and locks, and the shared cache's counters, must decide."""

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from django.db import connection
from rest_framework.test import APIClient

from tests.kit import bearer_client

AnyClient = TypeVar("AnyClient")
Send = Callable[[APIClient], object]


def simultaneously(plaintext_key: str, sends: list[Send]) -> list[object]:
    """Run each `send(client)` in its own thread with a client carrying the key, released
    together by a barrier; returns what each returned (an exception's repr instead, so the
    test shows it)."""
    return simultaneously_from(lambda: bearer_client(plaintext_key), sends)


def simultaneously_from(
    make_client: Callable[[], AnyClient], sends: list[Callable[[AnyClient], object]]
) -> list[object]:
    """simultaneously, each thread with a client of its own from `make_client()` (the
    admin's, say: `lambda: Client(REMOTE_ADDR=...)`)."""
    barrier = threading.Barrier(len(sends))
    outcomes: list[object] = [None] * len(sends)

    def run(index: int, send: Callable[[AnyClient], object]) -> None:
        client = make_client()
        try:
            barrier.wait(timeout=10)
            outcomes[index] = send(client)
        except Exception as exc:
            outcomes[index] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(sends)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@contextmanager
def in_background(plaintext_key: str, send: Send) -> Iterator[Future]:
    """Run `send(client)` in a thread of its own (its own client and database connection)
    while the block runs; yields the future of what it returns. The block should end by
    waiting for that result."""

    def run() -> object:
        try:
            return send(bearer_client(plaintext_key))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit(run)
