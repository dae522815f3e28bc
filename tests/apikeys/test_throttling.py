"""Rate limits per API key and per client IP (docs/api.md, "Rate limiting"), with a controlled
clock.

django-ratelimit's fixed windows are staggered per key: a key's window ends on the seconds
congruent to crc32(key) modulo 60, and that last second still belongs to it.
"""

import zlib
from datetime import UTC, datetime
from http import HTTPStatus
from types import SimpleNamespace

import pytest
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from apiproject.api.ratelimit import NO_PEER_ADDRESS, client_ip
from tests.factories import APIKeyFactory
from tests.kit import BAD_CHECKSUM_KEY, assert_error, bearer_client, get_projects

pytestmark = pytest.mark.django_db

PROJECTS_URL = reverse("project-list")
USERS_URL = reverse("user-list")
RATE_HEADERS = {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
# Any moment will do; a fixed one keeps failures reproducible.
EPOCH = 1_800_000_000


def window_end(value: str, moment: int) -> int:
    """The last second of the fixed window that holds `moment` for this key value."""
    end = moment - moment % 60 + zlib.crc32(value.encode()) % 60
    return end + 60 if end < moment else end


def freeze(time_machine, moment: int) -> None:
    time_machine.move_to(datetime.fromtimestamp(moment, tz=UTC), tick=False)


@pytest.fixture
def key(user):
    return APIKeyFactory(owner=user)


@pytest.fixture
def small_limit(settings):
    settings.API_RATE_LIMIT = "3/m"
    return 3


@pytest.fixture
def clock(time_machine, key):
    """The clock frozen 10 s before the end of the key's window; returns that window's end."""
    end = window_end(key.prefix, EPOCH)
    freeze(time_machine, end - 10)
    return end


# --- Headers and counting ------------------------------------------------------------------------


def test_first_request_of_a_window_has_the_limit_headers(key, clock):
    response = get_projects(key.plaintext)

    assert response.status_code == HTTPStatus.OK
    assert response["X-RateLimit-Limit"] == "100"
    assert response["X-RateLimit-Remaining"] == "99"
    assert response["X-RateLimit-Reset"] == str(clock + 1)


def test_remaining_counts_down_with_every_request(key, clock):
    remaining = [get_projects(key.plaintext)["X-RateLimit-Remaining"] for _ in range(3)]

    assert remaining == ["99", "98", "97"]


def test_request_past_the_limit_gets_429_with_the_envelope(key, clock, small_limit):
    for _ in range(small_limit):
        assert get_projects(key.plaintext).status_code == HTTPStatus.OK

    response = get_projects(key.plaintext)

    assert_error(response, HTTPStatus.TOO_MANY_REQUESTS, "rate_limit_exceeded")
    assert response["X-RateLimit-Limit"] == "3"
    assert response["X-RateLimit-Remaining"] == "0"
    assert response["X-RateLimit-Reset"] == str(clock + 1)
    assert response["Retry-After"] == "11"  # Reset - now: 10 s to the window's end, plus 1


def test_remaining_never_goes_below_zero(key, clock, small_limit):
    responses = [get_projects(key.plaintext) for _ in range(small_limit + 3)]

    assert [response["X-RateLimit-Remaining"] for response in responses] == [
        "2",
        "1",
        "0",
        "0",
        "0",
        "0",
    ]


def test_last_second_of_a_window_still_counts_in_it(key, clock, small_limit, time_machine):
    for _ in range(small_limit):
        get_projects(key.plaintext)
    freeze(time_machine, clock)

    response = get_projects(key.plaintext)

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response["X-RateLimit-Reset"] == str(clock + 1)
    assert response["Retry-After"] == "1"


def test_new_count_starts_at_reset(key, clock, small_limit, time_machine):
    for _ in range(small_limit + 1):
        get_projects(key.plaintext)
    freeze(time_machine, clock + 1)

    response = get_projects(key.plaintext)

    assert response.status_code == HTTPStatus.OK
    assert response["X-RateLimit-Remaining"] == "2"
    assert response["X-RateLimit-Reset"] == str(clock + 61)


def test_client_that_waits_retry_after_is_served(key, clock, small_limit, time_machine):
    for _ in range(small_limit):
        get_projects(key.plaintext)
    refused = get_projects(key.plaintext)
    freeze(time_machine, clock - 10 + int(refused["Retry-After"]))

    response = get_projects(key.plaintext)

    assert response.status_code == HTTPStatus.OK


def test_client_that_waits_a_second_less_than_retry_after_is_refused(
    key, clock, small_limit, time_machine
):
    for _ in range(small_limit):
        get_projects(key.plaintext)
    refused = get_projects(key.plaintext)
    freeze(time_machine, clock - 10 + int(refused["Retry-After"]) - 1)

    response = get_projects(key.plaintext)

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response["Retry-After"] == "1"


def test_api_rate_limit_setting_is_the_default(key, clock, settings):
    settings.API_RATE_LIMIT = "250/m"

    response = get_projects(key.plaintext)

    assert response["X-RateLimit-Limit"] == "250"


def test_key_with_its_own_limit_gets_that_limit(user, time_machine):
    own = APIKeyFactory(owner=user, rate_limit="2/m")
    freeze(time_machine, window_end(own.prefix, EPOCH) - 10)

    statuses = [get_projects(own.plaintext).status_code for _ in range(3)]

    assert statuses == [HTTPStatus.OK, HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS]


def test_two_keys_of_one_user_have_two_budgets(user, key, clock, small_limit):
    other = APIKeyFactory(owner=user)
    for _ in range(small_limit + 1):
        get_projects(key.plaintext)

    response = get_projects(other.plaintext)

    assert response.status_code == HTTPStatus.OK
    assert response["X-RateLimit-Remaining"] == "2"


def test_exhausted_key_does_not_touch_another_users_key(key, clock, small_limit):
    other = APIKeyFactory()
    for _ in range(small_limit + 1):
        get_projects(key.plaintext)

    assert get_projects(other.plaintext).status_code == HTTPStatus.OK


# --- Which answers count and carry the headers ---------------------------------------------------


@pytest.fixture
def staff_key(staff_user):
    return APIKeyFactory(owner=staff_user)


def operation_errors(key, staff_key):
    """One request per error of an operation, with the status it must get."""
    return [
        ("400", key, lambda c: c.get(PROJECTS_URL, {"page": "0"}), HTTPStatus.BAD_REQUEST),
        ("403", key, lambda c: c.post(USERS_URL, {}, format="json"), HTTPStatus.FORBIDDEN),
        ("404", staff_key, lambda c: c.get("/api/v1/users/999999"), HTTPStatus.NOT_FOUND),
        ("405", key, lambda c: c.delete(PROJECTS_URL), HTTPStatus.METHOD_NOT_ALLOWED),
        (
            "413",
            staff_key,
            lambda c: c.post(USERS_URL, "x" * 2000, content_type="application/json"),
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        ),
        (
            "415",
            staff_key,
            lambda c: c.post(USERS_URL, "x", content_type="text/plain"),
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        ),
    ]


@pytest.mark.parametrize("case", ["400", "403", "404", "405", "413", "415"])
def test_operation_errors_count_and_carry_the_headers(key, staff_key, settings, case):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    (_, used_key, send, status) = next(
        row for row in operation_errors(key, staff_key) if row[0] == case
    )
    client = bearer_client(used_key.plaintext)

    first = send(client)
    second = send(client)

    assert first.status_code == second.status_code == status
    assert first["X-RateLimit-Limit"] == "100"
    assert (first["X-RateLimit-Remaining"], second["X-RateLimit-Remaining"]) == ("99", "98")
    assert "X-RateLimit-Reset" in first


def test_unknown_path_is_neither_counted_nor_given_headers(key, clock):
    response = bearer_client(key.plaintext).get("/api/v1/nope")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert not RATE_HEADERS & set(response.headers)
    assert get_projects(key.plaintext)["X-RateLimit-Remaining"] == "99"


def test_not_acceptable_is_neither_counted_nor_given_headers(key, clock):
    response = get_projects(key.plaintext, HTTP_ACCEPT="text/html")

    assert response.status_code == HTTPStatus.NOT_ACCEPTABLE
    assert not RATE_HEADERS & set(response.headers)
    assert get_projects(key.plaintext)["X-RateLimit-Remaining"] == "99"


def test_authentication_failures_carry_no_key_headers(anonymous_client):
    response = anonymous_client.get(PROJECTS_URL, HTTP_AUTHORIZATION="Bearer nonsense")

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert not RATE_HEADERS & set(response.headers)


# --- The key's 429 in the order of checks (docs/api.md, "Order of checks") ----------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("delete", PROJECTS_URL), ("post", USERS_URL)],
    ids=["before-405", "before-403"],
)
def test_exhausted_key_gets_429_before_405_and_403(key, clock, small_limit, method, path):
    for _ in range(small_limit):
        get_projects(key.plaintext)

    response = getattr(bearer_client(key.plaintext), method)(path)

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS


