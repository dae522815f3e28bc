"""Project names and descriptions hold no control characters (a description may keep newline and
tab) and no bidirectional overrides (docs/api.md, "Names people type"), through the admin too."""

from http import HTTPStatus

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from projects.models import Project
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:projects_project_add")


@pytest.fixture
def owner(db: None):
    return UserFactory(username="alice")


@pytest.fixture
def superuser_client(client: Client, db: None) -> Client:
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def add(client: Client, owner, **fields: str):
    return client.post(
        ADD_URL,
        {
            "owner": owner.pk,
            "name": "Website",
            "description": "",
            "created_at_0": "2025-01-01",
            "created_at_1": "00:00:00",
            "_save": "Save",
            **fields,
        },
    )


@pytest.mark.parametrize("char", ["\n", "\t", "\r", "\x1b", "\x00", "\x85", "\u202e", "\u2067"])
def test_project_name_refuses_control_characters_and_bidi_overrides(owner, char):
    project = Project(owner=owner, name=f"a{char}b")

    with pytest.raises(ValidationError) as raised:
        project.full_clean()

    assert list(raised.value.message_dict) == ["name"]


@pytest.mark.parametrize("char", ["\r", "\x1b", "\x00", "\x0b", "\u202d", "\u2066"])
def test_project_description_refuses_control_characters_and_bidi_overrides(owner, char):
    project = Project(owner=owner, name="ok", description=f"a{char}b")

    with pytest.raises(ValidationError) as raised:
        project.full_clean()

    assert list(raised.value.message_dict) == ["description"]


def test_project_description_keeps_newlines_and_tabs(owner):
    Project(owner=owner, name="ok", description="line one\n\tline two").full_clean()


def test_admin_refuses_an_escape_sequence_in_a_project_name(superuser_client, owner):
    response = add(superuser_client, owner, name="ok\x1b[2K")

    assert response.status_code == HTTPStatus.OK
    assert "name" in response.context["adminform"].form.errors
    assert not Project.objects.exists()


def test_admin_refuses_a_bidi_override_in_a_description(superuser_client, owner):
    response = add(superuser_client, owner, description="abc\u202edef")

    assert response.status_code == HTTPStatus.OK
    assert "description" in response.context["adminform"].form.errors
    assert not Project.objects.exists()


def test_admin_keeps_a_multiline_description(superuser_client, owner):
    response = add(superuser_client, owner, description="one\r\ntwo\tthree")

    # Browsers send a textarea's line breaks as CRLF: stored as newlines.
    assert response.status_code == HTTPStatus.FOUND
    assert Project.objects.get().description == "one\ntwo\tthree"
