"""Users in admin: Django's UserAdmin for our user model, prefix search, the user's keys and
project count on their page, case-insensitive uniqueness as form errors, and staff who may
only look."""

import re
from http import HTTPStatus
from urllib.parse import urljoin, urlsplit

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import APIKeyFactory, ProjectFactory, UserFactory, permission
from tests.kit import assert_read_only_page, changelist
from tests.users.admin_pages import (
    ADD_URL,
    CHANGELIST_URL,
    NEW_PASSWORD,
    add_form,
    change_form,
    change_url,
    password_url,
)
from users.models import User

pytestmark = pytest.mark.django_db

PROJECTS_CHANGELIST_URL = reverse("admin:projects_project_changelist")
PROJECT_COUNT_LINK = re.compile(r'<a href="([^"]+)">(\d+) projects</a>')
ORDER_BY = re.compile(r" ORDER BY (.+?)(?: LIMIT \d+)?$")


def set_password(client: Client, user: User, *, confirmed_as: str = NEW_PASSWORD):
    """POST the user's password form, setting NEW_PASSWORD."""
    return client.post(password_url(user), {"password1": NEW_PASSWORD, "password2": confirmed_as})


def listed_usernames(response) -> set[str]:
    return {user.username for user in changelist(response).objects}


def project_count_link(response) -> tuple[str, int]:
    match = PROJECT_COUNT_LINK.search(response.content.decode())
    assert match, "the page shows no project count link"
    return match.group(1).replace("&amp;", "&"), int(match.group(2))


@pytest.fixture
def alice(db: None) -> User:
    return UserFactory(username="alice", email="alice@example.com")


@pytest.fixture
def view_only_client(client: Client) -> Client:
    client.force_login(UserFactory(staff=True, permissions=["view_user"]))
    return client


# --- The changelist and search ------------------------------------------------------------------


def test_changelist_lists_users(superuser_client, alice):
    response = superuser_client.get(CHANGELIST_URL)

    assert response.status_code == HTTPStatus.OK
    assert listed_usernames(response) == {"root", "alice"}


def test_changelist_shows_username_and_email(superuser_client, alice):
    listed = changelist(superuser_client.get(CHANGELIST_URL))

    row = listed.rows[listed.objects.index(alice)]
    assert (row["username"], row["email"]) == ("alice", "alice@example.com")


def test_search_by_username_prefix(superuser_client, alice):
    UserFactory(username="alicia")
    UserFactory(username="bob")

    response = superuser_client.get(CHANGELIST_URL, {"q": "ali"})

    assert listed_usernames(response) == {"alice", "alicia"}


def test_search_by_username_matches_only_at_the_start(superuser_client, alice):
    UserFactory(username="malice", email="m@example.com")

    response = superuser_client.get(CHANGELIST_URL, {"q": "lice"})

    assert listed_usernames(response) == set()


def test_search_by_email_prefix(superuser_client, alice):
    UserFactory(username="zed", email="carol@example.org")

    response = superuser_client.get(CHANGELIST_URL, {"q": "carol@"})

    assert listed_usernames(response) == {"zed"}


def test_search_ignores_case(superuser_client, alice):
    response = superuser_client.get(CHANGELIST_URL, {"q": "ALI"})

    assert listed_usernames(response) == {"alice"}


def test_changelist_lists_users_by_username(superuser_client, alice):
    for username in ["carol", "bob", "dave"]:
        UserFactory(username=username)

    with CaptureQueriesContext(connection) as queries:
        response = superuser_client.get(CHANGELIST_URL)

    usernames = [user.username for user in changelist(response).objects]
    assert usernames == ["alice", "bob", "carol", "dave", "root"]
    # Username alone is unique: the unique index serves the order, with no tie-breaker.
    orders = {
        match.group(1)
        for query in queries.captured_queries
        if (match := ORDER_BY.search(query["sql"])) and 'FROM "users_user"' in query["sql"]
    }
    assert orders == {'"users_user"."username" ASC'}


