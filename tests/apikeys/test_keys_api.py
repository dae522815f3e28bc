"""A user manages their own keys through the API (docs/api.md, "Keys through the API")."""

import re
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.db import DatabaseError
from django.utils import timezone
from rest_framework.test import APIClient

from apikeys import keys
from apikeys.models import APIKey, APIKeyQuerySet
from apikeys.services import IssuedAPIKey, apikey_issue, apikey_revoke
from apiproject.api.models import IdempotencyRecord
from tests.concurrency import simultaneously
from tests.factories import UserFactory
from tests.kit import SCOPES
from users.models import User

KEYS_URL = "/api/v1/keys"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# A key's fields, in the order the API answers them.
KEY_FIELDS = (
    "id name scopes rate_limit status created_at last_used_at expires_at revoked_at".split()
)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def client_of(issued: IssuedAPIKey) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


@pytest.fixture
def caller(user: User) -> IssuedAPIKey:
    return apikey_issue(owner=user, name="caller")


@pytest.fixture
def api(caller: IssuedAPIKey) -> APIClient:
    return client_of(caller)


def issue(api: APIClient, body: object = None, **headers: str):
    return api.post(KEYS_URL, {} if body is None else body, format="json", headers=headers)


def roll(api: APIClient, key_id: str, body: object = None, **headers: str):
    return api.post(
        f"{KEYS_URL}/{key_id}/roll", {} if body is None else body, format="json", headers=headers
    )


