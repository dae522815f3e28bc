"""The database backend's deadlines (apiproject/postgresql) rest on psycopg's private
`errors._WaitTimeout`, raised by `Connection.wait(timeout=...)`: an upgrade of psycopg that
renames or drops it would otherwise be noticed only when a database hangs. These fail loudly
instead."""

import inspect
import time

import psycopg
import pytest
from django.db import connection
from psycopg import errors

from apiproject.postgresql.base import DeadlineConnection, DeadlineExceeded


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
