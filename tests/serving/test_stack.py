"""The production stack (`make serve`: nginx in front of gunicorn) against PostgreSQL and Redis:
slow clients, malformed requests, methods, long queries, request ids and client addresses
(docs/operations.md, "Production stack"; docs/api.md, "Client addresses")."""

import http.client
import json
import re
import resource
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.processes import PROJECT_DIR, manage_py
from tests.serving.stack import Answer, Stack, fetch, raw_request, serving_stack

IP_BUDGET = 5
METRICS_TOKEN = "stack-scrape-token"
NGINX_ID = re.compile(r"[0-9a-f]{32}")  # $request_id


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


@pytest.fixture(scope="module")
def key(stack, stack_postgresql) -> str:
    """A valid key of a user in the stack's database (migrated by the stack itself)."""
    environment = {"DJANGO_SECRET_KEY": "x", "DATABASE_URL": stack_postgresql.url}
    manage_py(
        "createsuperuser", "--noinput", "--username=stack", "--email=s@example.com", **environment
    )
    return manage_py("createapikey", "stack", **environment).splitlines()[-1]


def request_from(
    stack: Stack,
    method: str,
    path: str,
    *,
    source: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Answer:
    """One request on a connection of its own, from the loopback address `source`."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", stack.port, timeout=10, source_address=(source, 0)
    )
    started = time.monotonic()
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        answer_body = response.read()
    finally:
        connection.close()
    return Answer(
        status=response.status,
        headers={name.lower(): value for name, value in response.getheaders()},
        body=answer_body,
        seconds=time.monotonic() - started,
    )


def p99(answers: list[Answer]) -> float:
    durations = sorted(a.seconds for a in answers)
    return durations[int(len(durations) * 0.99) - 1]


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
    assert p99(answers) < 1.0, sorted(a.seconds for a in answers)[-5:]


def cut_off_after(port: int, partial_request: bytes) -> tuple[float, bytes]:
    """Seconds until the server closes a connection that sent `partial_request` and then
    nothing, and what it answered before closing."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(partial_request)
        started = time.monotonic()
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return time.monotonic() - started, received


def test_a_client_that_stops_sending_is_cut_off_within_10_s(stack):
    partial_header = b"GET /api/v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    partial_body = (
        b"POST /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"user'
    )

    with ThreadPoolExecutor(max_workers=2) as pool:
        cut_offs = list(pool.map(cut_off_after, [stack.port] * 2, [partial_header, partial_body]))

    for seconds, received in cut_offs:
        assert 9 < seconds < 11.5, seconds  # client_header_timeout, client_body_timeout
        assert received == b""  # closed without an answer, as docs/operations.md says


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
    # nginx passes these on; gunicorn refuses them (its worker answers in JSON).
    "raw_ff_in_the_path": (b"GET /api/v1/\xffx HTTP/1.1\r\nHost: 127.0.0.1\r\n", 400),
    "raw_ff_in_the_query": (b"GET /api/v1/projects?a=\xff HTTP/1.1\r\nHost: 127.0.0.1\r\n", 400),
    "http_2_0_request_line": (b"GET /api/v1/projects HTTP/2.0\r\nHost: 127.0.0.1\r\n", 505),
}
# Every control byte but NUL, LF and CR (which nginx refuses itself) in a header value.
CONTROL_BYTES = [*range(0x01, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]
MALFORMED |= {
    f"control_byte_{byte:#04x}_in_a_header": (
        b"GET /api/v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: a"
        + bytes([byte])
        + b"b\r\n",
        400,
    )
    for byte in CONTROL_BYTES
}


def header_lines(raw: bytes) -> list[tuple[str, str]]:
    """The answer's header lines, as (lower-cased name, value), repeated names kept."""
    head = raw.partition(b"\r\n\r\n")[0]
    lines = head.decode("latin-1").split("\r\n")[1:]
    return [
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(":") for line in lines)
    ]


def parse_answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line = head.decode("latin-1").split("\r\n")[0]
    return int(status_line.split()[1]), dict(header_lines(raw)), body


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


def test_http_1_2_is_served_by_the_application(stack, key):
    answer = raw_request(
        stack.port,
        b"GET /api/v1/projects HTTP/1.2\r\nHost: 127.0.0.1\r\n"
        + f"Authorization: Bearer {key}\r\nConnection: close\r\n\r\n".encode(),
    )

    status, headers, body = parse_answer(answer)
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"]
    assert headers["x-content-type-options"] == "nosniff"
    assert "data" in json.loads(body)


# --- Methods ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "OPTIONS"])
def test_a_method_an_operation_does_not_serve_is_the_applications_405(stack, key, method):
    answer = request_from(
        stack, method, "/api/v1/projects", headers={"Authorization": f"Bearer {key}"}
    )

    assert answer.status == 405
    assert answer.headers["allow"] == "GET, POST, HEAD"
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"]["code"] == "method_not_allowed"
    assert answer.headers["x-request-id"]
    assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND"])
def test_an_unknown_method_on_an_unknown_path_is_the_applications_404(stack, key, method):
    answer = request_from(
        stack, method, "/api/v1/nowhere", headers={"Authorization": f"Bearer {key}"}
    )

    assert answer.status == 404
    assert answer.json()["error"]["code"] == "not_found"
    assert answer.headers["x-request-id"]
    assert answer.headers["x-content-type-options"] == "nosniff"


# --- Long query strings ---------------------------------------------------------------------------