# --- The user's page: keys and projects ---------------------------------------------------------


def test_user_page_lists_the_users_keys_by_prefix(superuser_client, alice):
    keys = [APIKeyFactory(owner=alice, name=f"key {n}") for n in range(2)]
    someone_elses = APIKeyFactory()

    response = superuser_client.get(change_url(alice))

    assert response.status_code == HTTPStatus.OK
    content = response.content.decode()
    for api_key in keys:
        assert api_key.prefix in content
    assert someone_elses.prefix not in content


def test_user_page_never_shows_a_keys_digest(superuser_client, alice):
    api_key = APIKeyFactory(owner=alice)

    content = superuser_client.get(change_url(alice)).content.decode()

    assert api_key.digest not in content


def test_user_page_shows_the_project_count(superuser_client, alice):
    ProjectFactory.create_batch(2, owner=alice)
    ProjectFactory(owner=UserFactory())

    _url, count = project_count_link(superuser_client.get(change_url(alice)))

    assert count == 2


def test_project_count_links_to_the_projects_changelist_filtered_by_owner(superuser_client, alice):
    url, _count = project_count_link(superuser_client.get(change_url(alice)))

    assert urlsplit(url).path == PROJECTS_CHANGELIST_URL
    assert urlsplit(url).query == f"owner__id__exact={alice.pk}"


def test_project_count_link_lists_only_that_users_projects(superuser_client, alice):
    mine = {project.name for project in ProjectFactory.create_batch(2, owner=alice)}
    ProjectFactory(owner=UserFactory())
    url, _count = project_count_link(superuser_client.get(change_url(alice)))

    response = superuser_client.get(url)

    assert response.status_code == HTTPStatus.OK
    assert {project.name for project in changelist(response).objects} == mine


# --- Adding a user ------------------------------------------------------------------------------


def test_add_form_has_username_email_and_password_fields(superuser_client):
    response = superuser_client.get(ADD_URL)

    assert response.status_code == HTTPStatus.OK
    fields = set(response.context["adminform"].form.fields)
    assert {"username", "email", "password1", "password2"} <= fields


def test_add_form_creates_a_user_with_that_email_and_password(superuser_client):
    response = superuser_client.post(ADD_URL, add_form())

    assert response.status_code == HTTPStatus.FOUND
    created = User.objects.get(username="newbie")
    assert created.email == "newbie@example.com"
    assert created.check_password(NEW_PASSWORD)


def test_add_refuses_a_username_that_differs_only_in_case(superuser_client, alice):
    response = superuser_client.post(ADD_URL, add_form(username="Alice"))

    assert response.status_code == HTTPStatus.OK
    assert "username" in response.context["adminform"].form.errors
    assert not User.objects.filter(username="Alice").exists()


def test_add_refuses_an_email_that_differs_only_in_case(superuser_client, alice):
    response = superuser_client.post(ADD_URL, add_form(email="ALICE@example.com"))

    assert response.status_code == HTTPStatus.OK
    assert response.context["adminform"].form.errors
    assert "A user with that email already exists." in response.content.decode()
    assert not User.objects.filter(username="newbie").exists()


def test_add_refuses_mismatched_passwords(superuser_client):
    response = superuser_client.post(ADD_URL, add_form(password2="something-Else-42"))

    assert response.status_code == HTTPStatus.OK
    assert "password2" in response.context["adminform"].form.errors
    assert not User.objects.filter(username="newbie").exists()


# --- Changing a user ----------------------------------------------------------------------------


def test_user_page_offers_permissions_and_the_staff_flag(superuser_client, alice):
    fields = set(superuser_client.get(change_url(alice)).context["adminform"].form.fields)

    assert {"is_staff", "is_superuser", "is_active", "groups", "user_permissions"} <= fields