def moment(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def error_of(response) -> dict:
    return response.json()["error"]


# --- GET /keys and GET /keys/{key_id} -------------------------------------------------------------


def test_list_shows_the_users_own_keys_newest_first_without_secrets(clock, user, caller, api):
    clock.shift(timedelta(seconds=1))
    newer = apikey_issue(owner=user, name="newer", scopes=["users:read"], rate_limit="5/m")
    apikey_issue(owner=UserFactory())

    response = api.get(KEYS_URL)

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert (body["total"], body["page"], body["limit"]) == (2, 1, 20)
    assert [key["id"] for key in body["data"]] == [newer.api_key.prefix, caller.api_key.prefix]
    assert body["data"][0] == {
        "id": newer.api_key.prefix,
        "name": "newer",
        "scopes": ["users:read"],
        "rate_limit": "5/m",
        "status": "active",
        "created_at": moment(newer.api_key.created_at),
        "last_used_at": None,
        "expires_at": None,
        "revoked_at": None,
    }
    assert body["data"][1]["rate_limit"] == "100/m"
    assert body["data"][1]["last_used_at"] == moment(NOW + timedelta(seconds=1))
    assert caller.plaintext.split("_")[2] not in response.content.decode()
    assert caller.api_key.digest not in response.content.decode()


def test_list_is_paged_like_projects_with_a_link_header(user, api):
    for _ in range(4):
        apikey_issue(owner=user)

    response = api.get(f"{KEYS_URL}?page=2&limit=2")

    assert [len(response.json()["data"]), response.json()["total"]] == [2, 5]
    assert response["Link"] == (
        '</api/v1/keys?limit=2&page=1>; rel="first", </api/v1/keys?limit=2&page=1>; rel="prev", '
        '</api/v1/keys?limit=2&page=3>; rel="next", </api/v1/keys?limit=2&page=3>; rel="last"'
    )


def test_get_one_key(caller, api):
    response = api.get(f"{KEYS_URL}/{caller.api_key.prefix}")

    assert response.status_code == HTTPStatus.OK
    assert list(response.json()) == KEY_FIELDS
    assert response.json()["name"] == "caller"


def test_status_says_active_expired_or_revoked(user, api, clock):
    expired = apikey_issue(owner=user, expires_at=NOW + timedelta(days=1)).api_key
    revoked = apikey_issue(owner=user).api_key
    apikey_revoke(api_key=revoked)
    clock.shift(timedelta(days=2))

    statuses = {key["id"]: key["status"] for key in api.get(KEYS_URL).json()["data"]}

    assert statuses[expired.prefix] == "expired"
    assert statuses[revoked.prefix] == "revoked"


@pytest.mark.parametrize("method", ["get", "delete"])
def test_another_users_key_is_answered_exactly_like_an_unknown_one(api, method):
    others = apikey_issue(owner=UserFactory()).api_key
    unknown = keys.generate_prefix()

    answers = [getattr(api, method)(f"{KEYS_URL}/{key_id}") for key_id in (others.prefix, unknown)]

    assert [answer.status_code for answer in answers] == [HTTPStatus.NOT_FOUND] * 2
    assert [error_of(answer)["details"] for answer in answers] == [
        f"You have no key '{others.prefix}'",
        f"You have no key '{unknown}'",
    ]
    assert sorted(answers[0].headers) == sorted(answers[1].headers)
    others.refresh_from_db()
    assert others.revoked_at is None


def test_a_300_character_key_id_is_the_operations_404(api):
    response = api.get(f"{KEYS_URL}/{'a' * 300}")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "X-RateLimit-Remaining" in response


def test_a_key_id_of_another_shape_is_an_unknown_path(api):
    response = api.get(f"{KEYS_URL}/ak-1")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "X-RateLimit-Remaining" not in response


# --- POST /keys -----------------------------------------------------------------------------------


def test_issue_answers_201_with_the_key_once_and_no_store(user, api):
    response = issue(api, {"name": "deploy", "scopes": ["projects:read"]})

    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert list(body) == [*KEY_FIELDS, "key"]
    assert keys.KEY_PATTERN.fullmatch(body["key"])
    assert body["key"].split("_")[1] == body["id"]
    assert (body["name"], body["scopes"], body["status"]) == ("deploy", ["projects:read"], "active")
    assert response["Location"] == f"/api/v1/keys/{body['id']}"
    assert response["Cache-Control"] == "no-store"
    new_key = APIKey.objects.get(prefix=body["id"])
    assert new_key.owner == user
    assert new_key.digest == keys.digest(body["key"])


def test_the_issued_key_works_within_its_scopes(api):
    issued = issue(api, {"scopes": ["projects:read"]}).json()
    new_api = APIClient()
    new_api.credentials(HTTP_AUTHORIZATION=f"Bearer {issued['key']}")

    assert new_api.get("/api/v1/projects").status_code == HTTPStatus.OK
    assert new_api.post("/api/v1/projects", {"name": "x"}, format="json").status_code == (
        HTTPStatus.FORBIDDEN
    )


def test_without_scopes_or_expiry_the_new_key_has_the_callers(user, clock):
    caller = apikey_issue(
        owner=user, scopes=["keys:write", "users:read"], expires_at=NOW + timedelta(days=5)
    )

    body = issue(client_of(caller)).json()

    assert body["scopes"] == ["users:read", "keys:write"]
    assert body["expires_at"] == moment(NOW + timedelta(days=5))
    assert body["rate_limit"] == "100/m"


def test_a_caller_without_expiry_issues_keys_that_never_expire_or_expire_when_asked(api, clock):
    assert issue(api).json()["expires_at"] is None
    assert issue(api, {"expires_in_days": 3}).json()["expires_at"] == moment(
        NOW + timedelta(days=3)
    )


def test_the_new_key_has_the_default_rate_limit_whatever_the_callers(user):
    caller = apikey_issue(owner=user, rate_limit="5000/m")

    assert issue(client_of(caller)).json()["rate_limit"] == "100/m"


def test_a_key_with_projects_read_cannot_issue_one_with_projects_write(user):
    caller = apikey_issue(owner=user, scopes=["projects:read", "keys:write"])

    response = issue(client_of(caller), {"scopes": ["projects:write"]})

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert error_of(response)["code"] == "forbidden"
    assert error_of(response)["details"] == (
        "This key cannot give the scope 'projects:write': it does not have it itself."
    )
    assert APIKey.objects.filter(owner=user).count() == 1


def test_a_key_cannot_issue_one_that_outlives_it(user, clock):
    caller = apikey_issue(owner=user, expires_at=NOW + timedelta(days=5))

    response = issue(client_of(caller), {"expires_in_days": 6})

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "outlives it" in error_of(response)["details"]
    assert issue(client_of(caller), {"expires_in_days": 5}).status_code == HTTPStatus.CREATED


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x" * 101}, "name"),
        ({"name": "a\x1bb"}, "name"),
        ({"name": 5}, "name"),
        ({"scopes": "projects:read"}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"scopes": ["projects:delete"]}, "scopes"),
        ({"scopes": [1]}, "scopes"),
        ({"expires_in_days": 0}, "expires_in_days"),
        ({"expires_in_days": 36_501}, "expires_in_days"),
        ({"expires_in_days": "5"}, "expires_in_days"),
        ({"expires_in_days": True}, "expires_in_days"),
        ({"expires_in_days": 1.5}, "expires_in_days"),
    ],
)
def test_an_invalid_field_is_400_naming_it(user, api, body, field):
    response = issue(api, body)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_of(response)["details"].startswith(f"The '{field}' field is invalid: ")
    assert APIKey.objects.filter(owner=user).count() == 1


