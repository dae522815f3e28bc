"""Real servers of ours for the tests that need several processes: gunicorn servers sharing a
fresh database and a Redis, a private Redis a test may stop, and requests to them; and the
rules that skip (or, in CI, fail) a test whose private PgBouncer or Redis Cluster
(benchmarks/private_servers.py, which `make bench --scale-out` starts too) cannot start."""

import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from django.db import connection as test_database

from benchmarks.private_servers import (
    REDIS_SERVER,
    pgbouncer_unavailable_reason,
    redis_cluster_unavailable_reason,
)
from tests.conftest import IN_CI, redis_unavailable_reason
from tests.processes import (
    Server,
    free_port,
    manage_py,
    migrate_with_superuser,
    serving_several,
)

HOST = "127.0.0.1"
REQUEST_TIMEOUT = 10.0
PROJECTS_PATH = "/api/v1/projects"
# A window's X-RateLimit-Reset is read from two clock readings, which may straddle a second;
# windows of one key are 60 s apart, so resets this close belong to the same window.
SAME_WINDOW_SLACK = 2


@dataclass(frozen=True)
class Reply:
    server: int  # the port that answered
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes
    sent_at: float
    elapsed: float

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def int_header(self, name: str) -> int:
        value = self.header(name)
        assert value is not None, f"{name} missing from a {self.status}"
        return int(value)

    def json(self) -> Any:
        return json.loads(self.body)


def send(
    server: Server,
    method: str,
    path: str,
    key: str | None = None,
    body: object = None,
    *,
    idempotency_key: str | None = None,
) -> Reply:
    """One request on a connection of its own, with `key` as its bearer key, `body` as JSON
    and `idempotency_key` as its Idempotency-Key when given."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection(HOST, server.port, timeout=REQUEST_TIMEOUT)
    sent_at = time.time()
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        answer = response.read()
    finally:
        connection.close()
    return Reply(
        server=server.port,
        status=response.status,
        headers={name.lower(): value for name, value in response.getheaders()},
        body=answer,
        sent_at=sent_at,
        elapsed=time.time() - sent_at,
    )


def get(server: Server, path: str, key: str | None = None) -> Reply:
    return send(server, "GET", path, key)


def alternating_gets(servers: list[Server], key: str, count: int, *, threads: int) -> list[Reply]:
    """`count` GETs of the project list with `key`, request i sent to server i mod n."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [
            pool.submit(get, servers[index % len(servers)], PROJECTS_PATH, key)
            for index in range(count)
        ]
        return [future.result() for future in futures]


def statuses(replies: list[Reply]) -> list[int]:
    return [reply.status for reply in replies]


def assert_each_window_serves_exactly(replies: list[Reply], limit: int) -> None:
    """Each rate-limit window served `limit` of `replies` (all, when fewer came) and answered
    the rest 429, and nothing else."""
    assert set(statuses(replies)) <= {HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS}
    for window in by_window(replies):
        served = statuses(window).count(HTTPStatus.OK)
        assert served == min(limit, len(window))
        assert statuses(window).count(HTTPStatus.TOO_MANY_REQUESTS) == len(window) - served


def assert_remaining_counts_down_once_per_served_request(replies: list[Reply], limit: int) -> None:
    """In each window, the served replies of a fresh key said limit - 1, limit - 2... remaining:
    each request counted once, whichever process served it."""
    for window in by_window(replies):
        remaining = sorted(
            reply.int_header("X-RateLimit-Remaining")
            for reply in window
            if reply.status == HTTPStatus.OK
        )
        assert remaining == list(range(limit - len(remaining), limit))


def by_window(replies: list[Reply]) -> list[list[Reply]]:
    """The replies grouped by the rate-limit window (X-RateLimit-Reset) that counted them."""
    windows: list[list[Reply]] = []
    last_reset = None
    for reply in sorted(replies, key=lambda reply: reply.int_header("X-RateLimit-Reset")):
        reset = reply.int_header("X-RateLimit-Reset")
        if last_reset is None or reset - last_reset > SAME_WINDOW_SLACK:
            windows.append([])
        windows[-1].append(reply)
        last_reset = reset
    return windows


def gunicorn_servers(
    database_url: str,
    redis_url: str,
    log_dir: Path,
    *,
    count: int,
    workers: int,
    **environment: str,
) -> AbstractContextManager[list[Server]]:
    """`count` gunicorn servers of `workers` workers each, sharing the database and Redis,
    their logs in `log_dir`, configured by `environment` too."""
    return serving_several(
        ["-m", "gunicorn", "apiproject.wsgi", "-b", f"{HOST}:{{port}}", "-w", str(workers)],
        count,
        log_dir=log_dir,
        DJANGO_SECRET_KEY="x",
        DATABASE_URL=database_url,
        DJANGO_ALLOWED_HOSTS=HOST,
        REDIS_URL=redis_url,
        **environment,
    )


