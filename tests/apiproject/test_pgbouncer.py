"""The service through PgBouncer in transaction pooling mode (DATABASE_TRANSACTION_POOLING=1,
README "Through PgBouncer"): the server still cancels a statement past the limit, nothing of
the service outlives its transaction on a server connection, migrations run through it, and
the database still decides every race.

One private PgBouncer (pool_mode = transaction) in front of the PostgreSQL server the tests
use, for a fresh database migrated through it; two gunicorn servers of two workers each whose
DATABASE_URL points at PgBouncer. The tests that leave traffic behind come before the one
that looks for what it left.
"""

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus

import psycopg
import pytest
from django.conf import settings
from django.db import connection as test_database

from benchmarks.private_servers import PrivatePgBouncer, private_pgbouncer
from tests.processes import Server, manage_py, migrate_with_superuser, python_output
from tests.servers import (
    Reply,
    database_for_servers,
    gunicorn_servers,
    issue_server_key,
    require_pgbouncer,
    require_redis,
    send,
)

pytestmark = [pytest.mark.pgbouncer, pytest.mark.postgresql, pytest.mark.redis]

SUPERUSER = "root"
PROJECTS_CAP = 5
SIMULTANEOUS = 10
POOLING = {"DATABASE_TRANSACTION_POOLING": "1"}
Request = tuple[tuple, dict]


@dataclass(frozen=True)
class PooledDatabase:
    direct_url: str  # the PostgreSQL server itself
    url: str  # through PgBouncer
    bouncer: PrivatePgBouncer


@pytest.fixture(scope="module")
def pooled(tmp_path_factory, django_db_blocker) -> Iterator[PooledDatabase]:
    """A fresh database behind a private PgBouncer, migrated through it, with SUPERUSER."""
    if test_database.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://...")
    require_pgbouncer()
    require_redis()
    with (
        django_db_blocker.unblock(),
        database_for_servers(tmp_path_factory.mktemp("pooled")) as direct_url,
        private_pgbouncer(direct_url) as bouncer,
    ):
        url = bouncer.url(direct_url)
        migrate_with_superuser(SUPERUSER, DJANGO_SECRET_KEY="x", DATABASE_URL=url, **POOLING)
        yield PooledDatabase(direct_url, url, bouncer)


@pytest.fixture(scope="module")
def servers(pooled, tmp_path_factory) -> Iterator[list[Server]]:
    with gunicorn_servers(
        pooled.url,
        settings.REDIS_URL,
        tmp_path_factory.mktemp("pooled-servers"),
        count=2,
        workers=2,
        API_PROJECTS_PER_USER=str(PROJECTS_CAP),
        **POOLING,
    ) as servers:
        yield servers


@pytest.fixture(scope="module")
def root_key(pooled) -> str:
    return issue_server_key(pooled.url, SUPERUSER, **POOLING)


@pytest.fixture
def new_user_key(pooled, servers, root_key) -> Callable[[str], str]:
    """Creates the user `username` through the API and returns a fresh key of theirs."""

    def make(username: str) -> str:
        body = {"username": username, "email": f"{username}@example.com", "password": "x" * 12}
        created = send(servers[0], "POST", "/api/v1/users", root_key, body)
        assert created.status == HTTPStatus.CREATED, created.body
        return issue_server_key(pooled.url, username, **POOLING)

    return make


