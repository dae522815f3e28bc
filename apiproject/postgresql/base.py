"""Django's PostgreSQL backend, with a deadline on every wait for the server.

`statement_timeout` is enforced by the server, and a server that hangs (stopped, swapped out,
a frozen VM) enforces nothing, while its kernel still acknowledges TCP, so neither keepalives
nor `tcp_user_timeout` fire: psycopg would wait forever and gunicorn would kill the worker.
psycopg 3 waits for the server in Python (`Connection.wait`), which takes a timeout; this
backend gives every wait one and, when it expires, closes the connection (its state is
unknown) and raises an OperationalError, which the API answers with 503.

Through PgBouncer in transaction pooling mode, consecutive transactions of one connection run
on different server connections, and PgBouncer refuses the `options` startup parameter that
sets `statement_timeout` for a whole session: TransactionLimitCursor sets it in every
transaction instead (docs/operations.md, "Through PgBouncer").

Settings, in DATABASES["default"]["OPTIONS"]:
    connect_timeout      libpq's, seconds (psycopg enforces it itself).
    statement_deadline   seconds a query may wait for the server; set just past the server's
                         statement_timeout, so a slow query on a live server is cancelled by
                         the server cleanly and only a silent server meets the deadline.
    health_check_deadline  seconds for Django's check of a kept connection (CONN_HEALTH_CHECKS).
    transaction_statement_timeout  milliseconds: the server's statement_timeout, set by
                         TransactionLimitCursor in each transaction; unset: not set at all.
"""

from collections.abc import Iterable
from typing import Any

import psycopg
from django.db import OperationalError
from django.db.backends.postgresql import base
from psycopg import errors, sql
from psycopg.pq import TransactionStatus


class DeadlineExceeded(psycopg.OperationalError):
    """The server said nothing in time; the connection was closed."""


class DeadlineConnection(psycopg.Connection):
    deadline: float | None = None
    # What TransactionLimitCursor puts first in each transaction: `SET LOCAL ...; `.
    transaction_settings: str = ""

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


class TransactionLimitCursor(base.Cursor):
    """Django's cursor (client-side binding, psycopg's ClientCursor), which puts the
    connection's `SET LOCAL statement_timeout = ...` before the statement that begins a
    transaction, in the same message: one round trip, as without it.

    In autocommit the statement is a transaction of its own, and PostgreSQL runs the
    statements of one message in one implicit transaction, so the setting holds for the
    statement and ends with it. Inside an atomic block psycopg sends BEGIN first, and the
    setting holds until COMMIT or ROLLBACK. Either way nothing is left on the server connection
    for the next transaction, which PgBouncer may give to another client. `SET LOCAL` rather
    than `set_config()`: a SELECT takes a snapshot, after which a `SET TRANSACTION` of the
    caller would be refused.

    Hand-written because neither Django nor psycopg offers a per-transaction setting: a session
    `SET` would stay on a server connection for PgBouncer's next client; an explicit BEGIN,
    SET LOCAL, statement and COMMIT costs three round trips more, and psycopg's pipeline mode
    (the same in one round trip) about ten times the client CPU of this (measured: README,
    "Through PgBouncer"). Two statements in one message need the simple query protocol, which
    client-side binding uses: the statement's own results come after the SET's (`nextset()`).
    psycopg's `copy()` and `stream()`, which Django does not use, are not limited.
    """

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> "TransactionLimitCursor":
        connection = self.connection
        if connection.pgconn.transaction_status != TransactionStatus.IDLE:
            return super().execute(query, params, **kwargs)  # the transaction has its limit
        try:
            super().execute(_after(connection.transaction_settings, query), params, **kwargs)
        except errors.ActiveSqlTransaction:
            if not connection.autocommit:
                raise
            # CREATE DATABASE, VACUUM, CREATE INDEX CONCURRENTLY and the like refuse the
            # implicit transaction (nothing ran, nothing is left): they run alone, without
            # the server's limit; the client-side deadline still holds.
            return super().execute(query, params, **kwargs)
        self.nextset()
        return self

    def executemany(self, query: Any, params_seq: Iterable[Any], **kwargs: Any) -> None:
        # psycopg sends these in pipeline mode, one statement per message: the setting goes
        # first, as a statement of its own, in an explicit transaction when in autocommit.
        connection = self.connection
        if connection.pgconn.transaction_status != TransactionStatus.IDLE:
            return super().executemany(query, params_seq, **kwargs)
        if connection.autocommit:
            with connection.transaction():
                super().execute(connection.transaction_settings)
                return super().executemany(query, params_seq, **kwargs)
        super().execute(connection.transaction_settings)
        return super().executemany(query, params_seq, **kwargs)


def _after(settings: str, query: Any) -> Any:
    if isinstance(query, str):
        return settings + query
    if isinstance(query, bytes):
        return settings.encode() + query
    return sql.SQL(settings) + query  # psycopg.sql.Composable


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
        if params.pop("transaction_statement_timeout", None) is not None:
            params["cursor_factory"] = TransactionLimitCursor
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> DeadlineConnection:
        connection = super().get_new_connection(conn_params)
        options = self.settings_dict["OPTIONS"]
        connection.deadline = options.get("statement_deadline")
        timeout = options.get("transaction_statement_timeout")
        if timeout is not None:
            connection.transaction_settings = f"SET LOCAL statement_timeout = {int(timeout)}; "
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
