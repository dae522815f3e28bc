"""The database backend (apiproject/postgresql). Its deadlines rest on psycopg's private
`errors._WaitTimeout`, raised by `Connection.wait(timeout=...)`: an upgrade of psycopg that
renames or drops it would otherwise be noticed only when a database hangs. These fail loudly
instead. Its statement limit set in each transaction (for PgBouncer's transaction pooling,
tests/apiproject/test_pgbouncer.py) must leave callers' statements working as before."""

import inspect
import time
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection
from psycopg import errors

from apiproject.postgresql.base import DatabaseWrapper, DeadlineConnection, DeadlineExceeded


def test_psycopg_still_has_the_wait_timeout_the_backend_catches():
    assert isinstance(getattr(errors, "_WaitTimeout", None), type), (
        "psycopg.errors._WaitTimeout is gone: apiproject/postgresql/base.py must catch what "
        "psycopg's Connection.wait raises on a timeout now"
    )
    assert issubclass(errors._WaitTimeout, Exception)


def test_psycopg_connection_wait_still_takes_a_timeout():
    assert "timeout" in inspect.signature(psycopg.Connection.wait).parameters


@pytest.mark.postgresql
def test_a_query_past_the_deadline_is_cut_off_and_its_connection_closed(db):
    params = connection.get_connection_params()
    with DeadlineConnection.connect(**params) as deadlined:
        deadlined.deadline = 0.2
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            # Longer than the deadline: the client stops waiting, as for a hung server.
            deadlined.execute("SELECT pg_sleep(2)")
        assert time.monotonic() - started < 1.5
        assert deadlined.closed


# --- The statement limit set in each transaction ----------------------------------------------


@pytest.fixture
def limited(db: None) -> Iterator[DeadlineConnection]:
    """A connection as DATABASE_TRANSACTION_POOLING=1 makes them, with a 200 ms limit, in
    autocommit as Django keeps it; no limit for the session."""
    options = {**connection.settings_dict["OPTIONS"], "transaction_statement_timeout": 200}
    options.pop("options", None)
    wrapper = DatabaseWrapper({**connection.settings_dict, "OPTIONS": options})
    with wrapper.get_new_connection(wrapper.get_connection_params()) as limited:
        limited.autocommit = True
        yield limited


def session_statement_timeout(limited: DeadlineConnection) -> str:
    # A plain cursor of psycopg's, which sets nothing: what the session itself holds.
    with psycopg.ClientCursor(limited) as cursor:
        return cursor.execute("SHOW statement_timeout").fetchone()[0]


@pytest.mark.postgresql
@pytest.mark.parametrize("autocommit", [True, False], ids=["autocommit", "transaction"])
def test_executemany_is_limited_too(limited, autocommit):
    limited.autocommit = autocommit

    with pytest.raises(errors.QueryCanceled), limited.cursor() as cursor:
        cursor.executemany("SELECT pg_sleep(%s)", [[0], [1]])

    limited.rollback()
    assert session_statement_timeout(limited) == "0"


@pytest.mark.postgresql
def test_the_results_are_the_statements_own(limited):
    with limited.cursor() as cursor:
        cursor.execute("SELECT n, %s FROM generate_series(1, 3) AS n", ["x"])

        assert cursor.fetchall() == [(1, "x"), (2, "x"), (3, "x")]
        assert cursor.rowcount == 3
        assert [column.name for column in cursor.description] == ["n", "?column?"]
        assert cursor.statusmessage == "SELECT 3"


@pytest.mark.postgresql
def test_a_transaction_may_still_begin_by_choosing_its_isolation(limited):
    limited.autocommit = False
    with limited.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        cursor.execute("SHOW transaction_isolation")

        assert cursor.fetchone()[0] == "serializable"
    limited.rollback()


@pytest.mark.postgresql
def test_a_statement_that_refuses_a_transaction_runs_alone_in_autocommit(limited):
    with limited.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) django_migrations")

        assert cursor.statusmessage == "VACUUM"
    assert session_statement_timeout(limited) == "0"
