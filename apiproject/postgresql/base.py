"""Django's PostgreSQL backend, with a deadline on every wait for the server.

`statement_timeout` is enforced by the server, and a server that hangs (stopped, swapped out,
a frozen VM) enforces nothing, while its kernel still acknowledges TCP, so neither keepalives
nor `tcp_user_timeout` fire: psycopg would wait forever and gunicorn would kill the worker.
psycopg 3 waits for the server in Python (`Connection.wait`), which takes a timeout; this
backend gives every wait one and, when it expires, closes the connection (its state is
unknown) and raises an OperationalError, which the API answers with 503.

Settings, in DATABASES["default"]["OPTIONS"]:
    connect_timeout      libpq's, seconds (psycopg enforces it itself).
    statement_deadline   seconds a query may wait for the server; set just past the server's
                         statement_timeout, so a slow query on a live server is cancelled by
                         the server cleanly and only a silent server meets the deadline.
    health_check_deadline  seconds for Django's check of a kept connection (CONN_HEALTH_CHECKS).
"""

from typing import Any

import psycopg
from django.db import OperationalError
from django.db.backends.postgresql import base
from psycopg import errors


class DeadlineExceeded(psycopg.OperationalError):
    """The server said nothing in time; the connection was closed."""


class DeadlineConnection(psycopg.Connection):
    deadline: float | None = None

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        try:
            return super().wait(gen, interval=interval, timeout=timeout or self.deadline)
        except errors._WaitTimeout:
            # psycopg's own (private) timeout error: the query may still be running or the
            # server may be gone, so nothing more can be read reliably on this connection.
            self.close()
            raise DeadlineExceeded(
                f"the database did not answer within {timeout or self.deadline} s"
            ) from None


class _Psycopg:
    """The psycopg module, connecting with DeadlineConnection: Django's backend calls
    `self.Database.connect()` and offers no other way to choose the connection class."""

    @staticmethod
    def connect(*args: Any, **kwargs: Any) -> DeadlineConnection:
        return DeadlineConnection.connect(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(psycopg, name)


class DatabaseWrapper(base.DatabaseWrapper):
    Database = _Psycopg()

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        params.pop("statement_deadline", None)
        params.pop("health_check_deadline", None)
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> DeadlineConnection:
        connection = super().get_new_connection(conn_params)
        connection.deadline = self.settings_dict["OPTIONS"].get("statement_deadline")
        return connection

    def is_usable(self) -> bool:
        # Django's per-request check of a kept connection: a round trip, bounded like a
        # connection attempt rather than like a statement.
        if self.connection is None:
            return False
        connection = self.connection
        statement_deadline = connection.deadline
        connection.deadline = self.settings_dict["OPTIONS"].get("health_check_deadline")
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DeadlineExceeded:
            self._health_check_timed_out = True
            return False
        except psycopg.Error:
            return False
        finally:
            connection.deadline = statement_deadline
        return True

    def close_if_health_check_failed(self) -> None:
        # A server that just failed to answer will not accept a new connection either: answer
        # 503 now rather than spend the connect timeout too.
        self._health_check_timed_out = False
        super().close_if_health_check_failed()
        if self._health_check_timed_out:
            raise OperationalError("the database did not answer the health check in time")