@pytest.mark.parametrize("length", [2000, 6000])
def test_a_long_query_gets_the_services_answer(stack, key, length):
    answer = request_from(
        stack,
        "GET",
        f"/api/v1/projects?q={'x' * length}",
        headers={"Authorization": f"Bearer {key}"},
    )

    assert answer.status == 200  # not nginx's 502 for a Link header too large to buffer
    assert "x" * length in answer.headers["link"]


@pytest.fixture(scope="module")
def three_projects(stack, key) -> None:
    for index in range(3):
        answer = request_from(
            stack,
            "POST",
            "/api/v1/projects",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            body=json.dumps({"name": f"long query {index}"}).encode(),
        )
        assert answer.status == 201


def test_the_longest_request_line_nginx_accepts_gets_the_services_answer(
    stack, key, three_projects
):
    def request_line(length: int) -> bytes:
        # Page 2 of 3: the Link header has four links (first, prev, next, last), each with
        # the query percent-encoded ("/" is "%2F"): three times as long.
        start = b"GET /api/v1/projects?limit=1&page=2&q="
        end = b" HTTP/1.1"
        return start + b"/" * (length - len(start) - len(end)) + end

    def ask(line: bytes) -> bytes:
        rest = f"\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
        return raw_request(stack.port, line + rest.encode())

    # 8190 bytes and CRLF fill one of nginx's large_client_header_buffers (8k).
    longest = parse_answer(ask(request_line(8190)))
    too_long = parse_answer(ask(request_line(8191)))

    assert too_long[0] == 414
    status, headers, _ = longest
    assert status == 200
    assert re.findall(r'rel="(\w+)"', headers["link"]) == ["first", "prev", "next", "last"]
    assert len(headers["link"]) > 96_000


def test_a_page_with_thousands_of_leading_zeros_reaches_the_service(stack):
    answer = fetch(f"{stack.base_url}/api/v1/projects?page={'0' * 5000}1")

    assert answer.status == 401  # the service's answer (no key), not an HTML 414


def test_the_callers_request_id_goes_through_nginx_and_back(stack):
    answer = fetch(f"{stack.base_url}/api/v1/nowhere", headers={"X-Request-ID": "abc-123"})

    assert answer.status == 404
    assert answer.headers["x-request-id"] == "abc-123"


@pytest.mark.parametrize(
    "request_line, header, status, request_id",
    [
        ("GET /api/v1/nowhere HTTP/1.1", "", 404, "abc-123"),  # the application's answer
        ("GET /api/v1/projects HTTP/1.1", "User-Agent: a\x01b\r\n", 400, "abc-123"),  # gunicorn's
        # nginx's: it refuses the request line before reading any header, so the id is its own.
        ("GET /api/v1/projects HTTP/2.0", "", 505, None),
    ],
)
def test_every_answer_has_one_request_id_and_one_nosniff(
    stack, request_line, header, status, request_id
):
    answer = raw_request(
        stack.port,
        f"{request_line}\r\nHost: 127.0.0.1\r\nX-Request-ID: abc-123\r\n{header}"
        "Connection: close\r\n\r\n".encode(),
    )

    assert parse_answer(answer)[0] == status
    lines = header_lines(answer)
    [answered_id] = [value for name, value in lines if name == "x-request-id"]
    assert answered_id == request_id or (request_id is None and NGINX_ID.fullmatch(answered_id))
    assert [value for name, value in lines if name == "x-content-type-options"] == ["nosniff"]


def test_an_insane_request_id_is_replaced_by_one_of_nginxs(stack):
    answer = fetch(f"{stack.base_url}/api/v1/nowhere", headers={"X-Request-ID": "not sane!"})

    assert NGINX_ID.fullmatch(answer.headers["x-request-id"])


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


# --- Connections of one address ------------------------------------------------------------------

IDLE_CONNECTIONS = 2000


def test_thousands_of_idle_connections_from_one_address_leave_the_others_served(stack):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = IDLE_CONNECTIONS + 500  # and this process's own files
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    idle = []
    try:
        for _ in range(IDLE_CONNECTIONS):
            connection = socket.create_connection(
                ("127.0.0.1", stack.port), timeout=10, source_address=("127.0.0.2", 0)
            )
            idle.append(connection)
            connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and then nothing
        answers = [request_from(stack, "GET", "/healthz", source="127.0.0.3") for _ in range(20)]
    finally:
        for connection in idle:
            connection.close()

    assert [a.status for a in answers] == [200] * 20
    assert p99(answers) < 1.0, sorted(a.seconds for a in answers)[-5:]
    assert "worker_connections are not enough" not in stack.log()


def per_address_limit() -> int:
    template = (PROJECT_DIR / "deploy" / "nginx.conf.template").read_text()
    return int(re.search(r"limit_conn per_address (\d+);", template)[1])


def test_past_its_limit_of_requests_in_progress_an_address_gets_429(stack):
    held = []
    try:
        for _ in range(per_address_limit()):
            connection = socket.create_connection(
                ("127.0.0.1", stack.port), timeout=10, source_address=("127.0.0.5", 0)
            )
            held.append(connection)
            connection.sendall(
                b"POST /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 10\r\n"
                b"Expect: 100-continue\r\n\r\n"
            )
            # nginx asks for the body once the request is counted: in progress, held so.
            assert connection.recv(100).startswith(b"HTTP/1.1 100 Continue")
        refused = request_from(stack, "GET", "/healthz", source="127.0.0.5")
        other = request_from(stack, "GET", "/healthz", source="127.0.0.6")
    finally:
        for connection in held:
            connection.close()

    assert refused.status == 429
    assert refused.headers["content-type"] == "application/json"
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["x-request-id"]
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert other.status == 200


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
