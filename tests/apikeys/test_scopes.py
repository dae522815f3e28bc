"""A key carries scopes, an operation needs one (docs/api.md, "Scopes")."""

from http import HTTPStatus

import pytest
from django.core.management.base import CommandError
from django.urls import reverse
from rest_framework.test import APIClient

from apikeys.models import APIKey
from apikeys.services import apikey_issue
from tests.factories import ProjectFactory, UserFactory
from tests.kit import SCOPES, run_command
from users.models import User

PASSWORD = "a-Long-test-passw0rd"


def client_with(owner: User, scopes: list[str]) -> APIClient:
    client = APIClient()
    plaintext = apikey_issue(owner=owner, scopes=scopes).plaintext
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def own_key_id(owner: User) -> str:
    return apikey_issue(owner=owner, name="target").api_key.prefix


# Every operation called with a key: (scope, method, path builder, body, status when allowed).
# Not POST /leaked-keys, which GitHub signs instead (tests/apikeys/test_leak_reports.py).
OPERATIONS = {
    "get me": ("users:read", "get", lambda u: "/api/v1/users/me", None, 200),
    "get user": ("users:read", "get", lambda u: f"/api/v1/users/{u.pk}", None, 200),
    "create user": (
        "users:write",
        "post",
        lambda u: "/api/v1/users",
        {"username": "newbie", "email": "newbie@example.com", "password": PASSWORD},
        201,
    ),
    "list projects": ("projects:read", "get", lambda u: "/api/v1/projects", None, 200),
    "get project": (
        "projects:read",
        "get",
        lambda u: f"/api/v1/projects/project-{ProjectFactory(owner=u).pk}",
        None,
        200,
    ),
    "create project": ("projects:write", "post", lambda u: "/api/v1/projects", {"name": "A"}, 201),
    "patch project": (
        "projects:write",
        "patch",
        lambda u: f"/api/v1/projects/project-{ProjectFactory(owner=u).pk}",
        {"name": "B"},
        200,
    ),
    "delete project": (
        "projects:write",
        "delete",
        lambda u: f"/api/v1/projects/project-{ProjectFactory(owner=u).pk}",
        None,
        204,
    ),
    "list keys": ("keys:read", "get", lambda u: "/api/v1/keys", None, 200),
    "get key": ("keys:read", "get", lambda u: f"/api/v1/keys/{own_key_id(u)}", None, 200),
    "issue key": ("keys:write", "post", lambda u: "/api/v1/keys", {"scopes": ["keys:write"]}, 201),
    "revoke key": ("keys:write", "delete", lambda u: f"/api/v1/keys/{own_key_id(u)}", None, 204),
    "roll key": (
        "keys:write",
        "post",
        lambda u: f"/api/v1/keys/{own_key_id(u)}/roll",
        {},
        201,
    ),
    "get key usage": (
        "keys:read",
        "get",
        lambda u: f"/api/v1/keys/{own_key_id(u)}/usage",
        None,
        200,
    ),
    "list key events": (
        "keys:read",
        "get",
        lambda u: f"/api/v1/keys/{own_key_id(u)}/events",
        None,
        200,
    ),
}


@pytest.fixture
def staff(db: None) -> User:
    return UserFactory(staff=True, permissions=["view_user", "add_user"])


def call(client: APIClient, method: str, path: str, body: object):
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, format="json")


@pytest.mark.parametrize("operation", OPERATIONS)
def test_each_operation_is_refused_without_its_scope(staff, operation):
    scope, method, path, body, _ = OPERATIONS[operation]
    others = [other for other in SCOPES if other != scope]

    response = call(client_with(staff, others), method, path(staff), body)

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["error"] == {
        "code": "insufficient_scope",
        "message": "The API key does not allow this operation",
        "details": f"This API key does not have the scope '{scope}'",
    }
    assert response["WWW-Authenticate"] == (
        f'Bearer realm="api", error="insufficient_scope", scope="{scope}"'
    )


# Issuing a key needs the new key's scopes too (a key gives no more than it has): the two
# are served with keys:write alone in the test after this one.
@pytest.mark.parametrize(
    "operation", [name for name in OPERATIONS if name not in {"issue key", "roll key"}]
)
def test_each_operation_is_served_with_its_scope_alone(staff, operation):
    scope, method, path, body, allowed = OPERATIONS[operation]

    response = call(client_with(staff, [scope]), method, path(staff), body)

    assert response.status_code == allowed, response.content