# --- Failed authentication, per client IP --------------------------------------------------------


@pytest.fixture
def ip_budget(settings):
    settings.API_FAILED_AUTH_RATE_LIMIT = "3/m"
    return 3


BAD_CHECKSUM = f"Bearer {BAD_CHECKSUM_KEY}"


def fail_authentication(client: APIClient, times: int, **extra: str) -> list[int]:
    return [
        client.get(PROJECTS_URL, HTTP_AUTHORIZATION=BAD_CHECKSUM, **extra).status_code
        for _ in range(times)
    ]


def test_failed_authentications_past_the_ip_budget_get_429(anonymous_client, ip_budget):
    assert fail_authentication(anonymous_client, ip_budget) == [HTTPStatus.UNAUTHORIZED] * 3

    response = anonymous_client.get(PROJECTS_URL, HTTP_AUTHORIZATION=BAD_CHECKSUM)

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(response["Retry-After"]) >= 1
    assert not RATE_HEADERS & set(response.headers)


def test_requests_without_a_header_count_against_the_ip_budget(anonymous_client, ip_budget):
    statuses = [anonymous_client.get(PROJECTS_URL).status_code for _ in range(ip_budget + 1)]

    assert statuses == [HTTPStatus.UNAUTHORIZED] * 3 + [HTTPStatus.TOO_MANY_REQUESTS]


