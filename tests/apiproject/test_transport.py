"""Contract section 1: paths, trailing slashes, JSON as the only representation."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

PROJECTS_URL = reverse("project-list")
USERS_URL = reverse("user-list")


def new_user_body(name):
    return {"username": name, "email": f"{name}@example.com", "password": "a-Long-new-passw0rd"}


def test_paths_are_written_without_a_trailing_slash():
    assert PROJECTS_URL == "/api/v1/projects"
    assert USERS_URL == "/api/v1/users"
    assert reverse("user-detail", kwargs={"user_id": 7}) == "/api/v1/users/7"


def test_list_projects_with_a_trailing_slash_is_served_identically(user, user_client):
    ProjectFactory.create_batch(3, owner=user)

    without_slash = user_client.get(PROJECTS_URL)
    with_slash = user_client.get(f"{PROJECTS_URL}/")

    assert without_slash.status_code == HTTPStatus.OK
    assert with_slash.status_code == HTTPStatus.OK
    assert with_slash.json() == without_slash.json()


def test_get_user_with_a_trailing_slash_is_served_identically(user, user_client):
    url = reverse("user-detail", kwargs={"user_id": user.pk})

    without_slash = user_client.get(url)
    with_slash = user_client.get(f"{url}/")

    assert without_slash.status_code == HTTPStatus.OK
    assert with_slash.status_code == HTTPStatus.OK
    assert with_slash.json() == without_slash.json()


def test_create_user_with_a_trailing_slash_is_served_identically(staff_client):
    without_slash = staff_client.post(USERS_URL, new_user_body("plain"), format="json")
    with_slash = staff_client.post(f"{USERS_URL}/", new_user_body("slashed"), format="json")

    assert without_slash.status_code == HTTPStatus.CREATED
    assert with_slash.status_code == HTTPStatus.CREATED
    assert with_slash.json()["username"] == "slashed"
    assert with_slash["Location"] == reverse(
        "user-detail", kwargs={"user_id": with_slash.json()["id"]}
    )
    assert set(with_slash.json()) == set(without_slash.json())


@pytest.mark.parametrize("path", ["/api/v1/projects/", "/api/v1/users/"])
def test_trailing_slash_without_a_key_is_401_not_a_redirect(anonymous_client, path):
    response = anonymous_client.get(path)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert "Location" not in response


def test_project_format_suffix_is_an_unknown_path(user, user_client):
    ProjectFactory(owner=user)

    response = user_client.get("/api/v1/projects.json")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["error"]["code"] == "not_found"
    assert "data" not in response.json()


def test_project_format_suffix_without_a_key_is_404_before_401(anonymous_client):
    response = anonymous_client.get("/api/v1/projects.json")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["error"]["code"] == "not_found"


def test_user_format_suffix_names_no_user(staff_user, staff_client):
    response = staff_client.get(f"/api/v1/users/{staff_user.pk}.json")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("value", ["api", "json", "xml", "html"])
def test_format_query_parameter_changes_nothing(user, user_client, value):
    ProjectFactory(owner=user)
    plain = user_client.get(PROJECTS_URL)

    response = user_client.get(PROJECTS_URL, {"format": value})

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"
    assert response.json() == plain.json()


def test_format_query_parameter_does_not_turn_an_error_into_html(anonymous_client):
    response = anonymous_client.get(PROJECTS_URL, {"format": "api"})

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response["Content-Type"] == "application/json"


def test_response_content_type_is_application_json(user_client):
    response = user_client.get(PROJECTS_URL)

    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("accept", ["application/json", "*/*", "application/*"])
def test_json_compatible_accept_is_served(user_client, accept):
    response = user_client.get(PROJECTS_URL, HTTP_ACCEPT=accept)

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"


def test_head_projects_is_200_with_an_empty_body(user, user_client):
    ProjectFactory(owner=user)

    response = user_client.head(PROJECTS_URL)

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"
    assert response.content == b""


def test_head_user_is_200_with_an_empty_body(user, user_client):
    response = user_client.head(reverse("user-detail", kwargs={"user_id": user.pk}))

    assert response.status_code == HTTPStatus.OK
    assert response.content == b""


@pytest.mark.parametrize(
    "accept",
    ["application/json;q=0", "application/json; q=0.0, text/html", "*/*;q=0"],
)
def test_accept_refusing_json_with_q_zero_gets_406(user_client, accept):
    response = user_client.get(reverse("project-list"), HTTP_ACCEPT=accept)

    assert response.status_code == HTTPStatus.NOT_ACCEPTABLE
    assert response.json()["error"]["code"] == "not_acceptable"


@pytest.mark.parametrize(
    "accept", ["application/json;q=0.5", "text/html;q=0, application/json", "*/*;q=0.1"]
)
def test_accept_with_a_nonzero_quality_for_json_is_served(user_client, accept):
    response = user_client.get(reverse("project-list"), HTTP_ACCEPT=accept)

    assert response.status_code == HTTPStatus.OK
