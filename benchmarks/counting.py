"""Counts each request's SQL queries and Redis round trips (BENCH_COUNT=1 servers only)."""

from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse
from redis.connection import AbstractConnection

_round_trips = [0]
_real_send = AbstractConnection.send_packed_command


def _counted_send(self: AbstractConnection, *args: Any, **kwargs: Any) -> Any:
    # One send per round trip: a pipeline or a script is one send, whatever it holds.
    _round_trips[0] += 1
    return _real_send(self, *args, **kwargs)


class CountingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        AbstractConnection.send_packed_command = _counted_send

    def __call__(self, request: HttpRequest) -> HttpResponse:
        queries: list[str] = []

        def record(execute: Callable, sql: str, params: Any, many: bool, context: Any) -> Any:
            queries.append(sql)
            return execute(sql, params, many, context)

        before = _round_trips[0]
        with connection.execute_wrapper(record):
            response = self.get_response(request)
        response["X-Bench-Queries"] = str(len(queries))
        response["X-Bench-Redis"] = str(_round_trips[0] - before)
        return response