def test_unknown_keys_count_against_the_ip_budget(key, ip_budget):
    revoked_like = key.plaintext[:12] + ("B" if key.plaintext[12] != "B" else "C")
    wrong_secret = revoked_like + key.plaintext[13:]

    statuses = [get_projects(wrong_secret).status_code for _ in range(ip_budget + 1)]

    assert statuses[-1] == HTTPStatus.TOO_MANY_REQUESTS


def test_bad_checksum_past_the_ip_budget_costs_no_query(anonymous_client, ip_budget):
    from django.db import connection

    fail_authentication(anonymous_client, ip_budget)

    with CaptureQueriesContext(connection) as queries:
        response = anonymous_client.get(PROJECTS_URL, HTTP_AUTHORIZATION=BAD_CHECKSUM)

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert len(queries) == 0


def test_valid_key_from_a_blocked_ip_is_served(anonymous_client, key, ip_budget):
    fail_authentication(anonymous_client, ip_budget + 2)

    response = get_projects(key.plaintext)

    assert response.status_code == HTTPStatus.OK


def test_valid_key_requests_do_not_spend_the_ip_budget(anonymous_client, key, ip_budget):
    for _ in range(ip_budget + 2):
        get_projects(key.plaintext)

    assert fail_authentication(anonymous_client, ip_budget) == [HTTPStatus.UNAUTHORIZED] * 3


def test_other_ips_are_unaffected_by_a_blocked_ip(anonymous_client, ip_budget):
    fail_authentication(anonymous_client, ip_budget + 1, REMOTE_ADDR="192.0.2.1")

    assert fail_authentication(anonymous_client, 1, REMOTE_ADDR="192.0.2.2") == [401]


def test_ip_budget_window_rolls_over(anonymous_client, ip_budget, time_machine):
    end = window_end("127.0.0.1", EPOCH)
    freeze(time_machine, end)
    fail_authentication(anonymous_client, ip_budget + 1)
    freeze(time_machine, end + 1)

    assert fail_authentication(anonymous_client, 1) == [HTTPStatus.UNAUTHORIZED]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/api/schema", "/api/v1/nope"])
def test_blocked_ip_still_reaches_paths_outside_the_budget(anonymous_client, ip_budget, path):
    fail_authentication(anonymous_client, ip_budget + 1)

    response = anonymous_client.get(path, HTTP_AUTHORIZATION=BAD_CHECKSUM)

    assert response.status_code != HTTPStatus.TOO_MANY_REQUESTS


def test_forwarded_for_is_ignored_without_trusted_proxies(anonymous_client, ip_budget):
    fail_authentication(anonymous_client, ip_budget, HTTP_X_FORWARDED_FOR="198.51.100.1")

    statuses = fail_authentication(anonymous_client, 1, HTTP_X_FORWARDED_FOR="198.51.100.2")

    assert statuses == [HTTPStatus.TOO_MANY_REQUESTS]