@pytest.mark.parametrize("field", ["key", "id", "status", "rate_limit", "nmae"])
def test_any_other_field_is_refused_naming_it(api, field):
    response = issue(api, {field: None})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_of(response)["fields"] == {field: ["Unknown field."]}


def test_the_active_key_cap_refuses_one_more(user, api, settings):
    settings.API_KEYS_PER_USER = 3
    apikey_issue(owner=user)
    revoked = apikey_issue(owner=user).api_key
    apikey_revoke(api_key=revoked)  # revoked keys do not count

    assert issue(api).status_code == HTTPStatus.CREATED
    response = issue(api)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_of(response)["details"] == (
        "You may hold at most 3 working keys: revoke one to make another."
    )


def test_a_retry_never_issues_a_second_key_nor_shows_the_first_again(user, api):
    first = issue(api, {"name": "ci"}, **{"Idempotency-Key": "issue-1"})

    retry = issue(api, {"name": "ci"}, **{"Idempotency-Key": "issue-1"})

    assert first.status_code == HTTPStatus.CREATED
    assert retry.status_code == HTTPStatus.CONFLICT
    prefix = first.json()["id"]
    assert error_of(retry) == {
        "code": "conflict",
        "message": "The request conflicts with the current state of the resource",
        "details": f"Key {prefix} was already issued for this Idempotency-Key; its plaintext "
        "is not shown again. Revoke it if it was lost.",
    }
    assert first.json()["key"] not in retry.content.decode()
    assert APIKey.objects.filter(owner=user).count() == 2
    assert IdempotencyRecord.objects.get().body == {"id": prefix}


# --- DELETE /keys/{key_id} ------------------------------------------------------------------------


def test_revoke_answers_204_and_records_who(user, api, clock):
    target = apikey_issue(owner=user).api_key

    response = api.delete(f"{KEYS_URL}/{target.prefix}")

    assert response.status_code == HTTPStatus.NO_CONTENT
    target.refresh_from_db()
    assert (target.revoked_at, target.revoked_by) == (NOW, user)


def test_revoking_a_revoked_key_is_204_and_changes_nothing(user, api, clock):
    target = apikey_issue(owner=user).api_key
    api.delete(f"{KEYS_URL}/{target.prefix}")
    clock.shift(timedelta(hours=1))

    response = api.delete(f"{KEYS_URL}/{target.prefix}")

    assert response.status_code == HTTPStatus.NO_CONTENT
    target.refresh_from_db()
    assert target.revoked_at == NOW


def test_a_key_revoking_itself_gets_204_and_its_next_request_401(caller, api):
    assert api.delete(f"{KEYS_URL}/{caller.api_key.prefix}").status_code == HTTPStatus.NO_CONTENT

    assert api.get(KEYS_URL).status_code == HTTPStatus.UNAUTHORIZED


# --- POST /keys/{key_id}/roll ---------------------------------------------------------------------


@pytest.fixture
def rolled_key(user, clock) -> IssuedAPIKey:
    return apikey_issue(
        owner=user,
        name="deploy",
        scopes=["projects:read"],
        rate_limit="5/m",
        expires_at=NOW + timedelta(days=30),
    )


def test_roll_answers_a_new_key_carrying_the_old_ones_settings(api, rolled_key):
    response = roll(api, rolled_key.api_key.prefix)

    assert response.status_code == HTTPStatus.CREATED
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["id"] != rolled_key.api_key.prefix
    assert (body["name"], body["scopes"], body["rate_limit"], body["expires_at"]) == (
        "deploy",
        ["projects:read"],
        "5/m",
        moment(NOW + timedelta(days=30)),
    )
    assert response["Location"] == f"/api/v1/keys/{body['id']}"


def test_the_old_key_works_until_the_grace_ends_and_not_after(api, rolled_key, clock):
    new_key = roll(api, rolled_key.api_key.prefix, {"grace_seconds": 600}).json()["key"]
    old, new = client_of(rolled_key), APIClient()
    new.credentials(HTTP_AUTHORIZATION=f"Bearer {new_key}")

    clock.shift(timedelta(seconds=599))
    assert old.get("/api/v1/projects").status_code == HTTPStatus.OK
    clock.shift(timedelta(seconds=1))
    assert old.get("/api/v1/projects").status_code == HTTPStatus.UNAUTHORIZED
    assert new.get("/api/v1/projects").status_code == HTTPStatus.OK


def test_the_grace_is_a_day_by_default(api, rolled_key):
    roll(api, rolled_key.api_key.prefix)

    rolled_key.api_key.refresh_from_db()
    assert rolled_key.api_key.expires_at == NOW + timedelta(days=1)


