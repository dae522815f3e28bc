"""Rate limiting (docs/api.md, "Rate limiting") across real server processes: two gunicorn servers
(two workers each) share one Redis, so a key's budget holds across all four processes; a server
whose Redis is unreachable or silent still serves every request, without rate-limit headers.

The servers share a fresh database of their own (on the PostgreSQL server when the tests run
against one, else a SQLite file) and Redis from REDIS_URL. In-process tests flush that Redis
database before each test (conftest), so every test here counts with a key nobody else has
used.
"""

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest
from django.conf import settings

from tests.kit import REFUSING_REDIS_URL
from tests.processes import Server
from tests.servers import (
    HOST,
    PROJECTS_PATH,
    Reply,
    alternating_gets,
    assert_each_window_serves_exactly,
    assert_remaining_counts_down_once_per_served_request,
    by_window,
    get,
    gunicorn_servers,
    issue_server_key,
    migrated_database_for_servers,
    require_redis,
    send,
    statuses,
)

pytestmark = pytest.mark.redis

USERNAME = "alice"
DEFAULT_LIMIT = 100
BURST_SIZE = 300
BURST_THREADS = 30
OWN_LIMIT = 5
OWN_LIMIT_REQUESTS = 20
FAIL_OPEN_REQUESTS = 20
SILENT_REDIS_REQUESTS = 3  # each waits out a socket timeout
SLOW_CACHE_BUDGET = 2.0  # seconds a request may take when Redis never answers
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@pytest.fixture(scope="module")
def server_database(tmp_path_factory, django_db_blocker) -> Iterator[str]:
    """DATABASE_URL of a fresh, migrated database with the user USERNAME."""
    require_redis()
    with (
        django_db_blocker.unblock(),
        migrated_database_for_servers(tmp_path_factory.mktemp("servers"), USERNAME) as database_url,
    ):
        yield database_url


@pytest.fixture(scope="module")
def shared_servers(server_database, tmp_path_factory) -> Iterator[list[Server]]:
    """Two servers of two workers each, counting in the same Redis."""
    with gunicorn_servers(
        server_database, settings.REDIS_URL, tmp_path_factory.mktemp("shared"), count=2, workers=2
    ) as servers:
        yield servers


@pytest.fixture(scope="module")
def burst(server_database, shared_servers) -> list[Reply]:
    """BURST_SIZE concurrent requests with one fresh key, alternating between the servers."""
    key = issue_server_key(server_database, USERNAME)
    return alternating_gets(shared_servers, key, BURST_SIZE, threads=BURST_THREADS)


@pytest.fixture(scope="module")
def own_limit_replies(server_database, shared_servers) -> list[Reply]:
    """Sequential requests with a key issued with its own limit, alternating servers."""
    key = issue_server_key(server_database, USERNAME, "--rate-limit", f"{OWN_LIMIT}/m")
    return alternating_gets(shared_servers, key, OWN_LIMIT_REQUESTS, threads=1)


@pytest.fixture(scope="module")
def refusing_redis_server(server_database, tmp_path_factory) -> Iterator[Server]:
    """A one-worker server whose Redis refuses every connection."""
    with gunicorn_servers(
        server_database, REFUSING_REDIS_URL, tmp_path_factory.mktemp("refusing"), count=1, workers=1
    ) as (server,):
        yield server


@pytest.fixture(scope="module")
def refusing_redis_replies(server_database, refusing_redis_server) -> list[Reply]:
    key = issue_server_key(server_database, USERNAME)
    return alternating_gets([refusing_redis_server], key, FAIL_OPEN_REQUESTS, threads=1)


@pytest.fixture(scope="module")
def silent_redis_url() -> Iterator[str]:
    """A Redis URL whose listener accepts connections and never answers a byte."""
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen()
    accepted: list[socket.socket] = []

    def accept_forever() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # the listener was closed: teardown
                return
            accepted.append(connection)

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    yield f"redis://{HOST}:{listener.getsockname()[1]}/0"
    listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
    listener.close()
    thread.join(timeout=5)
    for connection in accepted:
        connection.close()


@pytest.fixture(scope="module")
def silent_redis_server(server_database, silent_redis_url, tmp_path_factory) -> Iterator[Server]:
    """A one-worker server whose Redis accepts connections and never answers."""
    with gunicorn_servers(
        server_database, silent_redis_url, tmp_path_factory.mktemp("silent"), count=1, workers=1
    ) as (server,):
        yield server


# --- one key's budget, shared by two servers of two workers each -----------------------------


def test_concurrent_burst_is_answered_only_with_200_or_429(burst):
    assert set(statuses(burst)) <= {HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS}


def test_concurrent_burst_serves_exactly_the_limit_in_each_window(burst):
    assert_each_window_serves_exactly(burst, DEFAULT_LIMIT)


def test_concurrent_burst_counts_remaining_down_once_per_served_request(burst):
    # The key is fresh, so each window's count starts at 1 with this burst's first request.
    assert_remaining_counts_down_once_per_served_request(burst, DEFAULT_LIMIT)


def test_concurrent_burst_shares_one_count_across_both_servers(burst, shared_servers):
    for window in by_window(burst):
        served = [reply for reply in window if reply.status == HTTPStatus.OK]
        assert len(served) <= DEFAULT_LIMIT
    for server in shared_servers:
        answered = statuses([reply for reply in burst if reply.server == server.port])
        # 300 requests cannot all fit in one or two windows' budgets of 100: every server
        # refuses some, which it would not if each process counted on its own.
        assert HTTPStatus.TOO_MANY_REQUESTS in answered, server.port
        assert HTTPStatus.OK in answered, server.port