def test_superuser_makes_a_user_staff_with_a_permission(superuser_client, alice):
    response = superuser_client.post(
        change_url(alice),
        change_form(alice, is_staff="on", user_permissions=[permission("view_user").pk]),
    )

    assert response.status_code == HTTPStatus.FOUND
    alice.refresh_from_db()
    assert alice.is_staff
    assert alice.has_perm("users.view_user")


def test_change_refuses_a_username_taken_ignoring_case(superuser_client, alice):
    bob = UserFactory(username="bob", email="bob@example.com")

    response = superuser_client.post(change_url(bob), change_form(bob, username="ALICE"))

    assert response.status_code == HTTPStatus.OK
    assert response.context["adminform"].form.errors
    bob.refresh_from_db()
    assert bob.username == "bob"


def test_user_page_links_to_the_password_change_form(superuser_client, alice):
    content = superuser_client.get(change_url(alice)).content.decode()

    href = re.search(r'<a class="button" href="([^"]+)">Reset password</a>', content)
    assert href, "no password change link"
    assert urljoin(change_url(alice), href.group(1)) == password_url(alice)


def test_password_change_form_sets_the_new_password(superuser_client, alice):
    assert superuser_client.get(password_url(alice)).status_code == HTTPStatus.OK

    response = set_password(superuser_client, alice)

    assert response.status_code == HTTPStatus.FOUND
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)


def test_password_change_form_refuses_mismatched_passwords(superuser_client, alice):
    response = set_password(superuser_client, alice, confirmed_as="something-Else-42")

    assert response.status_code == HTTPStatus.OK
    alice.refresh_from_db()
    assert not alice.check_password(NEW_PASSWORD)


# --- Staff who change users but are not superusers -----------------------------------------------


@pytest.fixture
def user_manager(db: None) -> User:
    """Staff with users.change_user, not a superuser."""
    return UserFactory(username="stan", staff=True, permissions=["view_user", "change_user"])


@pytest.fixture
def user_manager_client(client: Client, user_manager: User) -> Client:
    client.force_login(user_manager)
    return client


def test_superuser_only_fields_are_read_only_for_a_user_manager(user_manager_client, user_manager):
    response = user_manager_client.get(change_url(user_manager))

    assert response.status_code == HTTPStatus.OK
    fields = set(response.context["adminform"].form.fields)
    assert {"is_superuser", "groups", "user_permissions"}.isdisjoint(fields)
    assert "email" in fields


@pytest.mark.parametrize("target", ["user_manager", "alice"])
def test_user_manager_cannot_make_anyone_a_superuser(user_manager_client, request, target):
    user = request.getfixturevalue(target)

    response = user_manager_client.post(
        change_url(user), change_form(user, email="new@example.com", is_superuser="on")
    )

    # The rest of the form is saved; is_superuser is not among what it saves.
    assert response.status_code == HTTPStatus.FOUND
    user.refresh_from_db()
    assert user.email == "new@example.com"
    assert user.is_superuser is False


def test_user_manager_cannot_give_themselves_permissions(user_manager_client, user_manager):
    before = set(user_manager.user_permissions.values_list("pk", flat=True))
    wanted = [permission("delete_user").pk, permission("add_user").pk, *before]

    response = user_manager_client.post(
        change_url(user_manager), change_form(user_manager, user_permissions=wanted)
    )

    assert response.status_code == HTTPStatus.FOUND
    assert set(user_manager.user_permissions.values_list("pk", flat=True)) == before
    assert not User.objects.get(pk=user_manager.pk).has_perm("users.delete_user")


def test_user_manager_cannot_put_themselves_in_a_group(user_manager_client, user_manager):
    admins = Group.objects.create(name="admins")
    admins.permissions.add(permission("delete_user"))

    response = user_manager_client.post(
        change_url(user_manager), change_form(user_manager, groups=[admins.pk])
    )

    assert response.status_code == HTTPStatus.FOUND
    assert not user_manager.groups.exists()


