"""One project (GET, PATCH, DELETE /api/v1/projects/{id}) and creating projects
(POST /api/v1/projects), as docs/api.md, "Projects" has them."""

from http import HTTPStatus

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from projects.models import Project
from tests.factories import ProjectFactory, UserFactory
from users.models import User

LIST_URL = reverse("project-list")
NOT_FOUND_ERROR = {
    "code": "not_found",
    "message": "The requested resource doesn't exist",
}


def detail_url(project_id: str) -> str:
    return f"{LIST_URL}/{project_id}"


def public_id(project: Project) -> str:
    return f"project-{project.pk}"


def shown_as(project: Project, *, name: str, description: str) -> dict[str, str]:
    """The project as the API shows it: exactly the four fields, with this name and
    description."""
    return {
        "id": public_id(project),
        "name": name,
        "description": description,
        "created_at": project.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def error_of(response) -> dict:
    assert response["Content-Type"] == "application/json"
    return response.json()["error"]


def create(client: APIClient, body: object, **headers: str):
    return client.post(LIST_URL, body, format="json", headers=headers)


@pytest.fixture
def project(user: User) -> Project:
    return ProjectFactory(owner=user, name="Apollo", description="To the moon")


@pytest.fixture
def others_project(db: None) -> Project:
    return ProjectFactory(owner=UserFactory(), name="Gemini")


# --- GET one ---------------------------------------------------------------------------------


def test_get_returns_the_project_with_exactly_the_four_fields(user_client, project):
    response = user_client.get(detail_url(public_id(project)))

    assert response.status_code == HTTPStatus.OK
    assert response.json() == shown_as(project, name="Apollo", description="To the moon")


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_another_users_project_is_answered_exactly_like_an_unknown_one(
    user_client, others_project, method
):
    unknown_id = f"project-{others_project.pk + 1000}"

    others = getattr(user_client, method)(detail_url(public_id(others_project)), {}, "json")
    unknown = getattr(user_client, method)(detail_url(unknown_id), {}, "json")

    assert others.status_code == unknown.status_code == HTTPStatus.NOT_FOUND
    for response, project_id in [(others, public_id(others_project)), (unknown, unknown_id)]:
        error = error_of(response)
        assert {"code": error["code"], "message": error["message"]} == NOT_FOUND_ERROR
        assert error["details"] == f"You have no project '{project_id}'"
    assert sorted(others.headers) == sorted(unknown.headers)
    assert Project.objects.filter(pk=others_project.pk).get().name == "Gemini"


def test_another_users_project_costs_the_same_queries_as_an_unknown_one(
    user_client, others_project
):
    user_client.get(LIST_URL)  # last_used_at is written once a minute: not in what is counted
    counts = []
    for project_id in [public_id(others_project), f"project-{others_project.pk + 1000}"]:
        with CaptureQueriesContext(connection) as queries:
            user_client.get(detail_url(project_id))
        counts.append(len(queries))

    # The key with its user (none once the key's record is cached, with Redis); the project.
    assert counts[0] == counts[1] in (1, 2)


@pytest.mark.parametrize(
    "spelling", ["project-0", "project-0{pk}", "project-{pk}0000000000000000000"]
)
def test_an_id_of_the_operations_shape_that_names_nothing_is_its_404_with_headers(
    user_client, project, spelling
):
    response = user_client.get(detail_url(spelling.format(pk=project.pk)))

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert error_of(response)["code"] == "not_found"
    assert "X-RateLimit-Remaining" in response


@pytest.mark.parametrize("spelling", ["{pk}", "Project-{pk}", "project_{pk}", "project-{pk}x"])
def test_an_id_of_another_shape_is_an_unknown_path_answered_before_the_key(
    anonymous_client, project, spelling
):
    response = anonymous_client.get(detail_url(spelling.format(pk=project.pk)))

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert error_of(response)["code"] == "not_found"
    assert "X-RateLimit-Remaining" not in response


def test_put_is_405_with_the_methods_the_project_serves(user_client, project):
    response = user_client.put(detail_url(public_id(project)), {"name": "x"}, format="json")

    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert error_of(response)["code"] == "method_not_allowed"
    allowed = {method.strip() for method in response["Allow"].split(",")}
    assert allowed == {"GET", "HEAD", "PATCH", "DELETE"}


def test_no_key_gets_401_before_the_project_is_looked_up(anonymous_client, others_project):
    response = anonymous_client.get(detail_url(public_id(others_project)))

    assert response.status_code == HTTPStatus.UNAUTHORIZED


# --- POST ------------------------------------------------------------------------------------


def test_create_answers_201_with_the_project_and_its_location(user, user_client):
    response = create(user_client, {"name": "Apollo", "description": "To the moon"})

    assert response.status_code == HTTPStatus.CREATED
    project = Project.objects.get(owner=user)
    assert response.json() == shown_as(project, name="Apollo", description="To the moon")
    assert response["Location"] == f"/api/v1/projects/{public_id(project)}"
    assert user_client.get(response["Location"]).json() == response.json()


def test_created_project_is_first_in_the_list(user, user_client):
    ProjectFactory(owner=user, name="Older")

    created = create(user_client, {"name": "Newest"}).json()

    assert user_client.get(LIST_URL).json()["data"][0] == created


@pytest.mark.parametrize("description", [None, "absent"])
def test_absent_or_null_description_is_empty(user_client, description):
    body = (
        {"name": "Apollo"} if description == "absent" else {"name": "Apollo", "description": None}
    )

    response = create(user_client, body)

    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["description"] == ""


def test_name_is_trimmed(user_client):
    response = create(user_client, {"name": "  Apollo \t"})

    assert response.json()["name"] == "Apollo"


def test_description_is_kept_as_sent_with_newlines_and_tabs(user_client):
    description = "  Line one\n\tLine two  "

    response = create(user_client, {"name": "Apollo", "description": description})

    assert response.json()["description"] == description


@pytest.mark.parametrize("body", [{}, {"name": None}, {"description": "x"}])
def test_missing_name_is_required(user_client, body):
    response = create(user_client, body)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert error["details"] == "The 'name' field is required"


@pytest.mark.parametrize(
    "name", ["", "   ", "x" * 201, 12, True, ["Apollo"], "Apo\x1bllo", "Apo\nllo", "Apo\u202ello"]
)
def test_invalid_name_is_refused_naming_it(user_client, name):
    response = create(user_client, {"name": name})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    error = error_of(response)
    assert error["details"].startswith("The 'name' field is invalid: ")
    assert set(error["fields"]) == {"name"}
    assert not Project.objects.exists()


def test_name_of_200_characters_is_accepted(user_client):
    assert create(user_client, {"name": "x" * 200}).status_code == HTTPStatus.CREATED


@pytest.mark.parametrize("description", ["x" * 10_001, "a\x00b", "a\rb", "a\u2066b", 5])
def test_invalid_description_is_refused_naming_it(user_client, description):
    response = create(user_client, {"name": "Apollo", "description": description})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_of(response)["details"].startswith("The 'description' field is invalid: ")


def test_description_of_10000_characters_is_accepted(user_client):
    response = create(user_client, {"name": "Apollo", "description": "x" * 10_000})

    assert response.status_code == HTTPStatus.CREATED


@pytest.mark.parametrize("field", ["id", "created_at", "owner", "nmae"])
@pytest.mark.parametrize("value", [None, "x"])
def test_any_other_field_is_refused_naming_it(user_client, field, value):
    response = create(user_client, {"name": "Apollo", field: value})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_of(response)["fields"] == {field: ["Unknown field."]}
    assert not Project.objects.exists()


@pytest.mark.parametrize("body", [[], "Apollo", 5, None])
def test_a_body_that_is_not_an_object_is_refused(user_client, body):
    response = create(user_client, body)

    assert response.status_code == HTTPStatus.BAD_REQUEST


@pytest.mark.parametrize("taken", ["Apollo", "APOLLO", "apollo"])
def test_a_name_the_owner_already_uses_ignoring_case_is_refused(user, user_client, taken):
    ProjectFactory(owner=user, name="Apollo")

    response = create(user_client, {"name": taken})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_of(response)["details"] == (
        "The 'name' field is invalid: You already have a project with that name."
    )
    assert Project.objects.filter(owner=user).count() == 1


def test_another_owners_project_name_is_free(user_client, others_project):
    response = create(user_client, {"name": others_project.name})

    assert response.status_code == HTTPStatus.CREATED


def test_the_project_cap_refuses_one_more_saying_so(user, user_client, settings):
    settings.API_PROJECTS_PER_USER = 3
    ProjectFactory.create_batch(3, owner=user)

    response = create(user_client, {"name": "One too many"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_of(response)["details"] == (
        "You may own at most 3 projects: delete one to make another."
    )
    assert user.projects.count() == 3


def test_the_cap_counts_projects_made_anywhere_and_frees_a_place_on_delete(
    user, user_client, settings
):
    settings.API_PROJECTS_PER_USER = 2
    admin_made = ProjectFactory(owner=user)  # as the admin or a command would
    assert create(user_client, {"name": "Second"}).status_code == HTTPStatus.CREATED
    assert create(user_client, {"name": "Third"}).status_code == HTTPStatus.BAD_REQUEST

    user_client.delete(detail_url(public_id(admin_made)))

    assert create(user_client, {"name": "Third"}).status_code == HTTPStatus.CREATED


# --- PATCH -----------------------------------------------------------------------------------


def test_patch_changes_the_name_and_answers_the_whole_project(user_client, project):
    response = user_client.patch(
        detail_url(public_id(project)), {"name": " Artemis "}, format="json"
    )

    assert response.status_code == HTTPStatus.OK
    assert response.json() == shown_as(project, name="Artemis", description="To the moon")
    project.refresh_from_db()
    assert project.name == "Artemis"


def test_patch_changes_the_description_only(user_client, project):
    response = user_client.patch(
        detail_url(public_id(project)), {"description": "Back again"}, format="json"
    )

    assert response.json()["name"] == "Apollo"
    assert response.json()["description"] == "Back again"


def test_patch_with_a_null_description_empties_it(user_client, project):
    response = user_client.patch(
        detail_url(public_id(project)), {"description": None}, format="json"
    )

    assert response.json()["description"] == ""


def test_patch_with_a_null_name_is_invalid(user_client, project):
    response = user_client.patch(detail_url(public_id(project)), {"name": None}, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_of(response)["details"].startswith("The 'name' field is invalid: ")


def test_an_empty_patch_changes_nothing_and_writes_nothing(user_client, project):
    user_client.get(LIST_URL)  # last_used_at is written once a minute: not in what is counted

    with CaptureQueriesContext(connection) as queries:
        response = user_client.patch(detail_url(public_id(project)), {}, format="json")

    assert response.status_code == HTTPStatus.OK
    assert response.json()["name"] == "Apollo"
    assert not [query for query in queries if query["sql"].startswith("UPDATE")]


def test_patch_to_the_projects_own_name_in_another_case_is_allowed(user_client, project):
    response = user_client.patch(detail_url(public_id(project)), {"name": "APOLLO"}, format="json")

    assert response.status_code == HTTPStatus.OK
    assert response.json()["name"] == "APOLLO"


def test_patch_to_a_name_another_own_project_has_is_refused(user, user_client, project):
    ProjectFactory(owner=user, name="Gemini")

    response = user_client.patch(detail_url(public_id(project)), {"name": "gemini"}, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    project.refresh_from_db()
    assert project.name == "Apollo"


@pytest.mark.parametrize("body", [{"id": "project-1"}, {"owner": 1}, {"name": ""}])
def test_patch_refuses_what_create_refuses(user_client, project, body):
    response = user_client.patch(detail_url(public_id(project)), body, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_patch_judges_the_body_before_the_project_is_looked_up(user_client, others_project):
    # 400 comes before the operation's own 404 (docs/api.md, "Order of checks").
    response = user_client.patch(detail_url(public_id(others_project)), {"name": ""}, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST


# --- DELETE ----------------------------------------------------------------------------------


def test_delete_answers_204_without_a_body_and_the_project_is_gone(user_client, project):
    response = user_client.delete(detail_url(public_id(project)))

    assert response.status_code == HTTPStatus.NO_CONTENT
    assert response.content == b""
    assert not Project.objects.filter(pk=project.pk).exists()


def test_a_second_delete_is_404(user_client, project):
    user_client.delete(detail_url(public_id(project)))

    response = user_client.delete(detail_url(public_id(project)))

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert error_of(response)["code"] == "not_found"


# --- Cost: a fixed number of queries, whatever the number of projects -------------------------


OPERATIONS = {
    "get": lambda client, project: client.get(detail_url(public_id(project))),
    "patch": lambda client, project: client.patch(
        detail_url(public_id(project)), {"name": f"Renamed {project.pk}"}, format="json"
    ),
    "delete": lambda client, project: client.delete(detail_url(public_id(project))),
    "post": lambda client, project: create(client, {"name": f"New {project.pk}"}),
}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_query_count_does_not_grow_with_the_number_of_projects(user, user_client, operation):
    user_client.get(LIST_URL)  # last_used_at is written once a minute: not in what is counted
    counts = []
    for extra in (0, 40):
        ProjectFactory.create_batch(extra, owner=user)
        ProjectFactory.create_batch(extra, owner=UserFactory())
        project = ProjectFactory(owner=user)
        with CaptureQueriesContext(connection) as queries:
            response = OPERATIONS[operation](user_client, project)
        assert response.status_code < HTTPStatus.BAD_REQUEST, response.content
        counts.append(len(queries))

    assert counts[0] == counts[1], counts
