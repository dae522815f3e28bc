"""The README's production stack (`make serve`: nginx in front of gunicorn) against
PostgreSQL and Redis: slow clients, malformed requests and client addresses (contract
sections 6 and 11)."""

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.serving.stack import Stack, fetch, raw_request, serving_stack

IP_BUDGET = 5
METRICS_TOKEN = "stack-scrape-token"


@pytest.fixture(scope="module")
def stack(stack_postgresql, redis_url) -> Iterator[Stack]:
    with serving_stack(
        DATABASE_URL=stack_postgresql.url,
        REDIS_URL=redis_url,
        API_FAILED_AUTH_RATE_LIMIT=f"{IP_BUDGET}/m",
        METRICS_TOKEN=METRICS_TOKEN,
        GUNICORN_WORKERS="2",
    ) as running:
        yield running


# --- Slow clients --------------------------------------------------------------------------------


def slow_client(port: int, until: float, index: int) -> None:
    """One header line every 5 s, never finishing the request; reconnects when cut off."""
    while time.monotonic() < until:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=6) as connection:
                connection.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                while time.monotonic() < until:
                    time.sleep(5)
                    connection.sendall(f"X-Slow-{index}: a\r\n".encode())
        except OSError:
            continue  # nginx gave up on it (client_header_timeout): come back


def test_four_slow_clients_do_not_stop_the_service(stack):
    until = time.monotonic() + 30
    slow = [
        threading.Thread(target=slow_client, args=(stack.port, until, i), daemon=True)
        for i in range(4)
    ]
    for thread in slow:
        thread.start()
    time.sleep(1)  # the slow clients are connected before the measured traffic starts

    answers = []
    for _ in range(200):  # spread over the slow clients' 30 s
        answers.append(fetch(f"{stack.base_url}/readyz", timeout=10))
        time.sleep(0.12)
    for thread in slow:
        thread.join(timeout=40)

    assert [a.status for a in answers] == [200] * 200
    durations = sorted(a.seconds for a in answers)
    assert durations[int(len(durations) * 0.99) - 1] < 1.0, durations[-5:]


# --- Malformed requests --------------------------------------------------------------------------

MALFORMED = {
    "nul_in_a_header": (
        b"GET /api/v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\x00b\r\n",
        400,
    ),
    "content_length_and_chunked": (
        b"POST /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n",
        400,
    ),
    "request_line_over_8k": (
        b"GET /api/v1/projects?page=" + b"0" * 9000 + b"1 HTTP/1.1\r\nHost: 127.0.0.1\r\n",
        414,
    ),
    "header_of_100k": (
        b"GET /api/v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n",
        431,
    ),
    "bogus_transfer_encoding": (
        b"POST /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: bogus\r\n",
        501,
    ),
    "body_over_1_mib": (
        b"POST /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1048577\r\n",
        413,
    ),
}


def parse_answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_request_gets_the_error_body_and_a_request_id(stack, name):
    request, status = MALFORMED[name]

    answer = raw_request(stack.port, request + b"Connection: close\r\n\r\n")

    got_status, headers, body = parse_answer(answer)
    assert got_status == status
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"]
    assert headers["x-content-type-options"] == "nosniff"
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "details"}


def test_a_page_with_thousands_of_leading_zeros_reaches_the_service(stack):
    answer = fetch(f"{stack.base_url}/api/v1/projects?page={'0' * 5000}1")

    assert answer.status == 401  # the service's answer (no key), not an HTML 414


def test_the_callers_request_id_goes_through_nginx_and_back(stack):
    answer = fetch(f"{stack.base_url}/api/v1/nowhere", headers={"X-Request-ID": "abc-123"})

    assert answer.status == 404
    assert answer.headers["x-request-id"] == "abc-123"


# --- Client addresses ----------------------------------------------------------------------------


def fail_authentication_from(stack: Stack, source: str, times: int) -> list[int]:
    statuses = []
    for _ in range(times):
        connection = http.client.HTTPConnection(
            "127.0.0.1", stack.port, timeout=10, source_address=(source, 0)
        )
        connection.request("GET", "/api/v1/projects", headers={"Authorization": "Bearer x"})
        statuses.append(connection.getresponse().status)
        connection.close()
    return statuses


def test_behind_nginx_each_client_has_its_own_failed_authentication_budget(stack):
    first = fail_authentication_from(stack, "127.0.0.2", IP_BUDGET + 1)
    second = fail_authentication_from(stack, "127.0.0.3", 1)

    assert first == [401] * IP_BUDGET + [429]
    assert second == [401]


def test_a_forged_x_forwarded_for_does_not_choose_the_bucket(stack):
    def fail(forged: str) -> int:
        connection = http.client.HTTPConnection(
            "127.0.0.1", stack.port, timeout=10, source_address=("127.0.0.4", 0)
        )
        headers = {"Authorization": "Bearer x", "X-Forwarded-For": forged}
        connection.request("GET", "/api/v1/projects", headers=headers)
        status = connection.getresponse().status
        connection.close()
        return status

    with ThreadPoolExecutor(max_workers=1) as pool:
        statuses = list(pool.map(fail, [f"10.9.9.{i}" for i in range(IP_BUDGET + 1)]))

    assert statuses == [401] * IP_BUDGET + [429]


# --- Metrics -------------------------------------------------------------------------------------


def not_found_count(text: str) -> float:
    prefix = 'api_requests_total{operation="apiproject.api.views.api_not_found",status="404"} '
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


def test_metrics_add_up_every_workers_requests(stack):
    scrape = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    before = not_found_count(fetch(f"{stack.base_url}/metrics", headers=scrape).body.decode())

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: fetch(f"{stack.base_url}/api/v1/x").status, range(60)))
    answer = fetch(f"{stack.base_url}/metrics", headers=scrape)

    assert statuses == [404] * 60
    assert answer.status == 200
    assert not_found_count(answer.body.decode()) - before == 60
    # Two worker processes keep values (one file each), which the scrape adds up.
    assert len(list(stack.metrics_directory().glob("counter_*.db"))) == 2


def test_metrics_without_the_token_are_an_unknown_path(stack):
    metrics = fetch(f"{stack.base_url}/metrics")
    unknown = fetch(f"{stack.base_url}/no-such-path")

    assert metrics.status == unknown.status == 404
    assert metrics.headers["content-type"] == unknown.headers["content-type"]
