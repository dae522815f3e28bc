"""Projects in admin: the list (columns, search, filter, newest first), the owner chosen by
autocomplete, and list pages that stay cheap on a large table."""

import re
from datetime import UTC, datetime
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from projects.models import Project
from tests.factories import ProjectFactory, UserFactory
from tests.kit import changelist
from tests.projects.admin_pages import project_form
from users.models import User

pytestmark = pytest.mark.django_db

CHANGELIST_URL = reverse("admin:projects_project_changelist")
ADD_URL = reverse("admin:projects_project_add")
AUTOCOMPLETE_URL = reverse("admin:autocomplete")
OWNER_SELECT = re.compile(r'<select name="owner"[^>]*>(.*?)</select>', re.DOTALL)


def listed_names(response) -> list[str]:
    return [project.name for project in changelist(response).objects]


def autocomplete(client: Client, term: str):
    return client.get(
        AUTOCOMPLETE_URL,
        {"app_label": "projects", "model_name": "project", "field_name": "owner", "term": term},
    )


@pytest.fixture
def alice(db: None) -> User:
    return UserFactory(username="alice")


# --- The changelist -----------------------------------------------------------------------------


def test_changelist_shows_name_owner_and_created_columns(superuser_client, alice):
    ProjectFactory(owner=alice, name="Apollo")

    response = superuser_client.get(CHANGELIST_URL)

    assert response.status_code == HTTPStatus.OK
    assert changelist(response).headers == {
        "name": "Name",
        "owner": "Owner",
        "created_at": "Created at",
    }


def test_changelist_row_shows_the_projects_name_and_owner(superuser_client, alice):
    ProjectFactory(owner=alice, name="Apollo")

    [row] = changelist(superuser_client.get(CHANGELIST_URL)).rows

    assert (row["name"], row["owner"]) == ("Apollo", "alice")


def test_search_by_name(superuser_client, alice):
    ProjectFactory(owner=alice, name="Apollo moon")
    ProjectFactory(owner=alice, name="Gemini")

    response = superuser_client.get(CHANGELIST_URL, {"q": "apollo"})

    assert listed_names(response) == ["Apollo moon"]


def test_changelist_offers_a_created_at_filter(superuser_client, alice):
    ProjectFactory(owner=alice)

    response = superuser_client.get(CHANGELIST_URL)

    filter_titles = [spec.title for spec in response.context["cl"].filter_specs]
    assert filter_titles == ["created at"]
    assert "Past 7 days" in response.content.decode()


def test_created_at_filter_past_7_days_leaves_out_older_projects(superuser_client, alice):
    ProjectFactory(owner=alice, name="Recent")
    ProjectFactory(owner=alice, name="Old", created_at=datetime(2020, 1, 1, tzinfo=UTC))
    main_list = superuser_client.get(CHANGELIST_URL).context["cl"]
    [created_at_filter] = main_list.filter_specs
    past_7_days = next(
        choice["query_string"]
        for choice in created_at_filter.choices(main_list)
        if choice["display"] == "Past 7 days"
    )

    response = superuser_client.get(CHANGELIST_URL + past_7_days)

    assert response.status_code == HTTPStatus.OK
    assert listed_names(response) == ["Recent"]


def test_changelist_lists_newest_first(superuser_client, alice):
    for name, day in [("middle", 2), ("oldest", 1), ("newest", 3)]:
        ProjectFactory(owner=alice, name=name, created_at=datetime(2024, 1, day, tzinfo=UTC))

    response = superuser_client.get(CHANGELIST_URL)

    assert listed_names(response) == ["newest", "middle", "oldest"]


def test_changelist_lists_projects_created_together_by_newest_id_first(superuser_client, alice):
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    first = ProjectFactory(owner=alice, name="first", created_at=moment)
    second = ProjectFactory(owner=alice, name="second", created_at=moment)
    assert second.pk > first.pk

    response = superuser_client.get(CHANGELIST_URL)

    assert listed_names(response) == ["second", "first"]


# --- The owner: an autocomplete -----------------------------------------------------------------


def test_owner_autocomplete_finds_a_user_by_username_prefix(superuser_client, alice):
    UserFactory(username="bob")

    response = autocomplete(superuser_client, "ali")

    assert response.status_code == HTTPStatus.OK
    assert response.json()["results"] == [{"id": str(alice.pk), "text": "alice"}]


def test_owner_autocomplete_for_staff_without_users_view_permission_is_refused(client, alice):
    staff = UserFactory(staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="projects", codename="add_project")
    )
    client.force_login(staff)

    assert autocomplete(client, "ali").status_code == HTTPStatus.FORBIDDEN


def test_add_form_uses_the_autocomplete_widget_for_owner(superuser_client):
    content = superuser_client.get(ADD_URL).content.decode()

    select = re.search(r'<select name="owner"[^>]*>', content)
    assert select, "no owner select"
    assert "admin-autocomplete" in select.group()
    assert f'data-ajax--url="{AUTOCOMPLETE_URL}"' in select.group()


def test_add_form_does_not_list_every_user(superuser_client):
    users = UserFactory.create_batch(50)

    content = superuser_client.get(ADD_URL).content.decode()

    options = OWNER_SELECT.search(content)
    assert options, "no owner select"
    assert options.group(1).count("<option") <= 1
    assert not any(f">{user.username}</option>" in content for user in users)


def test_add_form_creates_a_project_for_the_chosen_owner(superuser_client, alice):
    response = superuser_client.post(
        ADD_URL,
        project_form(alice),
    )

    assert response.status_code == HTTPStatus.FOUND
    assert Project.objects.get(name="Apollo").owner == alice
