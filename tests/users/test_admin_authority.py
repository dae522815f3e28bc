"""Staff change users only within their own rights (docs/admin.md, "Staff authority"). With
users.change_user alone: users who are neither staff nor superusers (profile, active flag, password)
and their own profile; never anyone's rights, nor any field or the password of another staff or
superuser account. users.add_user makes users without rights, whatever is forged into the form. Each
rule is tried with forged requests."""

import re
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from apikeys.models import APIKey
from apikeys.services import apikey_issue
from tests.factories import DEFAULT_PASSWORD, UserFactory, permission
from tests.kit import logged_in
from tests.users.admin_pages import (
    ADD_URL,
    CHANGELIST_URL,
    NEW_PASSWORD,
    add_form,
    change_form,
    change_url,
    delete_url,
    password_url,
)
from users.models import User
from users.services import user_save

pytestmark = pytest.mark.django_db


def set_password(client: Client, user: User):
    return client.post(
        password_url(user),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )


def can_log_in(user: User, password: str) -> bool:
    return Client().login(username=user.username, password=password)


@pytest.fixture
def manager(db: None) -> User:
    """Staff whose only right over users is users.change_user."""
    return UserFactory(username="manager", staff=True, permissions=["change_user"])


@pytest.fixture
def manager_client(client: Client, manager: User) -> Client:
    return logged_in(client, manager)


@pytest.fixture
def creator(db: None) -> User:
    """A user who is not staff but holds users.add_user: the one the attack makes staff."""
    return UserFactory(username="creator", permissions=["add_user"])


@pytest.fixture
def colleague(db: None) -> User:
    return UserFactory(username="colleague", staff=True, permissions=["view_user"])


@pytest.fixture
def root(db: None) -> User:
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def alice(db: None) -> User:
    return UserFactory(username="alice", email="alice@example.com")


# --- The attack of the issue: users.change_user raises others -----------------------------------


def test_user_manager_ticking_is_staff_on_a_user_with_add_user_does_not_make_them_staff(
    manager_client, creator
):
    response = manager_client.post(change_url(creator), change_form(creator, is_staff="on"))

    assert response.status_code in (HTTPStatus.FOUND, HTTPStatus.FORBIDDEN)
    creator.refresh_from_db()
    assert not creator.is_staff


def test_user_manager_is_not_offered_the_staff_flag(manager_client, alice):
    fields = manager_client.get(change_url(alice)).context["adminform"].form.fields

    assert {"is_staff", "is_superuser", "groups", "user_permissions"}.isdisjoint(fields)
    assert {"email", "is_active"} <= set(fields)


@pytest.mark.parametrize("target", ["colleague", "root"])
def test_user_manager_cannot_set_another_staff_users_password_and_log_in_as_them(
    manager_client, request, target
):
    user = request.getfixturevalue(target)

    assert manager_client.get(password_url(user)).status_code == HTTPStatus.FORBIDDEN
    assert set_password(manager_client, user).status_code == HTTPStatus.FORBIDDEN
    assert not can_log_in(user, NEW_PASSWORD)
    assert can_log_in(user, DEFAULT_PASSWORD)


