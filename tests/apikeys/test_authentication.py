"""`Authorization: Bearer <key>`, and one answer for every bad header
(docs/api.md, "Authentication")."""

import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from apikeys.models import APIKey
from projects.models import Project
from tests.factories import APIKeyFactory, ProjectFactory, UserFactory, forged_key
from tests.kit import assert_error, get_projects, new_user_body
from users.models import User

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
PROJECTS_URL = reverse("project-list")
NO_KEY_CHALLENGE = 'Bearer realm="api"'
INVALID_KEY_CHALLENGE = 'Bearer realm="api", error="invalid_token"'
WRITE_STATEMENT = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
LAST_USED_UPDATE = re.compile(r'^UPDATE "apikeys_apikey" SET "last_used_at" = [^,]+ WHERE ')


def get_projects_sending(authorization: str | None):
    """GET /api/v1/projects with exactly this Authorization header (None: without one)."""
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    return APIClient().get(PROJECTS_URL, **headers)


def other_character(character: str) -> str:
    return "A" if character != "A" else "B"


def sql_of(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in queries.captured_queries]


def valid_key_then_a_second_token(user, clock) -> str:
    return f"Bearer {APIKeyFactory(owner=user).plaintext} extra"


def token_scheme_with_a_valid_key(user, clock) -> str:
    return f"Token {APIKeyFactory(owner=user).plaintext}"


def bad_checksum(user, clock) -> str:
    key = APIKeyFactory(owner=user).plaintext
    return f"Bearer {key[:-1]}{other_character(key[-1])}"


def unknown_prefix(user, clock) -> str:
    APIKeyFactory(owner=user)  # a key exists, just not this one
    return f"Bearer {forged_key()}"


def wrong_secret_for_an_existing_prefix(user, clock) -> str:
    return f"Bearer {forged_key(APIKeyFactory(owner=user).prefix)}"


def revoked_key(user, clock) -> str:
    return f"Bearer {APIKeyFactory(owner=user, revoked=True).plaintext}"


def expired_key(user, clock) -> str:
    api_key = APIKeyFactory(owner=user, expires_at=NOW + timedelta(hours=1))
    clock.move_to(NOW + timedelta(hours=1, seconds=1), tick=False)
    return f"Bearer {api_key.plaintext}"


def key_of_an_inactive_user(user, clock) -> str:
    # Issued while the user was active, then the user was deactivated.
    owner = UserFactory()
    plaintext = APIKeyFactory(owner=owner).plaintext
    User.objects.filter(pk=owner.pk).update(is_active=False)
    return f"Bearer {plaintext}"


# Each builds, from (user, time_machine), an Authorization header to be refused.
INVALID_HEADERS: dict[str, Callable[..., str]] = {
    "empty value": lambda user, clock: "",
    "bearer alone": lambda user, clock: "Bearer",
    "two tokens": lambda user, clock: "Bearer a b",
    "basic scheme": lambda user, clock: "Basic dXNlcjpwYXNz",
    "valid key then a second token": valid_key_then_a_second_token,
    "token scheme with a valid key": token_scheme_with_a_valid_key,
    "bad checksum": bad_checksum,
    "unknown prefix": unknown_prefix,
    "wrong secret for an existing prefix": wrong_secret_for_an_existing_prefix,
    "revoked key": revoked_key,
    "expired key": expired_key,
    "inactive user": key_of_an_inactive_user,
}


@pytest.fixture
def frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


@pytest.fixture
def invalid_header(request, user, frozen_clock) -> str:
    return INVALID_HEADERS[request.param](user, frozen_clock)


def test_valid_key_gets_200(user_client):
    response = user_client.get(PROJECTS_URL)

    assert response.status_code == HTTPStatus.OK


def operation_request(operation: str, user: User) -> tuple[str, str, dict | None]:
    """(method, path, body) of a request for each operation of the API."""
    project = f"{PROJECTS_URL}/project-{ProjectFactory(owner=user).pk}"
    key = f"/api/v1/keys/{APIKeyFactory(owner=user).prefix}"
    return {
        "list projects": ("get", PROJECTS_URL, None),
        "create a project": ("post", PROJECTS_URL, {"name": "x"}),
        "get a project": ("get", project, None),
        "change a project": ("patch", project, {"name": "y"}),
        "delete a project": ("delete", project, None),
        "get me": ("get", reverse("user-me"), None),
        "get a user": ("get", reverse("user-detail", kwargs={"user_id": user.pk}), None),
        "create a user": ("post", reverse("user-list"), new_user_body()),
        "list keys": ("get", "/api/v1/keys", None),
        "issue a key": ("post", "/api/v1/keys", {}),
        "get a key": ("get", key, None),
        "revoke a key": ("delete", key, None),
        "roll a key": ("post", f"{key}/roll", {}),
        "get a key's usage": ("get", f"{key}/usage", None),
        "list a key's events": ("get", f"{key}/events", None),
    }[operation]