def require_redis() -> None:
    """The `redis` marker's rule, for module fixtures, which run before the marker's check."""
    if reason := redis_unavailable_reason():
        if IN_CI:
            pytest.fail(f"CI requires Redis: {reason}")
        pytest.skip(reason)


def issue_server_key(database_url: str, username: str, *options: str, **environment: str) -> str:
    """A fresh key of `username` from `manage.py createapikey` (configured by `environment`
    too): its last line of stdout."""
    printed = manage_py(
        "createapikey",
        username,
        *options,
        DJANGO_SECRET_KEY="x",
        DATABASE_URL=database_url,
        **environment,
    )
    return printed.splitlines()[-1]


@contextmanager
def database_for_servers(tmp_path: Path) -> Iterator[str]:
    """DATABASE_URL of a fresh database the servers share: on the PostgreSQL server the tests
    run against when they do (a database of its own, dropped afterwards), else a SQLite file."""
    if test_database.vendor != "postgresql":
        yield f"sqlite:///{tmp_path / 'db.sqlite3'}"
        return
    database = test_database.settings_dict
    port = database["PORT"] or 5432
    name = f"servers_{secrets.token_hex(4)}"
    with psycopg.connect(
        dbname="postgres",
        user=database["USER"],
        password=database["PASSWORD"],
        host=database["HOST"],
        port=port,
        autocommit=True,
    ) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            credentials = database["USER"] + (
                f":{database['PASSWORD']}" if database["PASSWORD"] else ""
            )
            yield f"postgres://{credentials}@{database['HOST']}:{port}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def migrated_database_for_servers(tmp_path: Path, superuser: str) -> Iterator[str]:
    """database_for_servers, migrated, with the superuser `superuser` in it."""
    with database_for_servers(tmp_path) as database_url:
        migrate_with_superuser(superuser, DJANGO_SECRET_KEY="x", DATABASE_URL=database_url)
        yield database_url


@contextmanager
def database_for_a_test_run() -> Iterator[dict[str, str]]:
    """The DATABASE_URL (as an environment) for a pytest run of its own beside this one: on the
    PostgreSQL server the tests run against when they do, under a name of its own (pytest-django
    makes its test database from it and drops it), else none (SQLite, in memory)."""
    if test_database.vendor != "postgresql":
        yield {}
        return
    database = test_database.settings_dict
    credentials = database["USER"] + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
    server = f"{database['HOST']}:{database['PORT'] or 5432}"
    yield {"DATABASE_URL": f"postgres://{credentials}@{server}/run_{secrets.token_hex(4)}"}


@dataclass
class PrivateRedis:
    """A redis-server of the test's own (never the shared one), which it may stop, resume and
    restart from its last snapshot."""

    directory: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, socket_timeout=5)

    def start(self) -> None:
        # Snapshots only when the test asks (SAVE), into its own directory.
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--bind", HOST, "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.directory), "--logfile", "redis.log"],
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client().ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # starting up, bounded by the deadline

    def stop(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def restart_from_snapshot(self) -> None:
        """Killed, then started again on the snapshot of its last SAVE."""
        self.process.kill()
        self.process.wait()
        self.start()

    def close(self) -> None:
        if self.process is not None:
            self.resume()
            self.process.kill()
            self.process.wait()


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    if not Path(REDIS_SERVER).exists():
        reason = f"needs {REDIS_SERVER} (apt-get install -y redis-server)"
        if IN_CI:
            pytest.fail(f"CI requires it: {reason}")
        pytest.skip(reason)
    server = PrivateRedis(Path(tempfile.mkdtemp(prefix="apiproject-redis-")), free_port())
    server.start()
    try:
        yield server
    finally:
        server.close()
        shutil.rmtree(server.directory, ignore_errors=True)


def require_pgbouncer() -> None:
    """The `pgbouncer` marker's rule, for module fixtures, which run before the marker's check."""
    if reason := pgbouncer_unavailable_reason():
        if IN_CI:
            pytest.fail(f"CI requires PgBouncer: {reason}")
        pytest.skip(reason)


def require_redis_cluster_tools() -> None:
    """The `rediscluster` marker's rule: redis-server and redis-cli are needed."""
    if reason := redis_cluster_unavailable_reason():
        if IN_CI:
            pytest.fail(f"CI requires it: {reason}")
        pytest.skip(reason)