def test_an_earlier_expiry_is_kept(user, api, clock):
    soon = apikey_issue(owner=user, expires_at=NOW + timedelta(hours=1)).api_key

    roll(api, soon.prefix, {"grace_seconds": 86_400})

    soon.refresh_from_db()
    assert soon.expires_at == NOW + timedelta(hours=1)


def test_a_grace_of_zero_ends_the_old_key_now(api, rolled_key):
    roll(api, rolled_key.api_key.prefix, {"grace_seconds": 0})

    assert client_of(rolled_key).get("/api/v1/projects").status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.parametrize("grace", [-1, 604_801, "60", None, 1.5])
def test_an_invalid_grace_is_400(api, rolled_key, grace):
    response = roll(api, rolled_key.api_key.prefix, {"grace_seconds": grace})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_of(response)["details"].startswith("The 'grace_seconds' field is invalid: ")


def test_roll_refuses_any_other_field(api, rolled_key):
    response = roll(api, rolled_key.api_key.prefix, {"name": "x"})

    assert error_of(response)["fields"] == {"name": ["Unknown field."]}


def test_rolling_a_revoked_key_is_409(user, api, rolled_key):
    apikey_revoke(api_key=rolled_key.api_key)

    response = roll(api, rolled_key.api_key.prefix)

    assert response.status_code == HTTPStatus.CONFLICT
    assert error_of(response)["code"] == "conflict"
    assert APIKey.objects.filter(owner=user).count() == 2


def test_rolling_an_expired_key_is_409(api, rolled_key, clock):
    clock.shift(timedelta(days=31))

    assert roll(api, rolled_key.api_key.prefix).status_code == HTTPStatus.CONFLICT


def test_a_narrow_key_cannot_roll_a_wider_one(user, clock):
    wide = apikey_issue(owner=user).api_key
    narrow = apikey_issue(owner=user, scopes=["keys:write"])

    response = roll(client_of(narrow), wide.prefix)

    assert response.status_code == HTTPStatus.FORBIDDEN
    wide.refresh_from_db()
    assert wide.expires_at is None


def test_a_key_cannot_roll_one_that_would_outlive_it(user, clock):
    forever = apikey_issue(owner=user).api_key
    short = apikey_issue(owner=user, expires_at=NOW + timedelta(days=1))

    assert roll(client_of(short), forever.prefix).status_code == HTTPStatus.FORBIDDEN


def test_a_failure_between_the_two_writes_leaves_both_keys_as_they_were(
    user, api, rolled_key, monkeypatch
):
    real_update = APIKeyQuerySet.update

    def update(self, **changes):
        if "expires_at" in changes:
            raise DatabaseError("the database went away")
        return real_update(self, **changes)

    monkeypatch.setattr(APIKeyQuerySet, "update", update)
    keys_before = set(APIKey.objects.values_list("prefix", flat=True))

    response = roll(api, rolled_key.api_key.prefix)

    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert set(APIKey.objects.values_list("prefix", flat=True)) == keys_before
    rolled_key.api_key.refresh_from_db()
    assert rolled_key.api_key.expires_at == NOW + timedelta(days=30)


def test_a_retried_roll_is_409_naming_the_new_key(api, rolled_key):
    first = roll(api, rolled_key.api_key.prefix, **{"Idempotency-Key": "roll-1"})

    retry = roll(api, rolled_key.api_key.prefix, **{"Idempotency-Key": "roll-1"})

    assert retry.status_code == HTTPStatus.CONFLICT
    assert first.json()["id"] in error_of(retry)["details"]
    assert first.json()["key"] not in retry.content.decode()


def test_a_rolled_key_cannot_be_rolled_again_409_naming_its_successor(api, rolled_key):
    successor = roll(api, rolled_key.api_key.prefix, {"grace_seconds": 600}).json()["id"]

    again = roll(api, rolled_key.api_key.prefix, {"grace_seconds": 600})

    assert again.status_code == HTTPStatus.CONFLICT
    assert error_of(again)["details"] == (
        f"Key {rolled_key.api_key.prefix} was rolled already: its successor is key "
        f"{successor}. Roll that one instead."
    )
    assert APIKey.objects.filter(owner=rolled_key.api_key.owner).count() == 3  # no fourth
    assert roll(api, successor, {"grace_seconds": 600}).status_code == HTTPStatus.CREATED


def test_a_rolled_key_past_its_grace_is_still_409_naming_its_successor(api, rolled_key, clock):
    successor = roll(api, rolled_key.api_key.prefix, {"grace_seconds": 60}).json()["id"]
    clock.shift(timedelta(seconds=61))

    again = roll(api, rolled_key.api_key.prefix)

    assert again.status_code == HTTPStatus.CONFLICT
    assert successor in error_of(again)["details"]