@pytest.mark.parametrize("target", ["colleague", "root"])
def test_user_manager_cannot_change_any_field_of_another_staff_user(
    manager_client, request, target
):
    user = request.getfixturevalue(target)

    response = manager_client.post(
        change_url(user), change_form(user, email="taken@example.com", is_active="")
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    user.refresh_from_db()
    assert (user.email, user.is_active) == (f"{user.username}@example.com", True)


def test_user_manager_cannot_deactivate_another_staff_user(manager_client, colleague):
    data = change_form(colleague)
    del data["is_active"]

    assert manager_client.post(change_url(colleague), data).status_code == HTTPStatus.FORBIDDEN
    colleague.refresh_from_db()
    assert colleague.is_active


def test_user_manager_cannot_drop_their_own_staff_flag_or_active_flag(manager_client, manager):
    data = change_form(manager, email="me@example.com")
    del data["is_staff"], data["is_active"]

    response = manager_client.post(change_url(manager), data)

    assert response.status_code == HTTPStatus.FOUND
    manager.refresh_from_db()
    assert (manager.email, manager.is_staff, manager.is_active) == ("me@example.com", True, True)


def test_user_manager_cannot_set_their_own_password_without_the_old_one(manager_client, manager):
    assert set_password(manager_client, manager).status_code == HTTPStatus.FORBIDDEN
    assert can_log_in(manager, DEFAULT_PASSWORD)


def test_user_manager_cannot_give_another_user_permissions_or_groups(manager_client, alice):
    group = Group.objects.create(name="admins")
    group.permissions.add(permission("add_user"))

    manager_client.post(
        change_url(alice),
        change_form(alice, user_permissions=[permission("add_user").pk], groups=[group.pk]),
    )

    alice.refresh_from_db()
    assert not alice.user_permissions.exists()
    assert not alice.groups.exists()


def test_user_manager_changes_a_users_profile_active_flag_and_password(manager_client, alice):
    data = change_form(alice, email="alice@example.org", first_name="Alice")
    del data["is_active"]

    assert manager_client.post(change_url(alice), data).status_code == HTTPStatus.FOUND
    assert set_password(manager_client, alice).status_code == HTTPStatus.FOUND

    alice.refresh_from_db()
    assert (alice.email, alice.first_name, alice.is_active) == ("alice@example.org", "Alice", False)
    assert alice.check_password(NEW_PASSWORD)


# --- The service ---------------------------------------------------------------------------------


def test_user_save_refuses_making_a_user_staff_for_a_non_superuser(manager, creator):
    creator.is_staff = True

    with pytest.raises(PermissionDenied):
        user_save(user=creator, actor=manager)

    creator.refresh_from_db()
    assert not creator.is_staff


def test_user_save_refuses_any_change_to_another_staff_user(manager, colleague):
    colleague.email = "taken@example.com"

    with pytest.raises(PermissionDenied):
        user_save(user=colleague, actor=manager)


def test_user_save_refuses_a_new_password_for_another_staff_user(manager, colleague):
    colleague.set_password(NEW_PASSWORD)

    with pytest.raises(PermissionDenied):
        user_save(user=colleague, actor=manager)

    assert can_log_in(colleague, DEFAULT_PASSWORD)


def test_user_save_refuses_a_new_staff_user_from_a_non_superuser(manager):
    with pytest.raises(PermissionDenied):
        user_save(user=User(username="sneaky", is_staff=True), actor=manager)

    assert not User.objects.filter(username="sneaky").exists()


def test_user_save_by_a_superuser_grants_rights(root, alice):
    alice.is_staff = True

    user_save(user=alice, actor=root)

    alice.refresh_from_db()
    assert alice.is_staff


# --- Adding users: never with rights -------------------------------------------------------------


def test_user_adder_forging_rights_into_the_add_form_makes_a_user_without_them(client):
    # Django's user admin asks for change_user too before it shows the add form.
    adder = UserFactory(staff=True, permissions=["add_user", "change_user", "view_user"])
    client.force_login(adder)
    group = Group.objects.create(name="admins")

    client.post(
        ADD_URL,
        add_form(
            is_staff="on",
            is_superuser="on",
            groups=[group.pk],
            user_permissions=[permission("add_user").pk],
        ),
    )

    created = User.objects.get(username="newbie")
    assert (created.is_staff, created.is_superuser) == (False, False)
    assert not created.groups.exists()
    assert not created.user_permissions.exists()


# --- Deleting users -----------------------------------------------------------------------------


@pytest.fixture
def remover_client(client: Client) -> Client:
    return logged_in(client, UserFactory(staff=True, permissions=["view_user", "delete_user"]))


def test_staff_cannot_delete_another_staff_user(remover_client, colleague):
    response = remover_client.post(delete_url(colleague), {"post": "yes"})

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert User.objects.filter(pk=colleague.pk).exists()


def test_deleting_a_user_with_keys_explains_the_keys_are_kept_for_the_audit_trail(
    remover_client, alice
):
    api_key = apikey_issue(owner=alice, name="ci").api_key

    response = remover_client.get(delete_url(alice))

    content = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    assert "audit trail" in content
    assert "revoked" in content
    assert "permission to delete" not in content
    assert api_key.prefix in content


def test_deleting_a_user_with_keys_keeps_the_user_and_the_keys(remover_client, alice):
    api_key = apikey_issue(owner=alice).api_key

    remover_client.post(delete_url(alice), {"post": "yes"})

    assert User.objects.filter(pk=alice.pk).exists()
    assert APIKey.objects.filter(pk=api_key.pk).exists()


def test_bulk_delete_of_a_user_with_keys_explains_and_deletes_nothing(remover_client, alice):
    apikey_issue(owner=alice)
    bob = UserFactory(username="bob")

    response = remover_client.post(
        CHANGELIST_URL, {"action": "delete_selected", "_selected_action": [alice.pk, bob.pk]}
    )

    assert "audit trail" in response.content.decode()
    assert User.objects.filter(pk__in=[alice.pk, bob.pk]).count() == 2


# --- The user's page: issue a key for this user --------------------------------------------------


def issuer_client(client: Client) -> Client:
    return logged_in(
        client, UserFactory(staff=True, permissions=["view_user", "apikeys.add_apikey"])
    )


def test_user_page_links_to_issue_a_key_for_that_user(client, alice):
    content = issuer_client(client).get(change_url(alice)).content.decode()

    add_url = reverse("admin:apikeys_apikey_add")
    assert f'href="{add_url}?owner={alice.pk}"' in content
    assert "Issue a key for this user" in content


def test_issue_a_key_link_prefills_the_owner(client, alice):
    response = issuer_client(client).get(reverse("admin:apikeys_apikey_add"), {"owner": alice.pk})

    assert response.context["adminform"].form.initial["owner"] == str(alice.pk)
    assert f'<option value="{alice.pk}" selected>' in response.content.decode()


def test_user_page_of_a_staff_user_offers_no_key_to_a_non_superuser(client, colleague):
    content = issuer_client(client).get(change_url(colleague)).content.decode()

    assert "Issue a key for this user" not in content


def test_user_page_lists_keys_with_their_status(client, root, alice):
    active = apikey_issue(owner=alice, name="a").api_key
    client.force_login(root)

    content = client.get(change_url(alice)).content.decode()

    assert active.prefix in content
    status_cell = re.search(r'<td class="field-status">\s*<p>(\w+)</p>', content)
    assert status_cell and status_cell.group(1) == "active"
