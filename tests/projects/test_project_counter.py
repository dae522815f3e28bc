"""The cap and the list's total count every project the user owns, however it was made
(docs/api.md, "Projects") -- with the total kept per owner by the database (OwnerProjectTotal and
its triggers) instead of counted on every request."""

from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from projects.models import OwnerProjectTotal, Project
from projects.services import project_create, project_delete
from tests.factories import ProjectFactory, UserFactory
from tests.migrations import migrate, schema_at
from tests.projects.admin_pages import project_form
from users.models import User

pytestmark = pytest.mark.django_db

LIST_URL = reverse("project-list")


def kept_total(user: User) -> int:
    return OwnerProjectTotal.objects.filter(owner=user).values_list("total", flat=True).first() or 0


def assert_total_right(*users: User) -> None:
    for user in users:
        assert kept_total(user) == Project.objects.filter(owner=user).count(), user.username


@pytest.fixture
def superuser_client(client: Client) -> Client:
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


# --- however a project is made or removed -----------------------------------------------------


def test_the_api_keeps_the_total(user, user_client):
    created = [
        user_client.post(LIST_URL, {"name": f"P{n}"}, format="json").json()["id"] for n in range(3)
    ]
    user_client.delete(reverse("project-detail", args=[created[0]]))

    assert kept_total(user) == 2
    assert user_client.get(LIST_URL).json()["total"] == 2


def test_the_services_keep_the_total(user):
    project = project_create(owner=user, name="Apollo")
    project_create(owner=user, name="Gemini")
    project_delete(project=project)

    assert kept_total(user) == 1


def test_bulk_create_and_queryset_delete_keep_the_total(user):
    other = UserFactory()
    Project.objects.bulk_create(
        [Project(owner=user, name=f"P{n}") for n in range(5)]
        + [Project(owner=other, name=f"Q{n}") for n in range(2)]
    )
    Project.objects.filter(owner=user, name__in=["P0", "P1"]).delete()

    assert (kept_total(user), kept_total(other)) == (3, 2)
    assert_total_right(user, other)


def test_raw_sql_keeps_the_total(user):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO projects_project (owner_id, name, description, created_at) "
            "VALUES (%s, 'raw', '', CURRENT_TIMESTAMP)",
            [user.pk],
        )

    assert kept_total(user) == 1


def test_a_change_of_owner_moves_the_project_between_totals(user):
    other = UserFactory()
    project = ProjectFactory(owner=user)
    ProjectFactory(owner=user)

    Project.objects.filter(pk=project.pk).update(owner=other)

    assert (kept_total(user), kept_total(other)) == (1, 1)


def test_a_change_of_name_leaves_the_total(user):
    project = ProjectFactory(owner=user)

    Project.objects.filter(pk=project.pk).update(name="Renamed")

    assert kept_total(user) == 1


def test_the_admin_add_keeps_the_total(superuser_client, user):
    response = superuser_client.post(
        reverse("admin:projects_project_add"),
        project_form(user),
    )

    assert response.status_code == HTTPStatus.FOUND
    assert kept_total(user) == 1


def test_the_admin_change_of_owner_keeps_both_totals(superuser_client, user):
    other = UserFactory()
    project = ProjectFactory(owner=user, name="Apollo")

    response = superuser_client.post(
        reverse("admin:projects_project_change", args=[project.pk]),
        project_form(other),
    )

    assert response.status_code == HTTPStatus.FOUND
    assert (kept_total(user), kept_total(other)) == (0, 1)


def test_the_admin_delete_keeps_the_total(superuser_client, user):
    project, _ = ProjectFactory(owner=user), ProjectFactory(owner=user)

    response = superuser_client.post(
        reverse("admin:projects_project_delete", args=[project.pk]), {"post": "yes"}
    )

    assert response.status_code == HTTPStatus.FOUND
    assert kept_total(user) == 1


def test_the_admin_bulk_delete_keeps_the_total(superuser_client, user):
    projects = ProjectFactory.create_batch(4, owner=user)

    response = superuser_client.post(
        reverse("admin:projects_project_changelist"),
        {
            "action": "delete_selected",
            "index": "0",
            "_selected_action": [project.pk for project in projects[:3]],
            "post": "yes",
        },
    )

    assert response.status_code == HTTPStatus.FOUND
    assert kept_total(user) == 1


def test_deleting_a_user_removes_their_total_with_their_projects(user):
    other = UserFactory()
    ProjectFactory.create_batch(3, owner=user)
    ProjectFactory.create_batch(2, owner=other)

    user.delete()

    assert not OwnerProjectTotal.objects.filter(owner_id=user.pk).exists()
    assert kept_total(other) == 2


# --- what reads it ------------------------------------------------------------------------------


def test_the_list_total_is_read_without_counting_the_projects(user, user_client):
    ProjectFactory.create_batch(30, owner=user)
    user_client.get(LIST_URL)

    with CaptureQueriesContext(connection) as queries:
        body = user_client.get(LIST_URL, {"limit": 5}).json()

    assert body["total"] == 30
    assert not [q for q in queries if "COUNT(" in q["sql"].upper()]


def test_the_cap_counts_projects_made_outside_the_api(user, user_client, settings):
    settings.API_PROJECTS_PER_USER = 3
    Project.objects.bulk_create([Project(owner=user, name=f"P{n}") for n in range(3)])

    response = user_client.post(LIST_URL, {"name": "One too many"}, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "at most 3" in response.json()["error"]["details"]


def test_the_cap_frees_a_place_when_a_project_is_deleted_in_bulk(user, user_client, settings):
    settings.API_PROJECTS_PER_USER = 3
    Project.objects.bulk_create([Project(owner=user, name=f"P{n}") for n in range(3)])
    Project.objects.filter(owner=user, name="P0").delete()

    response = user_client.post(LIST_URL, {"name": "Fits again"}, format="json")

    assert response.status_code == HTTPStatus.CREATED


# --- the migration ------------------------------------------------------------------------------

BEFORE = [("projects", "0003_owner_name_unique_and_text_rules")]
AFTER = [("projects", "0004_owner_project_total")]


@pytest.fixture
def schema_without_totals(transactional_db):
    with schema_at(BEFORE) as apps:
        yield apps


def test_the_migration_sets_every_owners_total(schema_without_totals):
    User = schema_without_totals.get_model("users", "User")
    Project = schema_without_totals.get_model("projects", "Project")
    alice = User.objects.create(username="alice", email="alice@example.com")
    bob = User.objects.create(username="bob", email="bob@example.com")
    User.objects.create(username="carol", email="carol@example.com")
    for n in range(4):
        Project.objects.create(owner=alice, name=f"A{n}")
    Project.objects.create(owner=bob, name="B")

    new_apps = migrate(AFTER)

    totals = new_apps.get_model("projects", "OwnerProjectTotal").objects
    assert dict(totals.values_list("owner_id", "total")) == {alice.pk: 4, bob.pk: 1}
    Project = new_apps.get_model("projects", "Project")
    Project.objects.create(owner_id=bob.pk, name="B2")  # and the triggers keep it from then on
    assert totals.get(owner_id=bob.pk).total == 2