def test_a_key_with_keys_write_alone_issues_and_rolls_a_key_of_that_scope(staff):
    client = client_with(staff, ["keys:write"])
    narrow = apikey_issue(owner=staff, scopes=["keys:write"]).api_key

    issued = client.post("/api/v1/keys", {"scopes": ["keys:write"]}, format="json")
    rolled = client.post(f"/api/v1/keys/{narrow.prefix}/roll", {}, format="json")

    assert (issued.status_code, rolled.status_code) == (HTTPStatus.CREATED, HTTPStatus.CREATED)


def test_the_scope_is_checked_after_the_method(user):
    response = client_with(user, ["projects:read"]).put("/api/v1/projects", {}, format="json")

    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED


def test_the_scope_is_checked_before_the_permission(user):
    # A non-staff key without users:write: the scope decides, not the missing permission.
    response = client_with(user, ["users:read"]).post(
        reverse("user-list"), {"username": "x"}, format="json"
    )

    assert response.json()["error"]["code"] == "insufficient_scope"


def test_with_the_scope_the_permission_still_decides(user):
    response = client_with(user, ["users:write"]).post(
        reverse("user-list"), {"username": "x"}, format="json"
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["error"]["code"] == "forbidden"


def test_the_403_carries_the_rate_limit_headers(user):
    response = client_with(user, ["users:read"]).get(reverse("project-list"))

    assert "X-RateLimit-Remaining" in response


def test_a_key_issued_without_naming_scopes_has_all_of_them(user):
    assert apikey_issue(owner=user).api_key.scopes == list(SCOPES)


def test_scopes_are_stored_once_each_in_the_fixed_order(user):
    api_key = apikey_issue(owner=user, scopes=["keys:read", "users:read", "keys:read"]).api_key

    api_key.refresh_from_db()
    assert api_key.scopes == ["users:read", "keys:read"]


# --- createapikey --scopes ----------------------------------------------------------------------


def test_createapikey_scopes_names_the_keys_scopes(user):
    run_command("createapikey", user.username, "--scopes", "projects:read, users:read")

    assert APIKey.objects.get(owner=user).scopes == ["users:read", "projects:read"]


@pytest.mark.parametrize("scopes", ["", ",", "projects:read,projects:delete", "admin"])
def test_createapikey_refuses_an_unknown_scope_or_none_and_issues_nothing(user, scopes):
    with pytest.raises(CommandError, match="--scopes: "):
        run_command("createapikey", user.username, "--scopes", scopes)

    assert not APIKey.objects.exists()


def test_listapikeys_shows_the_scopes(user):
    apikey_issue(owner=user, scopes=["projects:read", "users:read"])
    apikey_issue(owner=user)

    stdout, _ = run_command("listapikeys")

    assert "users:read,projects:read" in stdout
    assert "  all  " in stdout


# --- The admin's checkboxes ----------------------------------------------------------------------


@pytest.fixture
def admin_client(client, db):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def add_key(client, owner: User, scopes: list[str]):
    form = {
        "owner": owner.pk,
        "name": "ci",
        "expires_at_0": "",
        "expires_at_1": "",
        "rate_limit": "",
        "scopes": scopes,
        "_save": "Save",
    }
    return client.post(reverse("admin:apikeys_apikey_add"), form)


def test_the_admin_form_has_one_checkbox_per_scope_all_checked(admin_client):
    content = admin_client.get(reverse("admin:apikeys_apikey_add")).content.decode()

    for scope in SCOPES:
        assert f'type="checkbox" name="scopes" value="{scope}"' in content
    form = admin_client.get(reverse("admin:apikeys_apikey_add")).context["adminform"].form
    assert list(form["scopes"].value()) == list(SCOPES)


def test_the_admin_issues_a_key_with_the_checked_scopes(admin_client, user):
    response = add_key(admin_client, user, ["projects:read"])

    assert response.status_code == HTTPStatus.OK
    assert APIKey.objects.get(owner=user).scopes == ["projects:read"]


@pytest.mark.parametrize("scopes", [[], ["projects:delete"]])
def test_the_admin_refuses_no_scope_or_an_unknown_one(admin_client, user, scopes):
    response = add_key(admin_client, user, scopes)

    assert "scopes" in response.context["adminform"].form.errors
    assert not APIKey.objects.exists()