def state_of_the_world() -> tuple:
    """What a refused request must leave as it was."""
    return (
        list(User.objects.order_by("pk").values_list("pk", flat=True)),
        list(Project.objects.order_by("pk").values_list("pk", "name")),
        list(APIKey.objects.order_by("pk").values_list("pk", "revoked_at", "expires_at")),
    )


# Every operation called with a key. Not POST /leaked-keys, which takes none: GitHub signs
# it, and its 401s are about the signature (tests/apikeys/test_leak_reports.py).
OPERATIONS = [
    "list projects",
    "create a project",
    "get a project",
    "change a project",
    "delete a project",
    "get me",
    "get a user",
    "create a user",
    "list keys",
    "issue a key",
    "get a key",
    "revoke a key",
    "roll a key",
    "get a key's usage",
    "list a key's events",
]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_request_without_authorization_header_gets_401_authentication_required(user, operation):
    method, path, body = operation_request(operation, user)
    before = state_of_the_world()

    response = getattr(APIClient(), method)(path, body)

    assert_error(response, HTTPStatus.UNAUTHORIZED, "authentication_required")
    assert response["WWW-Authenticate"] == NO_KEY_CHALLENGE
    assert state_of_the_world() == before


@pytest.mark.parametrize("operation", OPERATIONS)
def test_request_with_an_invalid_key_gets_401_invalid_api_key(user, operation):
    method, path, body = operation_request(operation, user)
    before = state_of_the_world()

    response = getattr(APIClient(), method)(path, body, HTTP_AUTHORIZATION="Bearer ak_nope_nope")

    assert_error(response, HTTPStatus.UNAUTHORIZED, "invalid_api_key")
    assert response["WWW-Authenticate"] == INVALID_KEY_CHALLENGE
    assert state_of_the_world() == before


@pytest.mark.parametrize("invalid_header", list(INVALID_HEADERS), indirect=True)
def test_invalid_authorization_header_gets_401_invalid_api_key(invalid_header):
    response = get_projects_sending(invalid_header)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("invalid_header", list(INVALID_HEADERS), indirect=True)
def test_invalid_authorization_header_gets_invalid_token_challenge(invalid_header):
    response = get_projects_sending(invalid_header)

    assert response["WWW-Authenticate"] == INVALID_KEY_CHALLENGE


@pytest.mark.parametrize("invalid_header", list(INVALID_HEADERS), indirect=True)
def test_invalid_authorization_header_body_is_the_same_for_every_cause(invalid_header):
    reference = get_projects_sending("Basic dXNlcjpwYXNz")

    response = get_projects_sending(invalid_header)

    assert response.content == reference.content


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer", "bEaReR"])
def test_scheme_is_matched_case_insensitively(scheme, user):
    response = get_projects_sending(f"{scheme} {APIKeyFactory(owner=user).plaintext}")

    assert response.status_code == HTTPStatus.OK


def test_bad_checksum_key_is_refused_without_a_query(user):
    key = APIKeyFactory(owner=user).plaintext
    tampered = key[:-1] + other_character(key[-1])

    with CaptureQueriesContext(connection) as queries:
        response = get_projects_sending(f"Bearer {tampered}")

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert sql_of(queries) == []


@pytest.mark.parametrize(
    "header", ["", "Bearer", "Bearer a b", "Basic dXNlcjpwYXNz", "Bearer not-a-key"]
)
def test_malformed_header_is_refused_without_a_query(header):
    with CaptureQueriesContext(connection) as queries:
        response = get_projects_sending(header)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert sql_of(queries) == []


def test_valid_key_is_looked_up_by_one_select_joined_to_its_user(user):
    key = APIKeyFactory(owner=user).plaintext

    with CaptureQueriesContext(connection) as queries:
        response = get_projects(key)

    assert response.status_code == HTTPStatus.OK
    key_selects = [
        sql for sql in sql_of(queries) if sql.startswith("SELECT") and "apikeys_apikey" in sql
    ]
    assert len(key_selects) == 1
    assert 'INNER JOIN "users_user"' in key_selects[0]
    assert '"apikeys_apikey"."prefix" =' in key_selects[0]


