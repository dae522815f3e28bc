"""The project name rules (docs/api.md, "Projects") in the admin: the per-owner unique name and the
refused characters are form errors there too, and nothing is saved."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from projects.models import Project
from tests.factories import ProjectFactory, UserFactory
from tests.projects.admin_pages import project_form

ADD_URL = reverse("admin:projects_project_add")

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def add(client, owner, **fields):
    return client.post(ADD_URL, project_form(owner, **fields))


def test_a_name_the_owner_already_uses_in_another_case_is_a_form_error(admin_client):
    owner = UserFactory()
    ProjectFactory(owner=owner, name="Apollo")

    response = add(admin_client, owner, name="APOLLO")

    assert response.status_code == HTTPStatus.OK
    assert "This owner already has a project with that name." in response.content.decode()
    assert Project.objects.filter(owner=owner).count() == 1


def test_the_same_name_for_another_owner_is_saved(admin_client):
    ProjectFactory(name="Apollo")
    owner = UserFactory()

    response = add(admin_client, owner)

    assert response.status_code == HTTPStatus.FOUND
    assert Project.objects.get(owner=owner).name == "Apollo"


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "Apo\x1b[2Kllo"), ("name", "A\u202epollo"), ("description", "a\x07")],
)
def test_control_characters_and_bidi_overrides_are_form_errors(admin_client, field, value):
    response = add(admin_client, UserFactory(), **{field: value})

    assert response.status_code == HTTPStatus.OK
    assert "May not contain control characters or bidirectional overrides" in (
        response.content.decode()
    )
    assert not Project.objects.exists()