def test_a_roll_with_a_grace_obeys_the_key_cap(user, api, rolled_key, settings):
    settings.API_KEYS_PER_USER = 3
    apikey_issue(owner=user)  # with the caller and rolled_key: 3 working keys

    refused = roll(api, rolled_key.api_key.prefix, {"grace_seconds": 60})

    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert error_of(refused)["details"] == (
        "You may hold at most 3 working keys: revoke one to make another."
    )
    assert APIKey.objects.filter(owner=user).count() == 3
    rolled_key.api_key.refresh_from_db()
    assert rolled_key.api_key.successor is None
    assert rolled_key.api_key.expires_at == NOW + timedelta(days=30)


def test_a_roll_without_a_grace_replaces_the_key_at_the_cap(user, api, rolled_key, settings):
    settings.API_KEYS_PER_USER = 3
    apikey_issue(owner=user)

    replaced = roll(api, rolled_key.api_key.prefix, {"grace_seconds": 0})

    assert replaced.status_code == HTTPStatus.CREATED
    working = APIKey.objects.filter(owner=user).with_status(APIKey.Status.ACTIVE, NOW)
    assert working.count() == 3


def test_a_key_rolled_and_at_the_cap_is_409_before_the_cap(user, api, rolled_key, settings):
    roll(api, rolled_key.api_key.prefix, {"grace_seconds": 600})
    settings.API_KEYS_PER_USER = 3  # the caller, rolled_key in its grace, its successor

    response = roll(api, rolled_key.api_key.prefix, {"grace_seconds": 600})

    assert response.status_code == HTTPStatus.CONFLICT


def test_rolling_again_and_again_never_passes_the_cap(user, api, settings):
    """The way round the cap that a second roll of one key opened: refused now."""
    settings.API_KEYS_PER_USER = 3
    target = apikey_issue(owner=user).api_key
    apikey_issue(owner=user)

    statuses = [roll(api, target.prefix, {"grace_seconds": 600}).status_code for _ in range(6)]

    assert statuses == [HTTPStatus.BAD_REQUEST] * 6
    working = APIKey.objects.filter(owner=user).with_status(APIKey.Status.ACTIVE, timezone.now())
    assert working.count() == 3


# --- The IETF rate-limit fields -------------------------------------------------------------------


def test_ratelimit_fields_say_the_same_numbers_as_x_ratelimit(api, clock):
    response = api.get(KEYS_URL)

    limit, remaining = response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]
    seconds = int(response["X-RateLimit-Reset"]) - int(NOW.timestamp())
    assert response["RateLimit-Policy"] == f'"key";q={limit};w=60'
    assert response["RateLimit"] == f'"key";r={remaining};t={seconds}'


def test_ratelimit_fields_are_on_the_429_too(user, clock):
    limited = client_of(apikey_issue(owner=user, rate_limit="1/m"))
    limited.get(KEYS_URL)

    response = limited.get(KEYS_URL)

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert re.fullmatch(r'"key";r=0;t=\d+', response["RateLimit"])
    assert response["RateLimit"].endswith(f";t={response['Retry-After']}")


# --- A real race, on PostgreSQL -------------------------------------------------------------------


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_issues_at_the_cap_leave_the_user_at_the_cap(settings):
    settings.API_KEYS_PER_USER = 5
    owner = UserFactory()
    caller = apikey_issue(owner=owner)
    for _ in range(3):
        apikey_issue(owner=owner)

    outcomes = simultaneously(caller.plaintext, [lambda client: issue(client).status_code] * 20)

    assert outcomes.count(HTTPStatus.CREATED) == 1, outcomes
    assert outcomes.count(HTTPStatus.BAD_REQUEST) == 19, outcomes
    assert APIKey.objects.filter(owner=owner).count() == 5
    assert set(SCOPES) == set(APIKey.objects.filter(owner=owner).first().scopes)


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("grace", [0, 600])
def test_of_ten_simultaneous_rolls_of_one_key_exactly_one_wins(grace):
    owner = UserFactory()
    caller = apikey_issue(owner=owner)
    target = apikey_issue(owner=owner).api_key

    outcomes = simultaneously(
        caller.plaintext,
        [lambda client: roll(client, target.prefix, {"grace_seconds": grace}).status_code] * 10,
    )

    assert outcomes.count(HTTPStatus.CREATED) == 1, outcomes
    assert outcomes.count(HTTPStatus.CONFLICT) == 9, outcomes
    assert APIKey.objects.filter(owner=owner).count() == 3
    target.refresh_from_db()
    assert target.successor is not None
