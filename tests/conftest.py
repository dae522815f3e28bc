"""Shared fixtures. Tests talk to the configured database (SQLite by default, PostgreSQL with
DATABASE_URL=postgres://...) over real connections; nothing here mocks the database."""

import logging
import os
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from apikeys.keycache import CHANGES
from apikeys.keys import KEY_PATTERN
from apiproject.api.ratelimit import IN_MEMORY_COUNTERS
from benchmarks.private_servers import (
    PrivateRedisCluster,
    pgbouncer_unavailable_reason,
    private_redis_cluster,
)
from tests.factories import APIKeyFactory, UserFactory
from tests.kit import (
    GITHUB_KEY,
    REFUSING_REDIS_URL,
    LeakReports,
    bearer_client,
    github_keys_json,
    leak_reports_enabled,
    redis_cache,
)
from users.models import User

IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(autouse=True)
def _static_files_without_collectstatic(settings: object) -> None:
    # Production's manifest storage needs `collectstatic` output; tests render admin and docs
    # pages straight from the apps' static folders.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_rate_limit_counters() -> None:
    # With REDIS_URL set this empties that Redis database: tests get one of their own (CI: /15).
    cache.clear()
    # What a test counted while the cache failed stays in this process's memory otherwise.
    for counter in IN_MEMORY_COUNTERS:
        counter.clear()


class ManualClock:
    """A monotonic clock that moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def key_change_clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    """Every test starts as a process whose key-change feed (apikeys.keycache.invalidation) synced a
    moment ago, on a clock that stands still: no request syncs unless the test moves the
    clock (or resets the feed, as a fresh process)."""
    clock = ManualClock()
    monkeypatch.setattr(CHANGES, "clock", clock)
    CHANGES.reset()
    CHANGES.synced_at = CHANGES.attempted_at = clock()
    return clock


def redis_unavailable_reason() -> str | None:
    if not django_settings.REDIS_URL:
        return "needs Redis: run with REDIS_URL=redis://127.0.0.1:6379/15"
    # One Redis, or the first seed of a cluster (REDIS_CLUSTER=1): any node answers a PING.
    first = django_settings.REDIS_URL.split(",")[0]
    try:
        redis.Redis.from_url(first, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        return f"needs Redis, and {django_settings.REDIS_URL} does not answer: {exc}"
    return None


@pytest.fixture(autouse=True)
def _redis_only(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("redis") and (reason := redis_unavailable_reason()):
        if IN_CI:
            pytest.fail(f"CI requires Redis: {reason}")
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def _pgbouncer_only(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("pgbouncer") and (reason := pgbouncer_unavailable_reason()):
        if IN_CI:
            pytest.fail(f"CI requires PgBouncer: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[PrivateRedisCluster]:
    """A private Redis Cluster of three primaries (benchmarks.private_servers), started once
    for the whole run by the first test that asks for it. A test that stops a node resumes it
    and waits for the cluster to be whole again."""
    from tests.servers import require_redis_cluster_tools  # it imports this module

    if IN_CI and (reason := redis_unavailable_reason()):
        pytest.fail(f"CI requires Redis: {reason}")
    require_redis_cluster_tools()
    with private_redis_cluster() as cluster:
        yield cluster


@pytest.fixture
def refusing_redis(settings: object) -> None:
    """The cache is a Redis that refuses every connection."""
    settings.CACHES = redis_cache(REFUSING_REDIS_URL)


@pytest.fixture
def silent_redis(settings: object) -> Iterator[None]:
    """The cache is a Redis that accepts connections and never answers a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    settings.CACHES = redis_cache(f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
    yield
    listener.close()


@pytest.fixture(params=["refusing_redis", "silent_redis"])
def failing_redis(request: pytest.FixtureRequest) -> None:
    """The cache is a Redis that refuses connections, then one that never answers."""
    request.getfixturevalue(request.param)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: object) -> None:
    # Many tests make users with passwords; the production hasher's cost is not under test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _postgresql_only(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("postgresql") and connection.vendor != "postgresql":
        # CI runs these in its PostgreSQL pass and deselects them (-m "not postgresql") on SQLite.
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://...")