def test_valid_key_needs_no_separate_user_query(user):
    key = APIKeyFactory(owner=user).plaintext

    with CaptureQueriesContext(connection) as queries:
        get_projects(key)

    user_queries = [sql for sql in sql_of(queries) if "users_user" in sql]
    assert len(user_queries) == 1
    assert "apikeys_apikey" in user_queries[0]


@pytest.fixture
def compare_digest_calls(monkeypatch) -> list[tuple[object, object]]:
    """Every hmac.compare_digest call while the test runs, each still answered by the real one."""
    calls: list[tuple[object, object]] = []
    real_compare_digest = hmac.compare_digest

    def spy(a: object, b: object) -> bool:
        calls.append((a, b))
        return real_compare_digest(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


def test_valid_key_digest_is_compared_in_constant_time(user, compare_digest_calls):
    api_key = APIKeyFactory(owner=user)
    computed = hashlib.sha256(api_key.plaintext.encode()).hexdigest()

    response = get_projects(api_key.plaintext)

    assert response.status_code == HTTPStatus.OK
    assert (api_key.digest, computed) in compare_digest_calls


def test_wrong_secret_digest_is_compared_in_constant_time(user, compare_digest_calls):
    stored = APIKeyFactory(owner=user)
    forged = forged_key(stored.prefix)

    response = get_projects(forged)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    computed = hashlib.sha256(forged.encode()).hexdigest()
    assert (stored.digest, computed) in compare_digest_calls


def test_first_use_sets_last_used_at(user, frozen_clock):
    api_key = APIKeyFactory(owner=user)

    get_projects(api_key.plaintext)

    api_key.refresh_from_db()
    assert api_key.last_used_at == NOW


def test_first_use_writes_only_last_used_at_with_one_update(user, frozen_clock):
    api_key = APIKeyFactory(owner=user)

    with CaptureQueriesContext(connection) as queries:
        get_projects(api_key.plaintext)

    writes = [sql for sql in sql_of(queries) if WRITE_STATEMENT.match(sql)]
    assert len(writes) == 1
    assert LAST_USED_UPDATE.match(writes[0])


def test_second_use_within_a_minute_writes_nothing(user, frozen_clock):
    api_key = APIKeyFactory(owner=user)
    get_projects(api_key.plaintext)
    frozen_clock.move_to(NOW + timedelta(seconds=59), tick=False)

    with CaptureQueriesContext(connection) as queries:
        response = get_projects(api_key.plaintext)

    assert response.status_code == HTTPStatus.OK
    assert [sql for sql in sql_of(queries) if WRITE_STATEMENT.match(sql)] == []
    api_key.refresh_from_db()
    assert api_key.last_used_at == NOW


def test_use_after_a_minute_refreshes_last_used_at_with_one_update(user, frozen_clock):
    api_key = APIKeyFactory(owner=user)
    get_projects(api_key.plaintext)
    later = NOW + timedelta(seconds=61)
    frozen_clock.move_to(later, tick=False)

    with CaptureQueriesContext(connection) as queries:
        get_projects(api_key.plaintext)

    writes = [sql for sql in sql_of(queries) if WRITE_STATEMENT.match(sql)]
    assert len(writes) == 1
    assert LAST_USED_UPDATE.match(writes[0])
    api_key.refresh_from_db()
    assert api_key.last_used_at == later


def test_two_keys_of_one_user_both_work(user):
    first, second = APIKeyFactory(owner=user), APIKeyFactory(owner=user)

    responses = [get_projects(api_key.plaintext) for api_key in (first, second)]

    assert [response.status_code for response in responses] == [HTTPStatus.OK, HTTPStatus.OK]


def test_key_acts_as_its_user(user, user_client):
    response = user_client.get(reverse("user-detail", kwargs={"user_id": user.pk}))

    assert response.status_code == HTTPStatus.OK
    assert response.json()["id"] == str(user.pk)


def test_key_cannot_read_another_user(user_client):
    other = UserFactory()

    response = user_client.get(reverse("user-detail", kwargs={"user_id": other.pk}))

    assert response.status_code == HTTPStatus.FORBIDDEN