def test_concurrent_burst_responses_all_carry_the_rate_limit_headers(burst):
    for reply in burst:
        for header in RATE_LIMIT_HEADERS:
            assert reply.header(header) is not None, (header, reply.status)
        assert reply.int_header("X-RateLimit-Limit") == DEFAULT_LIMIT
        assert reply.int_header("X-RateLimit-Remaining") >= 0


def test_concurrent_burst_refusals_show_nothing_remaining(burst):
    refused = [reply for reply in burst if reply.status == HTTPStatus.TOO_MANY_REQUESTS]

    assert refused
    assert {reply.int_header("X-RateLimit-Remaining") for reply in refused} == {0}


def test_concurrent_burst_refusals_carry_retry_after_and_the_envelope(burst):
    refused = [reply for reply in burst if reply.status == HTTPStatus.TOO_MANY_REQUESTS]

    assert refused
    for reply in refused:
        retry_after = reply.int_header("Retry-After")
        reset = reply.int_header("X-RateLimit-Reset")
        assert 1 <= retry_after <= max(1, reset - int(reply.sent_at))
        assert reply.json()["error"]["code"] == "rate_limit_exceeded"


# --- a key's usage: the mix of answers, counted across both servers --------------------------

USAGE_LIMIT = 50
# (method, path, the status when not refused for the limit), sent alternately to the servers.
USAGE_MIX = [
    *[("GET", PROJECTS_PATH, HTTPStatus.OK)] * 40,
    *[("GET", f"{PROJECTS_PATH}/project-0", HTTPStatus.NOT_FOUND)] * 10,
    *[("PUT", PROJECTS_PATH, HTTPStatus.METHOD_NOT_ALLOWED)] * 10,
]


@pytest.fixture(scope="module")
def usage_mix(server_database, shared_servers) -> tuple[list[Reply], Reply]:
    """The mix sent at once with a fresh key of its own limit, alternating between the
    servers, then that key's usage read with another key of its user (here: the tests empty
    Redis before each test): (the mix's replies, the usage's reply)."""
    key = issue_server_key(server_database, USERNAME, "--rate-limit", f"{USAGE_LIMIT}/m")
    reader = issue_server_key(server_database, USERNAME)
    with ThreadPoolExecutor(max_workers=BURST_THREADS) as pool:
        futures = [
            pool.submit(send, shared_servers[index % 2], method, path, key)
            for index, (method, path, _) in enumerate(USAGE_MIX)
        ]
        replies = [future.result() for future in futures]
    usage = get(shared_servers[1], f"/api/v1/keys/{key.split('_')[1]}/usage?days=2", reader)
    return replies, usage


def test_a_keys_usage_counts_the_mix_of_answers_exactly_across_servers(usage_mix):
    replies, usage = usage_mix
    observed = statuses(replies)

    assert usage.status == HTTPStatus.OK
    assert HTTPStatus.TOO_MANY_REQUESTS in observed  # the mix went past the limit
    counted = {
        field: sum(day[field] for day in usage.json()["days"])
        for field in ("requests", "errors", "rate_limited")
    }
    assert counted == {
        "requests": len(USAGE_MIX),
        "errors": sum(1 for status in observed if status in {404, 405}),
        "rate_limited": observed.count(HTTPStatus.TOO_MANY_REQUESTS),
    }


# --- a key's own limit (createapikey --rate-limit) -------------------------------------------


def test_key_with_its_own_limit_is_served_that_many_times_per_window(own_limit_replies):
    assert_each_window_serves_exactly(own_limit_replies, OWN_LIMIT)


def test_key_with_its_own_limit_reports_it_in_the_limit_header(own_limit_replies):
    assert {reply.int_header("X-RateLimit-Limit") for reply in own_limit_replies} == {OWN_LIMIT}


# --- fail open: Redis refusing connections ----------------------------------------------------


def test_refusing_redis_still_serves_every_request(refusing_redis_replies):
    assert statuses(refusing_redis_replies) == [HTTPStatus.OK] * FAIL_OPEN_REQUESTS


def test_refusing_redis_answers_without_rate_limit_headers(refusing_redis_replies):
    for reply in refusing_redis_replies:
        for header in RATE_LIMIT_HEADERS:
            assert reply.header(header) is None, header


def test_refusing_redis_logs_one_warning_per_request_without_traceback(
    refusing_redis_replies, refusing_redis_server
):
    log = refusing_redis_server.log()
    warnings = [line for line in log.splitlines() if " WARNING apiproject.api.ratelimit " in line]

    assert len(warnings) == len(refusing_redis_replies)
    assert "Traceback" not in log


# --- fail open: Redis accepting connections and never answering -------------------------------


def test_silent_redis_still_serves_each_request_within_two_seconds(
    server_database, silent_redis_server
):
    key = issue_server_key(server_database, USERNAME)

    replies = [get(silent_redis_server, PROJECTS_PATH, key) for _ in range(SILENT_REDIS_REQUESTS)]

    assert statuses(replies) == [HTTPStatus.OK] * SILENT_REDIS_REQUESTS
    assert max(reply.elapsed for reply in replies) < SLOW_CACHE_BUDGET


def test_silent_redis_makes_readyz_503(silent_redis_server):
    reply = get(silent_redis_server, "/readyz")

    assert reply.status == HTTPStatus.SERVICE_UNAVAILABLE
    assert reply.json()["error"]["code"] == "service_unavailable"