@pytest.fixture
def user(db: None) -> User:
    return UserFactory()


@pytest.fixture
def staff_user(db: None) -> User:
    return UserFactory(staff=True, permissions=["view_user", "add_user"])


@pytest.fixture
def superuser(db: None) -> User:
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def client_for(db: None) -> Callable[[User], APIClient]:
    """An API client carrying a fresh key of the given user: the one way tests get one."""

    def make(owner: User) -> APIClient:
        return bearer_client(APIKeyFactory(owner=owner).plaintext)

    return make


@pytest.fixture
def user_client(user: User, client_for: Callable[[User], APIClient]) -> APIClient:
    return client_for(user)


@pytest.fixture
def staff_client(staff_user: User, client_for: Callable[[User], APIClient]) -> APIClient:
    return client_for(staff_user)


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


@pytest.fixture
def superuser_client(client: Client, superuser: User) -> Client:
    """pytest-django's client, logged in to admin as the superuser `root`."""
    client.force_login(superuser)
    return client


@pytest.fixture
def leak_reports(tmp_path: Path) -> Iterator[LeakReports]:
    """Leak reports enabled, with a keys file in tmp_path listing GITHUB_KEY, a P-256 key
    standing in for GitHub's (docs/api.md, "Leak reports")."""
    keys_file = tmp_path / "github-keys.json"
    keys_file.write_text(github_keys_json(GITHUB_KEY))
    with leak_reports_enabled(keys_file):
        yield LeakReports(keys_file=keys_file, github_key=GITHUB_KEY)


# The answers that issue a key, and so show its plaintext (docs/api.md, "The key format").
ISSUING_API_PATH = re.compile(r"/api/v1/keys(/[0-9A-Za-z]+/roll)?/?")
ISSUING_ADMIN_PATH = "/admin/apikeys/apikey/add/"
# A leak report's answer names each reported token, as its reporter sent it.
LEAK_REPORTS_PATH = re.compile(r"/api/v1/leaked-keys/?")


def shows_a_key_legitimately(environ: dict, response: object) -> bool:
    if environ["REQUEST_METHOD"] != "POST":
        return False
    path = environ["PATH_INFO"]
    if ISSUING_API_PATH.fullmatch(path):
        return response.status_code == 201
    if LEAK_REPORTS_PATH.fullmatch(path):
        return response.status_code == 200
    return path == ISSUING_ADMIN_PATH


class KeyScanningHandler(logging.Handler):
    """Every log line of a test, as emitted, checked for a key's plaintext."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage() + (record.exc_text or "")
        if KEY_PATTERN.search(text):
            self.leaks.append(f"{record.name}: {text[:200]}")


@pytest.fixture(autouse=True)
def _no_plaintext_key_outside_the_answer_that_issues_it(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[None]:
    """Over the whole test run: no answer carries a key's plaintext except the one that
    issues it, and no log line ever does."""
    leaks: list[str] = []
    real_request = Client.request

    def request(self: Client, **environ: object) -> object:
        response = real_request(self, **environ)
        if not getattr(response, "streaming", False) and not shows_a_key_legitimately(
            environ, response
        ):
            if KEY_PATTERN.search(response.content.decode("utf-8", "replace")):
                leaks.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        return response

    monkeypatch.setattr(Client, "request", request)
    handler = KeyScanningHandler()
    logging.getLogger().addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)
    assert leaks == [], "answers that carry a key's plaintext"
    assert handler.leaks == [], "log lines that carry a key's plaintext"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A Redis Cluster test is a Redis test: it runs when the run is given Redis (REDIS_URL), as
    # CI's PostgreSQL pass is, and the embedded defaults' run skips it. Skipped here, before any
    # of its module fixtures starts servers; in CI the redis_cluster fixture fails instead.
    if not IN_CI and (reason := redis_unavailable_reason()):
        for item in items:
            if item.get_closest_marker("rediscluster"):
                item.add_marker(pytest.mark.skip(reason=reason))