def test_user_manager_cannot_change_a_superusers_account(user_manager_client, superuser):
    response = user_manager_client.post(
        change_url(superuser), change_form(superuser, email="taken-over@example.com")
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    superuser.refresh_from_db()
    assert superuser.email != "taken-over@example.com"
    assert superuser.is_superuser


def test_user_manager_cannot_open_a_superusers_password_form(user_manager_client, superuser):
    assert user_manager_client.get(password_url(superuser)).status_code == HTTPStatus.FORBIDDEN


def test_user_manager_cannot_set_a_superusers_password(user_manager_client, superuser):
    response = set_password(user_manager_client, superuser)

    assert response.status_code == HTTPStatus.FORBIDDEN
    superuser.refresh_from_db()
    assert not superuser.check_password(NEW_PASSWORD)


def test_user_manager_sets_a_non_superusers_password(user_manager_client, alice):
    response = set_password(user_manager_client, alice)

    assert response.status_code == HTTPStatus.FOUND
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)


def test_superuser_makes_a_user_a_superuser_in_a_group(superuser_client, alice):
    admins = Group.objects.create(name="admins")

    response = superuser_client.post(
        change_url(alice), change_form(alice, is_superuser="on", groups=[admins.pk])
    )

    assert response.status_code == HTTPStatus.FOUND
    alice.refresh_from_db()
    assert alice.is_superuser
    assert list(alice.groups.all()) == [admins]


# --- Staff who may only look --------------------------------------------------------------------


def test_view_only_staff_sees_the_changelist(view_only_client, alice):
    response = view_only_client.get(CHANGELIST_URL)

    assert response.status_code == HTTPStatus.OK
    assert "alice" in listed_usernames(response)


def test_view_only_staff_sees_a_user_page_read_only(view_only_client, alice):
    response = view_only_client.get(change_url(alice))

    assert_read_only_page(response, "email")


def test_view_only_staff_cannot_change_a_user(view_only_client, alice):
    response = view_only_client.post(
        change_url(alice), change_form(alice, email="changed@example.com")
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"


def test_view_only_staff_cannot_change_a_password(view_only_client, alice):
    response = set_password(view_only_client, alice)

    assert response.status_code == HTTPStatus.FORBIDDEN
    alice.refresh_from_db()
    assert not alice.check_password(NEW_PASSWORD)


def test_view_only_staff_cannot_add_a_user(view_only_client):
    response = view_only_client.post(ADD_URL, add_form())

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not User.objects.filter(username="newbie").exists()


def test_staff_without_users_permissions_gets_403_on_the_changelist(client):
    client.force_login(UserFactory(staff=True))

    assert client.get(CHANGELIST_URL).status_code == HTTPStatus.FORBIDDEN


@pytest.fixture
def user_remover_client(client: Client) -> Client:
    client.force_login(
        UserFactory(staff=True, permissions=["view_user", "change_user", "delete_user"])
    )
    return client


def test_staff_cannot_delete_a_superuser(user_remover_client, superuser):
    delete_url = reverse("admin:users_user_delete", args=[superuser.pk])

    response = user_remover_client.post(delete_url, {"post": "yes"})

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert User.objects.filter(pk=superuser.pk).exists()


def test_staff_cannot_delete_a_superuser_with_the_bulk_action(
    user_remover_client, superuser, alice
):
    response = user_remover_client.post(
        reverse("admin:users_user_changelist"),
        {"action": "delete_selected", "_selected_action": [superuser.pk, alice.pk], "post": "yes"},
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert User.objects.filter(pk__in=[superuser.pk, alice.pk]).count() == 2


def test_staff_can_delete_an_ordinary_user(user_remover_client, alice):
    delete_url = reverse("admin:users_user_delete", args=[alice.pk])

    response = user_remover_client.post(delete_url, {"post": "yes"})

    assert response.status_code == HTTPStatus.FOUND
    assert not User.objects.filter(pk=alice.pk).exists()