def all_at_once(servers: list[Server], requests: list[Request]) -> list[Reply]:
    """Each request (send's arguments after the server) from a thread of its own, released
    together by a barrier, request i to server i mod n."""
    barrier = threading.Barrier(len(requests))
    replies: list[Reply | Exception | None] = [None] * len(requests)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            args, options = requests[index]
            replies[index] = send(servers[index % len(servers)], *args, **options)
        except Exception as exc:
            replies[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(isinstance(reply, Reply) for reply in replies), replies
    return replies


def request(*args: object, **options: object) -> Request:
    """What all_at_once sends: send's arguments after the server."""
    return args, options


def statuses(replies: list[Reply]) -> list[int]:
    return sorted(reply.status for reply in replies)


# --- Migrations and the server's statement limit ---------------------------------------------


def test_migrations_run_through_pgbouncer(pooled):
    # The fixture migrated this database through PgBouncer: nothing is left to apply.
    manage_py("migrate", "--check", DJANGO_SECRET_KEY="x", DATABASE_URL=pooled.url, **POOLING)


SLOW_STATEMENT = """
import contextlib, time
import django
django.setup()
from django.db import OperationalError, connection, transaction

started = time.monotonic()
try:
    with {block}:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.execute("SELECT pg_sleep(3)")
except OperationalError as exc:
    print(getattr(exc.__cause__, "sqlstate", None), time.monotonic() - started)
with connection.cursor() as cursor:
    cursor.execute("SELECT 'still connected'")
    print(cursor.fetchone()[0])
"""


@pytest.mark.parametrize(
    "block", ["contextlib.nullcontext()", "transaction.atomic()"], ids=["autocommit", "atomic"]
)
def test_the_server_cancels_a_statement_past_the_limit_through_pgbouncer(pooled, block):
    # The second statement: inside an atomic block the setting made with the first one holds.
    printed = python_output(
        SLOW_STATEMENT.format(block=block),
        DJANGO_SECRET_KEY="x",
        DATABASE_URL=pooled.url,
        DATABASE_STATEMENT_TIMEOUT="0.3",
        **POOLING,
    )

    sqlstate, seconds = printed[0].split()
    # 57014 query_canceled: the server's statement_timeout, not the client's deadline (0.55 s,
    # which raises without an SQLSTATE), and long before the 3 s the statement asked for.
    assert sqlstate == "57014"
    assert float(seconds) < 2
    assert printed[1] == "still connected"


# --- The races, decided by the database through PgBouncer --------------------------------------


def test_simultaneous_creates_of_one_username_create_one_user(servers, root_key):
    requests = [
        request(
            "POST",
            "/api/v1/users",
            root_key,
            # The same name, in either case, each with an email of its own.
            {
                "username": "racer" if index % 2 else "RACER",
                "email": f"racer-{index}@example.com",
                "password": "x" * 12,
            },
        )
        for index in range(SIMULTANEOUS)
    ]

    replies = all_at_once(servers, requests)

    expected = [HTTPStatus.CREATED] + [HTTPStatus.BAD_REQUEST] * (SIMULTANEOUS - 1)
    assert statuses(replies) == expected, [reply.body for reply in replies]


def test_simultaneous_creates_never_pass_the_project_cap(servers, new_user_key):
    key = new_user_key("capped")
    for index in range(PROJECTS_CAP - 2):
        own = send(servers[0], "POST", "/api/v1/projects", key, {"name": f"Own {index}"})
        assert own.status == HTTPStatus.CREATED, own.body
    requests = [
        request("POST", "/api/v1/projects", key, {"name": f"Extra {index}"})
        for index in range(SIMULTANEOUS)
    ]

    replies = all_at_once(servers, requests)

    expected = [HTTPStatus.CREATED] * 2 + [HTTPStatus.BAD_REQUEST] * (SIMULTANEOUS - 2)
    assert statuses(replies) == expected, [reply.body for reply in replies]
    listed = send(servers[1], "GET", "/api/v1/projects", key)
    assert listed.json()["total"] == PROJECTS_CAP


def test_simultaneous_posts_with_one_idempotency_key_do_the_work_once(servers, new_user_key):
    key = new_user_key("idempotent")
    create = request("POST", "/api/v1/projects", key, {"name": "Apollo"}, idempotency_key="race")

    replies = all_at_once(servers, [create] * SIMULTANEOUS)

    done = [reply for reply in replies if reply.status == HTTPStatus.CREATED]
    first = [reply for reply in done if reply.header("Idempotent-Replayed") is None]
    assert len(first) == 1, [(reply.status, reply.body) for reply in replies]
    assert all(reply.json() == first[0].json() for reply in done)
    others = [reply for reply in replies if reply not in done]
    assert {reply.status for reply in others} <= {HTTPStatus.CONFLICT}
    listed = send(servers[1], "GET", "/api/v1/projects", key)
    assert listed.json()["total"] == 1


def test_of_simultaneous_rolls_of_one_key_exactly_one_wins(servers, new_user_key):
    key = new_user_key("roller")
    target = send(servers[0], "POST", "/api/v1/keys", key, {})
    assert target.status == HTTPStatus.CREATED, target.body
    roll = request("POST", f"/api/v1/keys/{target.json()['id']}/roll", key, {"grace_seconds": 600})

    replies = all_at_once(servers, [roll] * SIMULTANEOUS)

    expected = [HTTPStatus.CREATED] + [HTTPStatus.CONFLICT] * (SIMULTANEOUS - 1)
    assert statuses(replies) == expected, [reply.body for reply in replies]


# --- What the service leaves on PgBouncer's server connections: nothing ------------------------


def test_after_traffic_no_server_connection_keeps_anything_of_the_service(
    pooled, servers, new_user_key
):
    key = new_user_key("leaves-nothing")
    traffic = [
        # Idempotent POSTs: a claim (a transaction-scoped advisory lock and setting), its
        # replay, and one refused after its claim, mid-transaction (a taken name).
        ({"name": "Gemini"}, "first", HTTPStatus.CREATED),
        ({"name": "Gemini"}, "first", HTTPStatus.CREATED),
        ({"name": "gemini"}, "second", HTTPStatus.BAD_REQUEST),
    ]
    for body, idempotency_key, status in traffic:
        reply = send(
            servers[0], "POST", "/api/v1/projects", key, body, idempotency_key=idempotency_key
        )
        assert reply.status == status, reply.body
    assert send(servers[1], "GET", "/api/v1/projects?limit=1", key).status == HTTPStatus.OK

    with psycopg.connect(pooled.direct_url, autocommit=True) as direct:
        fresh_settings = settings_of(direct)
        served = direct.execute(
            "SELECT pid, state FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        advisory_locks = direct.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()[0]
        temporary_tables = direct.execute(
            "SELECT count(*) FROM pg_class WHERE relpersistence = 't'"
        ).fetchone()[0]
    assert served, "no server connection of PgBouncer's is open"
    assert {state for _, state in served} == {"idle"}
    assert advisory_locks == 0
    assert temporary_tables == 0

    # Fresh clients, each holding a transaction open, take every server connection of the pool
    # in turn: each must look like a fresh session.
    clients = [
        psycopg.connect(pooled.url, prepare_threshold=None) for _ in range(pooled.bouncer.pool_size)
    ]
    try:
        seen = {}
        for client in clients:
            pid = client.execute("SELECT pg_backend_pid()").fetchone()[0]
            seen[pid] = (
                settings_of(client) ^ fresh_settings,
                client.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0],
                client.execute("SELECT count(*) FROM pg_cursors").fetchone()[0],
                client.execute("SELECT count(*) FROM pg_listening_channels()").fetchone()[0],
            )
    finally:
        for client in clients:
            client.close()

    assert len(seen) == pooled.bouncer.pool_size
    assert {pid for pid, _ in served} <= set(seen)
    assert set(seen.values()) == {(frozenset(), 0, 0, 0)}, seen


def settings_of(connection: psycopg.Connection) -> frozenset[tuple[str, str]]:
    """The session's run-time settings that are not at their built-in defaults, with their
    values: a library loaded since (PL/pgSQL, for the triggers) adds settings of its own."""
    return frozenset(
        connection.execute("SELECT name, setting FROM pg_settings WHERE source <> 'default'")
    )
