"""Counts each request's SQL statements and Redis round trips, and times how long it holds a
database connection (BENCH_COUNT=1 servers only).

The hold is what a pooler in transaction mode (PgBouncer) lends a server connection for: a
statement outside a transaction from its send to its answer; a transaction from its first
statement (psycopg sends the BEGIN with it) to the answer to its COMMIT or ROLLBACK, the
service's work between its statements included.
"""

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest, HttpResponse
from redis.connection import AbstractConnection

_round_trips = [0]
_real_send = AbstractConnection.send_packed_command
_real_commit = BaseDatabaseWrapper._commit
_real_rollback = BaseDatabaseWrapper._rollback


def _counted_send(self: AbstractConnection, *args: Any, **kwargs: Any) -> Any:
    # One send per round trip: a pipeline or a script is one send, whatever it holds.
    _round_trips[0] += 1
    return _real_send(self, *args, **kwargs)


class _Hold(threading.local):
    """This thread's request: seconds it held a connection, and when its open transaction's
    first statement was sent (None: no transaction open)."""

    seconds = 0.0
    transaction_started: float | None = None

    def statement(self, started: float, in_transaction: bool) -> None:
        if not in_transaction:
            self.seconds += time.perf_counter() - started
        elif self.transaction_started is None:
            self.transaction_started = started

    def transaction_ended(self) -> None:
        if self.transaction_started is not None:
            self.seconds += time.perf_counter() - self.transaction_started
            self.transaction_started = None


_hold = _Hold()


def _ending(real: Callable[[BaseDatabaseWrapper], Any]) -> Callable[[BaseDatabaseWrapper], Any]:
    def end(self: BaseDatabaseWrapper) -> Any:
        try:
            return real(self)
        finally:
            _hold.transaction_ended()

    return end


class CountingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        AbstractConnection.send_packed_command = _counted_send
        BaseDatabaseWrapper._commit = _ending(_real_commit)
        BaseDatabaseWrapper._rollback = _ending(_real_rollback)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        queries: list[str] = []

        def record(execute: Callable, sql: str, params: Any, many: bool, context: Any) -> Any:
            queries.append(sql)
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                _hold.statement(started, context["connection"].in_atomic_block)

        before = _round_trips[0]
        _hold.seconds, _hold.transaction_started = 0.0, None
        with connection.execute_wrapper(record):
            response = self.get_response(request)
        response["X-Bench-Queries"] = str(len(queries))
        response["X-Bench-Redis"] = str(_round_trips[0] - before)
        response["X-Bench-Db-Held-Ms"] = f"{_hold.seconds * 1000:.3f}"
        return response