def test_behind_a_trusted_proxy_each_client_has_its_own_budget(
    anonymous_client, ip_budget, settings
):
    settings.API_TRUSTED_PROXY_COUNT = 1
    via_proxy = {"REMOTE_ADDR": "10.0.0.1"}
    fail_authentication(
        anonymous_client, ip_budget + 1, HTTP_X_FORWARDED_FOR="198.51.100.1", **via_proxy
    )

    statuses = fail_authentication(
        anonymous_client, 1, HTTP_X_FORWARDED_FOR="198.51.100.2", **via_proxy
    )

    assert statuses == [HTTPStatus.UNAUTHORIZED]


def test_requests_without_a_peer_address_share_one_bucket(anonymous_client, ip_budget):
    statuses = fail_authentication(anonymous_client, ip_budget + 1, REMOTE_ADDR="")

    assert statuses == [HTTPStatus.UNAUTHORIZED] * 3 + [HTTPStatus.TOO_MANY_REQUESTS]


# --- Failed authentication without the shared cache: counted in process memory ------------------


def ratelimit_warnings(caplog) -> list:
    return [record for record in caplog.records if record.name == "apiproject.api.ratelimit"]


@pytest.fixture
def ip_window(time_machine) -> int:
    """The clock frozen 10 s before the end of 127.0.0.1's window; returns that window's end."""
    end = window_end("127.0.0.1", EPOCH)
    freeze(time_machine, end - 10)
    return end


def test_without_redis_failed_authentications_past_the_ip_budget_get_429(
    anonymous_client, ip_budget, ip_window, failing_redis, caplog
):
    statuses = fail_authentication(anonymous_client, ip_budget + 1)

    assert statuses == [HTTPStatus.UNAUTHORIZED] * 3 + [HTTPStatus.TOO_MANY_REQUESTS]
    # One WARNING line per request, without a traceback.
    warnings = ratelimit_warnings(caplog)
    assert len(warnings) == len(statuses)
    assert all(record.exc_info is None for record in warnings)


def test_without_redis_the_429_waits_for_the_same_window_as_with_it(
    anonymous_client, ip_budget, ip_window, refusing_redis
):
    fail_authentication(anonymous_client, ip_budget)

    response = anonymous_client.get(PROJECTS_URL, HTTP_AUTHORIZATION=BAD_CHECKSUM)

    assert_error(response, HTTPStatus.TOO_MANY_REQUESTS, "rate_limit_exceeded")
    assert response["Retry-After"] == "11"  # 10 s to the window's end, plus 1


def test_without_redis_the_ip_budget_window_rolls_over(
    anonymous_client, ip_budget, ip_window, refusing_redis, time_machine
):
    fail_authentication(anonymous_client, ip_budget + 1)
    freeze(time_machine, ip_window + 1)

    assert fail_authentication(anonymous_client, 1) == [HTTPStatus.UNAUTHORIZED]


def test_without_redis_a_valid_key_from_a_blocked_ip_is_served(
    anonymous_client, key, ip_budget, ip_window, refusing_redis
):
    fail_authentication(anonymous_client, ip_budget + 2)

    assert get_projects(key.plaintext).status_code == HTTPStatus.OK


# --- The client address --------------------------------------------------------------------------


def request_from(remote_addr: str | None, forwarded_for: str | None = None) -> SimpleNamespace:
    meta = {}
    if remote_addr is not None:
        meta["REMOTE_ADDR"] = remote_addr
    if forwarded_for is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return SimpleNamespace(META=meta)


@pytest.mark.parametrize(
    ("proxies", "remote_addr", "forwarded_for", "expected"),
    [
        (0, "203.0.113.7", None, "203.0.113.7"),
        (0, "203.0.113.7", "198.51.100.1", "203.0.113.7"),
        (1, "10.0.0.1", "198.51.100.1", "198.51.100.1"),
        (1, "10.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),
        (2, "10.0.0.1", "6.6.6.6, 198.51.100.1, 10.0.0.2", "198.51.100.1"),
        (2, "10.0.0.1", "198.51.100.1", "10.0.0.1"),  # fewer hops than proxies: the peer
        (1, "10.0.0.1", None, "10.0.0.1"),
        (0, "", None, NO_PEER_ADDRESS),
        (0, None, None, NO_PEER_ADDRESS),
        (0, "2001:db8:1:2:3:4:5:6", None, "2001:db8:1:2::"),
    ],
)
def test_client_ip(settings, proxies, remote_addr, forwarded_for, expected):
    settings.API_TRUSTED_PROXY_COUNT = proxies

    assert client_ip(request_from(remote_addr, forwarded_for)) == expected
