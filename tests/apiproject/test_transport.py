"""Paths, trailing slashes, JSON as the only representation (docs/api.md, "Transport"); each rule
tested once here for every operation it holds for."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from tests.factories import APIKeyFactory, ProjectFactory
from tests.kit import (
    BAD_CHECKSUM_KEY,
    GITHUB_KEY,
    LEAK_REPORTS_URL,
    assert_error,
    new_user_body,
    report_body,
)
from users.models import User

pytestmark = pytest.mark.django_db

PROJECTS_URL = reverse("project-list")
USERS_URL = reverse("user-list")


def user_url(user: User) -> str:
    return reverse("user-detail", kwargs={"user_id": user.pk})


# The API's reads, by operation: the path each reads for the given user (their own).
READS = {
    "GET /projects": lambda user: PROJECTS_URL,
    "GET /users/{id}": user_url,
}


@pytest.fixture
def staff_with_projects(staff_user: User) -> User:
    ProjectFactory.create_batch(3, owner=staff_user)
    return staff_user


def test_paths_are_written_without_a_trailing_slash():
    assert PROJECTS_URL == "/api/v1/projects"
    assert USERS_URL == "/api/v1/users"
    assert reverse("user-detail", kwargs={"user_id": 7}) == "/api/v1/users/7"


# --- Trailing slashes ---------------------------------------------------------------------------


def list_projects(client, slash: str, user: User):
    return client.get(PROJECTS_URL + slash, {"limit": 2})


def get_user(client, slash: str, user: User):
    return client.get(user_url(user) + slash)


def create_user(client, slash: str, user: User):
    return client.post(USERS_URL + slash, new_user_body("slashed" if slash else "plain"))


def read(response) -> object:
    return response.json()


def created(response) -> object:
    """What two creations share: the fields, each answer naming the user it created (in the
    body and in Location)."""
    body = response.json()
    assert User.objects.filter(pk=body["id"], username=body["username"]).exists()
    assert response["Location"] == reverse("user-detail", kwargs={"user_id": body["id"]})
    return sorted(body)


def get_me(client, slash: str, user: User):
    return client.get(reverse("user-me") + slash)


def get_project(client, slash: str, user: User):
    return client.get(f"{PROJECTS_URL}/project-{user.projects.first().pk}{slash}")


def create_project(client, slash: str, user: User):
    return client.post(PROJECTS_URL + slash, {"name": f"Slash {slash!r}"}, format="json")


def patch_project(client, slash: str, user: User):
    project = ProjectFactory(owner=user)
    body = {"name": f"Patched {project.pk}"}
    return client.patch(f"{PROJECTS_URL}/project-{project.pk}{slash}", body, "json")


def delete_project(client, slash: str, user: User):
    return client.delete(f"{PROJECTS_URL}/project-{ProjectFactory(owner=user).pk}{slash}")


def list_keys(client, slash: str, user: User):
    return client.get(f"/api/v1/keys{slash}")


def get_key(client, slash: str, user: User):
    return client.get(f"/api/v1/keys/{user.api_keys.first().prefix}{slash}")


def issue_key(client, slash: str, user: User):
    return client.post(f"/api/v1/keys{slash}", {}, format="json")


def revoke_key(client, slash: str, user: User):
    return client.delete(f"/api/v1/keys/{APIKeyFactory(owner=user).prefix}{slash}")


def roll_key(client, slash: str, user: User):
    return client.post(f"/api/v1/keys/{APIKeyFactory(owner=user).prefix}/roll{slash}", {}, "json")


def get_key_usage(client, slash: str, user: User):
    return client.get(f"/api/v1/keys/{user.api_keys.first().prefix}/usage{slash}")


def list_key_events(client, slash: str, user: User):
    return client.get(f"/api/v1/keys/{user.api_keys.first().prefix}/events{slash}")


def report_leaks(client, slash: str, user: User):
    # Signed, as GitHub sends it; whatever key the client carries counts for nothing.
    body = report_body(BAD_CHECKSUM_KEY)
    headers = GITHUB_KEY.headers(body)
    return client.post(
        f"{LEAK_REPORTS_URL}{slash}", body, content_type="application/json", **headers
    )


def shape(response) -> object:
    """What two writes share: the fields of the answer, and where it points."""
    body = response.json() if response.content else {}
    return sorted(body), "Location" in response


@pytest.mark.parametrize(
    ("operation", "status", "same_answer"),
    [
        *[
            (call, HTTPStatus.OK, read)
            for call in (list_projects, get_project, get_me, get_user, report_leaks)
        ],
        *[(call, HTTPStatus.CREATED, shape) for call in (create_project, issue_key, roll_key)],
        *[
            (call, HTTPStatus.OK, shape)
            for call in (patch_project, list_keys, get_key, get_key_usage, list_key_events)
        ],
        *[(call, HTTPStatus.NO_CONTENT, shape) for call in (delete_project, revoke_key)],
        (create_user, HTTPStatus.CREATED, created),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_every_operation_with_a_trailing_slash_is_served_identically(
    staff_with_projects, staff_client, leak_reports, operation, status, same_answer
):
    without_slash = operation(staff_client, "", staff_with_projects)
    with_slash = operation(staff_client, "/", staff_with_projects)

    # Served, not redirected: a redirect would be a 3xx with a Location.
    assert without_slash.status_code == with_slash.status_code == status
    assert same_answer(with_slash) == same_answer(without_slash)


@pytest.mark.parametrize("path", ["/api/v1/projects/", "/api/v1/users/"])
def test_trailing_slash_without_a_key_is_401_not_a_redirect(anonymous_client, path):
    response = anonymous_client.get(path)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert "Location" not in response


# --- No format suffixes, no ?format= ------------------------------------------------------------


def test_project_format_suffix_is_an_unknown_path(user, user_client):
    ProjectFactory(owner=user)

    response = user_client.get("/api/v1/projects.json")

    assert_error(response, HTTPStatus.NOT_FOUND, "not_found")
    assert "data" not in response.json()


def test_project_format_suffix_without_a_key_is_404_before_401(anonymous_client):
    response = anonymous_client.get("/api/v1/projects.json")

    assert_error(response, HTTPStatus.NOT_FOUND, "not_found")


@pytest.mark.parametrize("value", ["api", "json", "xml", "html"])
@pytest.mark.parametrize("operation", list(READS))
def test_format_query_parameter_changes_nothing(
    staff_with_projects, staff_client, operation, value
):
    path = READS[operation](staff_with_projects)
    plain = staff_client.get(path)

    response = staff_client.get(path, {"format": value})

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"
    assert response.json() == plain.json()


@pytest.mark.parametrize("value", ["api", "json"])
@pytest.mark.parametrize("operation", list(READS))
def test_format_query_parameter_does_not_change_an_error(user, anonymous_client, operation, value):
    response = anonymous_client.get(READS[operation](user), {"format": value})

    # Still the JSON 401 (not HTML, and not the 404 of a format the API does not serve).
    assert_error(response, HTTPStatus.UNAUTHORIZED, "authentication_required")


# --- JSON only ----------------------------------------------------------------------------------


def test_response_content_type_is_application_json(user_client):
    response = user_client.get(PROJECTS_URL)

    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("accept", ["application/json", "*/*", "application/*"])
def test_json_compatible_accept_is_served(user_client, accept):
    response = user_client.get(PROJECTS_URL, HTTP_ACCEPT=accept)

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("operation", list(READS))
def test_head_is_200_with_an_empty_body(staff_with_projects, staff_client, operation):
    response = staff_client.head(READS[operation](staff_with_projects))

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"
    assert response.content == b""


@pytest.mark.parametrize(
    "accept",
    ["application/json;q=0", "application/json; q=0.0, text/html", "*/*;q=0"],
)
def test_accept_refusing_json_with_q_zero_gets_406(user_client, accept):
    response = user_client.get(PROJECTS_URL, HTTP_ACCEPT=accept)

    assert_error(response, HTTPStatus.NOT_ACCEPTABLE, "not_acceptable")


@pytest.mark.parametrize(
    "accept", ["application/json;q=0.5", "text/html;q=0, application/json", "*/*;q=0.1"]
)
def test_accept_with_a_nonzero_quality_for_json_is_served(user_client, accept):
    response = user_client.get(PROJECTS_URL, HTTP_ACCEPT=accept)

    assert response.status_code == HTTPStatus.OK
